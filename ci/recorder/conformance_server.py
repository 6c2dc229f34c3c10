"""The grpcio reference server as the conformance suite runs it: the tutorial's servicers
(ci/reference/server.py) plus the abort hook.

The abort hook is not service semantics, it is how the suite gets a server to send a status of
its choosing: a call whose metadata carries `faultline-abort-code` (a status code number) and
`faultline-abort-message-bin` (UTF-8 text) is answered with that status before its handler
runs. The Rust conformance server (faultline_conformance::server) has the same hook.

Usage: conformance_server.py [--addr HOST:PORT]; prints `listening on HOST:PORT` once serving.
"""

import argparse
import os
import sys

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))

import server as reference  # noqa: E402

ABORT_CODE = "faultline-abort-code"
ABORT_MESSAGE = "faultline-abort-message-bin"


class AbortHook(grpc.ServerInterceptor):
    """Answers a call carrying the abort metadata with that status."""

    def intercept_service(self, continuation, handler_call_details):
        metadata = dict(handler_call_details.invocation_metadata or ())
        if ABORT_CODE not in metadata:
            return continuation(handler_call_details)
        number = int(metadata[ABORT_CODE])
        code = next(c for c in grpc.StatusCode if c.value[0] == number)
        message = metadata.get(ABORT_MESSAGE, b"").decode("utf-8")
        handler = continuation(handler_call_details)

        def abort(_request_or_iterator, context):
            context.abort(code, message)

        if handler is None:
            return None
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(
                abort, handler.request_deserializer, handler.response_serializer)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(
                abort, handler.request_deserializer, handler.response_serializer)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                abort, handler.request_deserializer, handler.response_serializer)
        return grpc.unary_unary_rpc_method_handler(
            abort, handler.request_deserializer, handler.response_serializer)


def start(addr):
    """Starts the server; returns (server, port)."""
    return reference.start(addr, interceptors=[AbortHook()], max_workers=16)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:0", help="HOST:PORT to listen on")
    addr = parser.parse_args().addr
    server, port = start(addr)
    reference.serve_until_signalled(server, addr, port)


if __name__ == "__main__":
    main()
