"""Records conformance transcripts: runs every case of conformance/cases.toml with a grpcio
client through a capturing HTTP/2 tap and writes one JSON line per call to OUT/<case>.jsonl.

By default the server is the grpcio reference (conformance_server.py, started in-process);
--target records against another server instead (CI points it at the Rust server, then
compares those transcripts with the committed ones). Message bytes, headers and trailers come
from the wire (the tap); the status is the one grpcio's client reported (`source` says whether
the server sent it in trailers or the client made it up: a deadline, a cancel).

Usage: record.py [--out DIR] [--target HOST:PORT] [--case ID ...] [--no-expect]
"""

import argparse
import base64
import json
import os
import random
import sys
import threading
import tomllib
import zlib

import grpc
from google.protobuf import json_format

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "ci", "reference"))

import conformance_server  # noqa: E402
import helloworld_pb2  # noqa: E402
import route_guide_db  # noqa: E402
import route_guide_pb2  # noqa: E402
from tap import Tap  # noqa: E402

SCHEMA_VERSION = 1
# Messages longer than this are stored zlib-compressed (the 1 MiB and 4 MiB cases), and JSON
# strings longer than JSON_STRING_LIMIT are abbreviated: the bytes are the record, JSON is a view.
COMPRESS_OVER = 64 * 1024
JSON_STRING_LIMIT = 256

# path -> (call type, request class, response class)
METHODS = {
    "/helloworld.Greeter/SayHello":
        ("unary", helloworld_pb2.HelloRequest, helloworld_pb2.HelloReply),
    "/helloworld.Greeter/SayHelloAgain":
        ("unary", helloworld_pb2.HelloRequest, helloworld_pb2.HelloReply),
    "/routeguide.RouteGuide/GetFeature":
        ("unary", route_guide_pb2.Point, route_guide_pb2.Feature),
    "/routeguide.RouteGuide/ListFeatures":
        ("server-streaming", route_guide_pb2.Rectangle, route_guide_pb2.Feature),
    "/routeguide.RouteGuide/RecordRoute":
        ("client-streaming", route_guide_pb2.Point, route_guide_pb2.RouteSummary),
    "/routeguide.RouteGuide/RouteChat":
        ("bidi-streaming", route_guide_pb2.RouteNote, route_guide_pb2.RouteNote),
}

RST_NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
             5: "STREAM_CLOSED", 7: "REFUSED_STREAM", 8: "CANCEL", 11: "ENHANCE_YOUR_CALM"}


class RecordError(Exception):
    pass


def expand(value):
    """Expands `{repeat = s, times = n}` string templates inside a request's JSON."""
    if isinstance(value, dict):
        if set(value) == {"repeat", "times"}:
            return value["repeat"] * value["times"]
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


def tutorial_route(seed):
    """route_guide_client.py's generate_route with --seed SEED --no-pause."""
    rng = random.Random(seed)
    features = route_guide_db.read_route_guide_database()
    points = []
    for _ in range(10):
        points.append(features[rng.randint(0, len(features) - 1)].location)
        rng.uniform(0.5, 1.5)  # the pause is still drawn, as in the tutorial client
    return [p.SerializeToString() for p in points]


def request_bytes(case_id, call, request_class):
    if "raw_requests" in call:
        return [base64.b64decode(r) for r in call["raw_requests"]]
    if "tutorial_route" in call:
        return tutorial_route(call["tutorial_route"])
    if request_class is None:
        raise RecordError("%s: %s is not a known method; give raw_requests" % (case_id, call["method"]))
    return [json_format.ParseDict(expand(r), request_class()).SerializeToString()
            for r in call.get("requests", [])]


def metadata_of(call):
    out = []
    for name, value in call.get("metadata", []):
        out.append((name, base64.b64decode(value) if name.endswith("-bin") else value))
    return out


class Requests:
    """A request iterator for grpcio; with half_close false it blocks after the last request
    until the call is over, so the client never ends its stream."""

    def __init__(self, requests, half_close):
        self.requests = requests
        self.half_close = half_close
        self.done = threading.Event()

    def __iter__(self):
        yield from self.requests
        if not self.half_close:
            self.done.wait()


def run_call(channel, call, call_type, requests):
    """Runs one call; returns (status code, details)."""
    method = call["method"]
    md = metadata_of(call)
    timeout = call["deadline_ms"] / 1000 if "deadline_ms" in call else None
    cancel_after = call.get("cancel_after_responses")
    source = Requests(requests, call.get("half_close", True))
    try:
        if call_type in ("unary", "client-streaming"):
            if call_type == "unary":
                if len(requests) != 1:
                    raise RecordError("%s: a unary call takes one request" % method)
                mc = channel.unary_unary(method)
                arg = requests[0]
            else:
                mc = channel.stream_unary(method)
                arg = iter(source)
            try:
                _, rpc = mc.with_call(arg, metadata=md, timeout=timeout)
                return rpc.code(), rpc.details()
            except grpc.RpcError as e:
                return e.code(), e.details()
        if call_type == "server-streaming":
            if len(requests) != 1:
                raise RecordError("%s: a server-streaming call takes one request" % method)
            rpc = channel.unary_stream(method)(requests[0], metadata=md, timeout=timeout)
        else:
            rpc = channel.stream_stream(method)(iter(source), metadata=md, timeout=timeout)
        received = 0
        try:
            for _ in rpc:
                received += 1
                if cancel_after is not None and received >= cancel_after:
                    rpc.cancel()
                    break
        except grpc.RpcError:
            pass
        return rpc.code(), rpc.details()
    finally:
        source.done.set()


def header_list(headers):
    return None if headers is None else [[k, v] for k, v in headers]


def abbreviate(value):
    if isinstance(value, dict):
        return {k: abbreviate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [abbreviate(v) for v in value]
    if isinstance(value, str) and len(value) > JSON_STRING_LIMIT:
        return "%s... (%d characters)" % (value[:32], len(value))
    return value


def message_event(direction, seq, compressed, data, message_class):
    event = {"dir": direction, "seq": seq, "kind": "message", "compressed": bool(compressed),
             "len": len(data)}
    if len(data) > COMPRESS_OVER:
        event["zlib_b64"] = base64.b64encode(zlib.compress(data, 9)).decode()
    else:
        event["b64"] = base64.b64encode(data).decode()
    if message_class is None:
        event["json"] = None
    else:
        try:
            message = message_class.FromString(data)
            event["json"] = abbreviate(json_format.MessageToDict(
                message, preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True))
        except Exception as e:  # malformed bytes are a case, not an error
            event["json"] = None
            event["decode_error"] = str(e) or type(e).__name__
    return event


def transcript_line(case_id, index, call, call_type, stream, code, details):
    _, request_class, response_class = METHODS.get(call["method"], (None, None, None))
    events = []
    seq = {"client": 0, "server": 0}
    for _, direction, kind, payload in sorted(stream.events, key=lambda e: e[0]):
        if kind == "message":
            cls = request_class if direction == "client" else response_class
            events.append(message_event(direction, seq[direction], payload[0], payload[1], cls))
        elif kind in ("half-close", "headers", "trailers"):
            events.append({"dir": direction, "seq": seq[direction], "kind": kind})
        else:
            events.append({"dir": direction, "seq": seq[direction], "kind": "reset",
                           "error_code": payload, "error": RST_NAMES.get(payload, str(payload))})
        seq[direction] += 1
    wire_status = dict(stream.trailers or []).get("grpc-status")
    source = "server" if wire_status is not None and int(wire_status) == code.value[0] else "client"
    return {
        "schema_version": SCHEMA_VERSION,
        "case_id": case_id,
        "call": index,
        "grpcio_version": grpc.__version__,
        "method": call["method"],
        "call_type": call_type,
        "deadline_ms": call.get("deadline_ms"),
        "request_metadata": [[k, v] for k, v in call.get("metadata", [])],
        "request_headers": header_list(stream.request_headers),
        "response_headers": header_list(stream.response_headers),
        "events": events,
        "status": {"code": code.value[0], "name": code.name, "message": details or "",
                   "source": source},
        "trailers": header_list(stream.trailers) or [],
        "trailers_only": stream.trailers_only,
    }


def record_case(tap, case):
    lines = []
    for index, call in enumerate(case["call"]):
        call_type, request_class, _ = METHODS.get(call["method"], ("unary", None, None))
        call_type = call.get("call_type", call_type)
        requests = request_bytes(case["id"], call, request_class)
        since = len(tap.streams)
        # A channel of its own (and no shared subchannel) gives every call its own connection.
        with grpc.insecure_channel(tap.addr, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
            code, details = run_call(ch, call, call_type, requests)
            streams = tap.wait_closed(since, timeout=10)
        if len(streams) != 1:
            raise RecordError("%s call %d: expected one HTTP/2 stream on the wire, saw %d"
                              % (case["id"], index, len(streams)))
        if not streams[0].closed:
            raise RecordError("%s call %d: the stream did not end within 10 s" % (case["id"], index))
        lines.append(transcript_line(case["id"], index, call, call_type, streams[0], code, details))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=os.path.join(ROOT, "conformance", "cases.toml"))
    parser.add_argument("--out", default=os.path.join(ROOT, "conformance", "transcripts"))
    parser.add_argument("--target", help="record against this server instead of grpcio's")
    parser.add_argument("--case", action="append", help="only this case (repeatable)")
    parser.add_argument("--no-expect", action="store_true",
                        help="do not fail when a call's status is not the case's `expect`")
    args = parser.parse_args()

    with open(args.cases, "rb") as f:
        cases = tomllib.load(f)["case"]
    if args.case:
        unknown = set(args.case) - {c["id"] for c in cases}
        if unknown:
            raise SystemExit("record: unknown case(s): %s" % ", ".join(sorted(unknown)))
        cases = [c for c in cases if c["id"] in args.case]

    server = None
    target = args.target
    if target is None:
        server, port = conformance_server.start("127.0.0.1:0")
        target = "127.0.0.1:%d" % port
    tap = Tap(target)
    os.makedirs(args.out, exist_ok=True)
    failures = []
    try:
        for case in cases:
            try:
                lines = record_case(tap, case)
            except RecordError as e:
                failures.append(str(e))
                continue
            for line, call in zip(lines, case["call"]):
                expect = call.get("expect", "OK")
                if not args.no_expect and line["status"]["name"] != expect:
                    failures.append("%s call %d: expected %s, grpcio's client saw %s %r" % (
                        case["id"], line["call"], expect, line["status"]["name"],
                        line["status"]["message"]))
            path = os.path.join(args.out, case["id"] + ".jsonl")
            with open(path, "w", encoding="utf-8") as f:
                for line in lines:
                    f.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
            print("record: %-32s %d call(s), %s" % (
                case["id"], len(lines), ", ".join(l["status"]["name"] for l in lines)))
    finally:
        tap.close()
        if server is not None:
            server.stop(grace=None)
    failures += tap.errors
    if failures:
        for f in failures:
            print("record: FAILED " + f, file=sys.stderr)
        sys.exit(1)
    print("record: %d case(s) written to %s" % (len(cases), args.out))


if __name__ == "__main__":
    main()
