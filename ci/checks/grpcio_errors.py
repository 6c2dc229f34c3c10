"""grpcio's client against a server's early errors: the status code each one must surface.

Each check is a call a grpc-core client can make to any tutorial server; the code it reports is
compared with what gRPC says (and grpcio's own server answers). A server that answers an early
error with a split Trailers-Only response (HEADERS carrying grpc-status without END_STREAM,
then an empty DATA frame) makes grpc-core report UNKNOWN "Stream removed" here instead.

  python grpcio_errors.py --addr HOST:PORT [--capped HOST:PORT]

--capped names the same server started with --max-calls 1 (the call cap check needs it).
Prints one line per check and exits 1 if any code differs.
"""

import argparse
import queue
import sys
import threading

import grpc

import helloworld_pb2
import route_guide_pb2

TIMEOUT = 10


def raw_unary(channel, path, payload, timeout=TIMEOUT):
    call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    call(payload, timeout=timeout)


def code_of(fn):
    """The status code `fn` ends with (OK if it returns)."""
    try:
        fn()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def record_route_never_ending(channel):
    """A RecordRoute whose client never ends its stream, with a 300 ms deadline."""
    stop = threading.Event()

    def points():
        yield route_guide_pb2.Point(latitude=1, longitude=2)
        stop.wait(TIMEOUT)

    call = channel.stream_unary("/routeguide.RouteGuide/RecordRoute",
                                request_serializer=route_guide_pb2.Point.SerializeToString,
                                response_deserializer=route_guide_pb2.RouteSummary.FromString)
    try:
        call(points(), timeout=0.3)
    finally:
        stop.set()


def over_the_call_cap(addr):
    """With --max-calls 1: a RouteChat holds the only slot (proved by a reply), then a
    GetFeature must be refused."""
    with grpc.insecure_channel(addr) as channel:
        notes = queue.Queue()

        def outgoing():
            while True:
                note = notes.get()
                if note is None:
                    return
                yield note

        chat = channel.stream_stream("/routeguide.RouteGuide/RouteChat",
                                     request_serializer=route_guide_pb2.RouteNote.SerializeToString,
                                     response_deserializer=route_guide_pb2.RouteNote.FromString)
        replies = chat(outgoing(), timeout=TIMEOUT)
        here = route_guide_pb2.Point(latitude=5, longitude=5)
        notes.put(route_guide_pb2.RouteNote(location=here, message="a"))
        notes.put(route_guide_pb2.RouteNote(location=here, message="b"))
        next(replies)  # the server holds the chat: it answered
        try:
            get = channel.unary_unary("/routeguide.RouteGuide/GetFeature",
                                      request_serializer=route_guide_pb2.Point.SerializeToString,
                                      response_deserializer=route_guide_pb2.Feature.FromString)
            return code_of(lambda: get(route_guide_pb2.Point(latitude=1, longitude=2), timeout=TIMEOUT))
        finally:
            notes.put(None)
            replies.cancel()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--capped")
    args = parser.parse_args()

    big = helloworld_pb2.HelloRequest(name="x" * (5 << 20)).SerializeToString()
    with grpc.insecure_channel(args.addr) as channel:
        checks = [
            ("unknown method", grpc.StatusCode.UNIMPLEMENTED,
             lambda: raw_unary(channel, "/routeguide.RouteGuide/GetFeatures", b"")),
            ("unknown service", grpc.StatusCode.UNIMPLEMENTED,
             lambda: raw_unary(channel, "/routeguide.RouteGuider/GetFeature", b"")),
            ("malformed request", grpc.StatusCode.INTERNAL,
             lambda: raw_unary(channel, "/routeguide.RouteGuide/GetFeature", b"\xff\xff")),
            ("message over 4 MiB", grpc.StatusCode.RESOURCE_EXHAUSTED,
             lambda: raw_unary(channel, "/helloworld.Greeter/SayHello", big)),
            ("deadline while the client streams", grpc.StatusCode.DEADLINE_EXCEEDED,
             lambda: record_route_never_ending(channel)),
        ]
        results = [(what, want) + code_of(fn) for what, want, fn in checks]
    if args.capped:
        results.append(("a call past --max-calls", grpc.StatusCode.RESOURCE_EXHAUSTED)
                       + over_the_call_cap(args.capped))

    failed = 0
    for what, want, got, details in results:
        ok = got == want
        failed += not ok
        print("%-36s %-20s %s%s" % (what, got.name, "pass" if ok else "FAIL, want " + want.name,
                                   "" if ok else " (%r)" % details))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
