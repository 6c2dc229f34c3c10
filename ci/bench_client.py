"""The grpcio side of ci/bench.sh: the same closed-loop load as the Rust `loadgen`, made with
grpcio's asyncio API (its fastest client), with requests encoded once and replies left as bytes,
exactly as `loadgen` does. Prints one JSON line in loadgen's format.

Usage: bench_client.py --addr HOST:PORT --kind KIND [--in-flight N] [--connections N]
                       [--warmup-ms MS] [--duration-ms MS] [--call-timeout-s S]

Every call has a deadline (--call-timeout-s, default 10 s), so a call that never ends is an
error reported on stderr, never a hang.
"""

import argparse
import asyncio
import json
import sys
import time

import grpc

import helloworld_pb2
import route_guide_db
import route_guide_pb2

# The workloads of benches/src/calls.rs.
ROUTE_POINTS = 100
CHAT_ROUND_TRIPS = 50
WORLD = route_guide_pb2.Rectangle(
    lo=route_guide_pb2.Point(latitude=-900000000, longitude=-1800000000),
    hi=route_guide_pb2.Point(latitude=900000000, longitude=1800000000),
)
UNITS = {
    "say-hello": "calls",
    "get-feature": "calls",
    "list-features": "messages",
    "record-route": "points",
    "route-chat": "round trips",
}


def identity(b):
    return b


class Caller:
    """Makes one kind of call on one channel; `call()` returns the units it moved."""

    def __init__(self, channel, kind, timeout):
        self.kind = kind
        self.timeout = timeout
        raw = dict(request_serializer=identity, response_deserializer=identity)
        if kind == "say-hello":
            self.stub = channel.unary_unary("/helloworld.Greeter/SayHello", **raw)
            self.request = helloworld_pb2.HelloRequest(name="world").SerializeToString()
        elif kind == "get-feature":
            self.stub = channel.unary_unary("/routeguide.RouteGuide/GetFeature", **raw)
            self.request = route_guide_pb2.Point(latitude=409146138, longitude=-746188906).SerializeToString()
        elif kind == "list-features":
            self.stub = channel.unary_stream("/routeguide.RouteGuide/ListFeatures", **raw)
            self.request = WORLD.SerializeToString()
        elif kind == "record-route":
            self.stub = channel.stream_unary("/routeguide.RouteGuide/RecordRoute", **raw)
            db = route_guide_db.read_route_guide_database()
            self.route = [db[i % len(db)].location.SerializeToString() for i in range(ROUTE_POINTS)]
        elif kind == "route-chat":
            self.stub = channel.stream_stream("/routeguide.RouteGuide/RouteChat", **raw)
            self.chat = []
            for i in range(CHAT_ROUND_TRIPS):
                location = route_guide_pb2.Point(latitude=i, longitude=-i)
                self.chat.append((
                    route_guide_pb2.RouteNote(location=location, message="note %d" % i).SerializeToString(),
                    route_guide_pb2.RouteNote(location=location, message="again %d" % i).SerializeToString(),
                ))
        else:
            raise SystemExit("unknown kind %r" % kind)

    async def call(self):
        if self.kind in ("say-hello", "get-feature"):
            await self.stub(self.request, timeout=self.timeout)
            return 1
        if self.kind == "list-features":
            n = 0
            async for _ in self.stub(self.request, timeout=self.timeout):
                n += 1
            return n
        if self.kind == "record-route":
            await self.stub(iter(self.route), timeout=self.timeout)
            return len(self.route)
        call = self.stub(timeout=self.timeout)
        for first, second in self.chat:
            await call.write(first)
            await call.write(second)
            if await call.read() is grpc.aio.EOF:
                raise RuntimeError("chat ended early")
        await call.done_writing()
        if await call.read() is not grpc.aio.EOF:
            raise RuntimeError("more chat replies than round trips")
        return CHAT_ROUND_TRIPS


async def run(args):
    connections = max(1, min(args.connections or -(-args.in_flight // 8), args.in_flight))
    # A local subchannel pool per channel: one TCP connection each, as loadgen opens.
    channels = [
        grpc.aio.insecure_channel(args.addr, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(connections)
    ]
    for channel in channels:
        await asyncio.wait_for(channel.channel_ready(), 10)
    callers = [
        Caller(channels[i % connections], args.kind, args.call_timeout_s) for i in range(args.in_flight)
    ]
    counts = {"calls": 0, "units": 0, "errors": 0}
    stop = False

    async def lane(index, caller):
        while not stop:
            try:
                units = await caller.call()
            except (grpc.RpcError, RuntimeError) as error:
                counts["errors"] += 1
                if counts["errors"] <= 5:
                    detail = "%s %s" % (error.code(), error.details()) if isinstance(error, grpc.RpcError) else error
                    print("bench_client: lane %d (connection %d): %s" % (index, index % connections, detail),
                          file=sys.stderr, flush=True)
                continue
            counts["calls"] += 1
            counts["units"] += units

    tasks = [asyncio.create_task(lane(i, c)) for i, c in enumerate(callers)]
    await asyncio.sleep(args.warmup_ms / 1000)
    before = dict(counts)
    start = time.perf_counter()
    await asyncio.sleep(args.duration_ms / 1000)
    after = dict(counts)
    elapsed = time.perf_counter() - start
    stop = True
    await asyncio.gather(*tasks)
    for channel in channels:
        await channel.close()
    calls = after["calls"] - before["calls"]
    units = after["units"] - before["units"]
    errors = after["errors"] - before["errors"]
    print(json.dumps({
        "kind": args.kind, "unit": UNITS[args.kind], "in_flight": args.in_flight,
        "connections": connections, "calls": calls, "units": units, "errors": errors,
        "seconds": elapsed, "calls_per_sec": calls / elapsed, "units_per_sec": units / elapsed,
    }), flush=True)
    return 0 if errors == 0 and calls > 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", required=True)
    parser.add_argument("--kind", required=True, choices=sorted(UNITS))
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--connections", type=int, default=0)
    parser.add_argument("--warmup-ms", type=int, default=500)
    parser.add_argument("--duration-ms", type=int, default=3000)
    parser.add_argument("--call-timeout-s", type=float, default=10.0)
    sys.exit(asyncio.run(run(parser.parse_args())))
