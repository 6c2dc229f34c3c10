"""The tutorial's route guide client: GetFeature x2, ListFeatures, RecordRoute, RouteChat.

Output is the tutorial's, byte for byte (messages print as protobuf text format). --seed
fixes the random route; --no-pause skips the 0.5-1.5 s pauses between RecordRoute points
(the pause lengths are still drawn, so the route depends on the seed alone).
"""

import argparse
import random
import time

import grpc

import route_guide_db
import route_guide_pb2
import route_guide_pb2_grpc


def make_route_note(message, latitude, longitude):
    return route_guide_pb2.RouteNote(
        message=message,
        location=route_guide_pb2.Point(latitude=latitude, longitude=longitude))


def guide_get_one_feature(stub, point):
    feature = stub.GetFeature(point)
    if not feature.location:
        print("Server returned incomplete feature")
        return

    if feature.name:
        print("Feature called %s at %s" % (feature.name, feature.location))
    else:
        print("Found no feature at %s" % feature.location)


def guide_get_feature(stub):
    guide_get_one_feature(
        stub, route_guide_pb2.Point(latitude=409146138, longitude=-746188906))
    guide_get_one_feature(stub, route_guide_pb2.Point(latitude=0, longitude=0))


def guide_list_features(stub):
    rectangle = route_guide_pb2.Rectangle(
        lo=route_guide_pb2.Point(latitude=400000000, longitude=-750000000),
        hi=route_guide_pb2.Point(latitude=420000000, longitude=-730000000))
    print("Looking for features between 40, -75 and 42, -73")

    features = stub.ListFeatures(rectangle)

    for feature in features:
        print("Feature called %s at %s" % (feature.name, feature.location))


def generate_route(feature_list, pause):
    for i in range(0, 10):
        random_feature = feature_list[random.randint(0, len(feature_list) - 1)]
        print("Visiting point %s" % random_feature.location)
        yield random_feature.location
        delay = random.uniform(0.5, 1.5)
        if pause and i < 9:
            time.sleep(delay)


def guide_record_route(stub, pause):
    feature_list = route_guide_db.read_route_guide_database()

    route_iterator = generate_route(feature_list, pause)
    route_summary = stub.RecordRoute(route_iterator)
    print("Finished trip with %s points " % route_summary.point_count)
    print("Passed %s features " % route_summary.feature_count)
    print("Travelled %s meters " % route_summary.distance)
    print("It took %s seconds " % route_summary.elapsed_time)


def generate_messages():
    messages = [
        make_route_note("First message", 0, 0),
        make_route_note("Second message", 0, 1),
        make_route_note("Third message", 1, 0),
        make_route_note("Fourth message", 0, 0),
        make_route_note("Fifth message", 1, 0),
    ]
    for msg in messages:
        # grpcio runs this generator on its own thread while guide_route_chat prints replies:
        # one write per line (end="") keeps the two threads from splitting each other's lines.
        print("Sending %s at %s\n" % (msg.message, msg.location), end="")
        yield msg


def guide_route_chat(stub):
    responses = stub.RouteChat(generate_messages())
    for response in responses:
        print("Received message %s at %s\n" % (response.message, response.location), end="")


def run(addr, pause):
    with grpc.insecure_channel(addr) as channel:
        stub = route_guide_pb2_grpc.RouteGuideStub(channel)
        print("-------------- GetFeature --------------")
        guide_get_feature(stub)
        print("-------------- ListFeatures --------------")
        guide_list_features(stub)
        print("-------------- RecordRoute --------------")
        guide_record_route(stub, pause)
        print("-------------- RouteChat --------------")
        guide_route_chat(stub)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="localhost:50051", help="server HOST:PORT")
    parser.add_argument("--seed", type=int, default=None, help="seed for Python's random")
    parser.add_argument("--no-pause", action="store_true",
                        help="skip the pauses between RecordRoute points")
    args = parser.parse_args()
    if args.seed is not None:
        random.seed(args.seed)
    run(args.addr, not args.no_pause)
