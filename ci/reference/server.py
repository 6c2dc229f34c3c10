"""The tutorial's Greeter and RouteGuide servers (grpcio, v1.16.0 examples) on one port.

Usage: server.py [--addr HOST:PORT]. Prints `listening on HOST:PORT` (the real port when
given port 0) once serving; SIGTERM or Ctrl-C stops it cleanly.
"""

import argparse
import signal
import threading
import time
from concurrent import futures

import grpc

import helloworld_pb2
import helloworld_pb2_grpc
import route_guide_db
import route_guide_pb2
import route_guide_pb2_grpc


class Greeter(helloworld_pb2_grpc.GreeterServicer):

    def SayHello(self, request, context):
        return helloworld_pb2.HelloReply(message='Hello, %s!' % request.name)

    def SayHelloAgain(self, request, context):
        return helloworld_pb2.HelloReply(message='Hello again, %s!' % request.name)


class RouteGuideServicer(route_guide_pb2_grpc.RouteGuideServicer):
    """Provides methods that implement functionality of route guide server."""

    def __init__(self):
        self.db = route_guide_db.read_route_guide_database()

    def GetFeature(self, request, context):
        feature = route_guide_db.get_feature(self.db, request)
        if feature is None:
            return route_guide_pb2.Feature(name="", location=request)
        else:
            return feature

    def ListFeatures(self, request, context):
        left = min(request.lo.longitude, request.hi.longitude)
        right = max(request.lo.longitude, request.hi.longitude)
        top = max(request.lo.latitude, request.hi.latitude)
        bottom = min(request.lo.latitude, request.hi.latitude)
        for feature in self.db:
            if (feature.location.longitude >= left and
                    feature.location.longitude <= right and
                    feature.location.latitude >= bottom and
                    feature.location.latitude <= top):
                yield feature

    def RecordRoute(self, request_iterator, context):
        point_count = 0
        feature_count = 0
        distance = 0.0
        prev_point = None

        start_time = time.time()
        for point in request_iterator:
            point_count += 1
            if route_guide_db.get_feature(self.db, point):
                feature_count += 1
            if prev_point:
                distance += route_guide_db.get_distance(prev_point, point)
            prev_point = point

        elapsed_time = time.time() - start_time
        return route_guide_pb2.RouteSummary(point_count=point_count,
                                            feature_count=feature_count,
                                            distance=int(distance),
                                            elapsed_time=int(elapsed_time))

    def RouteChat(self, request_iterator, context):
        prev_notes = []
        for new_note in request_iterator:
            for prev_note in prev_notes:
                if prev_note.location == new_note.location:
                    yield prev_note
            prev_notes.append(new_note)


def start(addr, interceptors=(), max_workers=10):
    """Starts both servicers on ADDR; returns (server, port)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers),
                         interceptors=list(interceptors))
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    route_guide_pb2_grpc.add_RouteGuideServicer_to_server(RouteGuideServicer(), server)
    port = server.add_insecure_port(addr)
    if port == 0:
        raise SystemExit("cannot listen on %s" % addr)
    server.start()
    return server, port


def serve_until_signalled(server, addr, port):
    """Prints `listening on HOST:PORT`, then serves until SIGTERM or Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("listening on %s:%d" % (addr.rsplit(":", 1)[0], port), flush=True)
    while not stop.wait(0.5):
        pass
    # Like the Rust server: in-flight calls get a moment to finish, new ones are refused.
    server.stop(grace=2).wait()


def serve(addr):
    server, port = start(addr)
    serve_until_signalled(server, addr, port)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="[::]:50051", help="HOST:PORT to listen on")
    serve(parser.parse_args().addr)
