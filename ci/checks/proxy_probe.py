"""The probe client of ci/proxy-live.sh on grpcio: one case of calls, one JSON line per call
({"call", "code", "received", "result"}), the same lines ci/node/probe.js and the Rust probe
(cli/examples/proxy_probe.rs) print.

Usage: proxy_probe.py --addr HOST:PORT CASE, CASE one of
  clean       GetFeature, ListFeatures, RecordRoute, RouteChat as the tutorial makes them
  list        ListFeatures over the tutorial's rectangle
  chat        RouteChat in lock step: note k at one place, then wait for its k-1 replies
              (20 notes, 190 replies), then GetFeature on the same channel
  record-cut  RecordRoute of 5 points left open, ListFeatures on the same connection, then
              RecordRoute half-closed
"""

import argparse
import json
import os
import sys
import threading

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import route_guide_db  # noqa: E402
import route_guide_pb2  # noqa: E402
import route_guide_pb2_grpc  # noqa: E402

TIMEOUT = 20
ROUNDS = 20
RECTANGLE = route_guide_pb2.Rectangle(
    lo=route_guide_pb2.Point(latitude=400000000, longitude=-750000000),
    hi=route_guide_pb2.Point(latitude=420000000, longitude=-730000000))
KNOWN = route_guide_pb2.Point(latitude=409146138, longitude=-746188906)


def report(call, error, received, result):
    code = error.code().name if error is not None else "OK"
    print(json.dumps({"call": call, "code": code, "received": received,
                      "result": None if error is not None else result}), flush=True)


def get_feature(stub):
    try:
        feature = stub.GetFeature(KNOWN, timeout=TIMEOUT)
        report("GetFeature", None, 1, feature.name)
    except grpc.RpcError as error:
        report("GetFeature", error, 0, None)


def list_features(stub):
    names = []
    try:
        for feature in stub.ListFeatures(RECTANGLE, timeout=TIMEOUT):
            names.append(feature.name)
        report("ListFeatures", None, len(names), names)
    except grpc.RpcError as error:
        report("ListFeatures", error, len(names), None)


def record_route(stub, points, between=None):
    """RecordRoute of `points`; with `between`, run once grpc has taken every point (the
    request iterator is asked for one more) and before the half-close."""
    taken = threading.Event()
    finish = threading.Event()

    def requests():
        yield from points
        taken.set()
        if between is not None:
            finish.wait(TIMEOUT)

    future = stub.RecordRoute.future(requests(), timeout=TIMEOUT)
    if between is not None:
        taken.wait(TIMEOUT)
        between()
        finish.set()
    try:
        summary = future.result()
        report("RecordRoute", None, 1, [summary.point_count, summary.feature_count, summary.distance])
    except grpc.RpcError as error:
        report("RecordRoute", error, 0, None)


def route_chat(stub, notes, lock_step):
    got = []
    more = threading.Condition()

    def requests():
        for k, note in enumerate(notes):
            # Lock step: note k+1 goes once the replies to notes 1..k (k choose 2) are in.
            with more:
                more.wait_for(lambda: not lock_step or len(got) >= k * (k - 1) // 2, TIMEOUT)
            yield note

    try:
        for reply in stub.RouteChat(requests(), timeout=TIMEOUT):
            with more:
                got.append(reply.message)
                more.notify_all()
        report("RouteChat", None, len(got), None if lock_step else got)
    except grpc.RpcError as error:
        report("RouteChat", error, len(got), None)


def note(message, latitude, longitude):
    return route_guide_pb2.RouteNote(
        message=message, location=route_guide_pb2.Point(latitude=latitude, longitude=longitude))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("case", choices=["clean", "list", "chat", "record-cut"])
    args = parser.parse_args()
    db = route_guide_db.read_route_guide_database()
    with grpc.insecure_channel(args.addr) as channel:
        stub = route_guide_pb2_grpc.RouteGuideStub(channel)
        if args.case == "clean":
            get_feature(stub)
            list_features(stub)
            record_route(stub, [f.location for f in db[:10]])
            route_chat(stub, [note("First message", 0, 0), note("Second message", 0, 1),
                              note("Third message", 1, 0), note("Fourth message", 0, 0),
                              note("Fifth message", 1, 0)], False)
        elif args.case == "list":
            list_features(stub)
        elif args.case == "chat":
            route_chat(stub, [note("note %d" % (k + 1), 1, 1) for k in range(ROUNDS)], True)
            get_feature(stub)
        else:
            record_route(stub, [f.location for f in db[:5]], lambda: list_features(stub))


if __name__ == "__main__":
    main()
