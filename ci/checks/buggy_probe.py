"""grpcio's client against `faultline buggy-server`: one JSON line per case and method.

Each case runs on a fresh channel: the call (GetFeature at the tutorial's first point, or
ListFeatures over the tutorial's rectangle) with `faultline-case` metadata choosing the case,
then a clean GetFeature on the same channel (does the channel recover?). Prints, per call,
{case, method, code, details, received, next} with the keys in that order, the format of
buggy/grpcio.jsonl (the Rust side's `Outcome`).

usage: buggy_probe.py --addr HOST:PORT CASE...
"""

import argparse
import json

import grpc

import route_guide_pb2
import route_guide_pb2_grpc

TIMEOUT = 10  # seconds, as the tonic probe's CALL_TIMEOUT
POINT = route_guide_pb2.Point(latitude=409146138, longitude=-746188906)
RECTANGLE = route_guide_pb2.Rectangle(
    lo=route_guide_pb2.Point(latitude=400000000, longitude=-750000000),
    hi=route_guide_pb2.Point(latitude=420000000, longitude=-730000000))


def call(stub, case, method):
    """Returns (code name, details, messages received) of one call."""
    metadata = [("faultline-case", case)]
    received = 0
    try:
        if method == "GetFeature":
            # grpcio returns None, not an error, for a unary response without a message.
            if stub.GetFeature(POINT, metadata=metadata, timeout=TIMEOUT) is not None:
                received = 1
        else:
            for _ in stub.ListFeatures(RECTANGLE, metadata=metadata, timeout=TIMEOUT):
                received += 1
    except grpc.RpcError as error:
        return error.code().name, error.details() or "", received
    return "OK", "", received


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("cases", nargs="+")
    args = parser.parse_args()
    for case in args.cases:
        for method in ("GetFeature", "ListFeatures"):
            with grpc.insecure_channel(args.addr) as channel:
                stub = route_guide_pb2_grpc.RouteGuideStub(channel)
                code, details, received = call(stub, case, method)
                following, _, _ = call(stub, "clean", "GetFeature")
            print(json.dumps({"case": case, "method": method, "code": code, "details": details,
                              "received": received, "next": following}), flush=True)


if __name__ == "__main__":
    main()
