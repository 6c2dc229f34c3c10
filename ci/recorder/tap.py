"""A passive HTTP/2 tap: a TCP proxy that forwards bytes unchanged and parses a copy.

Every byte is parsed *before* it is forwarded, so the capture order is causal: anything a peer
sent in reaction to something was logged after it. Frames are read with hyperframe and header
blocks decoded with hpack (one decoder per direction, as HPACK state is per direction); gRPC
messages are cut out of each stream's DATA bytes by their 5-byte prefix. Nothing is re-encoded:
the message bytes recorded are the bytes on the wire.
"""

import socket
import threading

import hpack
from hyperframe import frame as hf

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Stream:
    """One HTTP/2 stream (one gRPC call) as seen on the wire."""

    def __init__(self, conn_id, stream_id):
        self.conn_id = conn_id
        self.stream_id = stream_id
        self.request_headers = None
        self.response_headers = None
        self.trailers = None
        self.trailers_only = False
        # (global order, dir, kind, payload); kind: message, half-close, reset, and the server's
        # headers and trailers (their contents are kept above)
        self.events = []
        self.buffers = {"client": bytearray(), "server": bytearray()}
        self.seq = {"client": 0, "server": 0}
        self.ended = {"client": False, "server": False}

    @property
    def closed(self):
        return self.ended["client"] and self.ended["server"]


class Tap:
    """Listens on 127.0.0.1:0 and proxies every connection to `upstream` (HOST:PORT)."""

    def __init__(self, upstream):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host.strip("[]"), int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addr = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.lock = threading.Condition()
        self.order = 0
        self.streams = []
        self.by_key = {}
        self.errors = []
        self.next_conn = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError as e:
                self.errors.append("cannot reach upstream %s: %s" % (self.upstream, e))
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                conn_id = self.next_conn
                self.next_conn += 1
            decoders = {"client": hpack.Decoder(), "server": hpack.Decoder()}
            for d in decoders.values():
                d.max_header_list_size = 1 << 24
            for src, dst, direction in ((client, server, "client"), (server, client, "server")):
                parser = _FrameParser(self, conn_id, direction, decoders)
                threading.Thread(target=self._pump, args=(src, dst, parser), daemon=True).start()

    def _pump(self, src, dst, parser):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                try:
                    parser.feed(data)
                except Exception as e:  # a capture bug must not hang the call: report it
                    self.errors.append("tap: %s: %r" % (parser.direction, e))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stream(self, conn_id, stream_id):
        key = (conn_id, stream_id)
        if key not in self.by_key:
            s = Stream(conn_id, stream_id)
            self.by_key[key] = s
            self.streams.append(s)
        return self.by_key[key]

    def log(self, stream, direction, kind, payload=None):
        """Appends an event; call with the lock held."""
        stream.events.append((self.order, direction, kind, payload))
        self.order += 1

    def wait_closed(self, since, timeout):
        """Waits until every stream opened after index `since` has ended both ways (or timeout);
        returns those streams."""
        with self.lock:
            self.lock.wait_for(
                lambda: len(self.streams) > since and all(s.closed for s in self.streams[since:]),
                timeout=timeout)
            return list(self.streams[since:])

    def close(self):
        self.listener.close()


class _FrameParser:
    """Parses one direction of one connection."""

    def __init__(self, tap, conn_id, direction, decoders):
        self.tap = tap
        self.conn_id = conn_id
        self.direction = direction
        self.decoders = decoders
        self.buf = bytearray()
        self.preface = direction == "client"
        self.block = None  # (stream_id, end_stream, fragments) while CONTINUATION frames follow

    def feed(self, data):
        self.buf += data
        if self.preface:
            if len(self.buf) < len(PREFACE):
                return
            assert self.buf.startswith(PREFACE), "no HTTP/2 client preface"
            del self.buf[:len(PREFACE)]
            self.preface = False
        while len(self.buf) >= 9:
            frame, length = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                return
            frame.parse_body(memoryview(bytes(self.buf[9:9 + length])))
            del self.buf[:9 + length]
            with self.tap.lock:
                self._frame(frame)
                self.tap.lock.notify_all()

    def _frame(self, frame):
        if isinstance(frame, hf.SettingsFrame):
            size = frame.settings.get(hf.SettingsFrame.HEADER_TABLE_SIZE)
            if size is not None:
                # Our peer's encoder may now use a table this large.
                other = "server" if self.direction == "client" else "client"
                self.decoders[other].max_allowed_table_size = size
        elif isinstance(frame, hf.HeadersFrame):
            self.block = (frame.stream_id, "END_STREAM" in frame.flags, [frame.data])
            if "END_HEADERS" in frame.flags:
                self._headers()
        elif isinstance(frame, hf.ContinuationFrame):
            self.block[2].append(frame.data)
            if "END_HEADERS" in frame.flags:
                self._headers()
        elif isinstance(frame, hf.DataFrame):
            stream = self.tap.stream(self.conn_id, frame.stream_id)
            self._data(stream, frame.data)
            if "END_STREAM" in frame.flags:
                self._end(stream)
        elif isinstance(frame, hf.RstStreamFrame):
            stream = self.tap.stream(self.conn_id, frame.stream_id)
            self.tap.log(stream, self.direction, "reset", frame.error_code)
            stream.ended["client"] = stream.ended["server"] = True

    def _headers(self):
        stream_id, end_stream, fragments = self.block
        self.block = None
        headers = self.decoders[self.direction].decode(b"".join(fragments), raw=True)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        stream = self.tap.stream(self.conn_id, stream_id)
        if self.direction == "client":
            stream.request_headers = headers
        elif stream.response_headers is None and stream.trailers is None and not end_stream:
            stream.response_headers = headers
            self.tap.log(stream, "server", "headers")
        else:
            stream.trailers = headers
            stream.trailers_only = stream.response_headers is None
            self.tap.log(stream, "server", "trailers")
        if end_stream:
            self._end(stream)

    def _data(self, stream, data):
        buf = stream.buffers[self.direction]
        buf.extend(data)
        while len(buf) >= 5:
            length = int.from_bytes(buf[1:5], "big")
            if len(buf) < 5 + length:
                break
            self.tap.log(stream, self.direction, "message", (buf[0], bytes(buf[5:5 + length])))
            del buf[:5 + length]

    def _end(self, stream):
        if self.direction == "client":
            self.tap.log(stream, "client", "half-close")
        stream.ended[self.direction] = True
