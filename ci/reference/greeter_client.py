"""The tutorial's Greeter client: SayHello and SayHelloAgain for `you`."""

import argparse

import grpc

import helloworld_pb2
import helloworld_pb2_grpc


def run(addr):
    with grpc.insecure_channel(addr) as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        response = stub.SayHello(helloworld_pb2.HelloRequest(name='you'))
        print("Greeter client received: " + response.message)
        response = stub.SayHelloAgain(helloworld_pb2.HelloRequest(name='you'))
        print("Greeter client received: " + response.message)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addr", default="localhost:50051", help="server HOST:PORT")
    run(parser.parse_args().addr)
