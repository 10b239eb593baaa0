"""Helpers for the WebSocket tests (no tests here).

``RawWebSocket`` speaks RFC 6455 over a plain socket and sends exactly the
frames it is told to, masked or not, so that protocol errors can be provoked
and the server's answer observed byte by byte. ``ws_url`` and
``side_json`` are shared by the tests that use the ``websockets`` client.
Every socket has a timeout: a test never hangs on a silent server.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import time

from rawhttp import Closed, RawClient, Response

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def ws_url(srv, path):
    return f"ws://{srv.host}:{srv.port}{path}"


def side_json(srv, name, timeout=5.0):
    """The JSON a ws_app handler wrote into the side directory, once it exists."""
    path = srv.side_file(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return json.loads(f.read())
        time.sleep(0.02)
    raise AssertionError(f"{name} was not written within {timeout} s\n{srv.stderr_text()[-3000:]}")


def handshake_request(path="/echo", key=None, headers=(), host="testserver"):
    """A valid opening handshake unless `headers` override its fields."""
    fields = {
        "Host": host,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key or base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    for name, value in headers:
        fields[name] = value
    lines = [f"GET {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in fields.items() if value is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def encode_frame(opcode, payload=b"", *, fin=True, mask=True, rsv=0, mask_key=None):
    """One frame as a client would send it (masked unless mask=False)."""
    if isinstance(payload, str):
        payload = payload.encode()
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", first, mask_bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return head + key + apply_mask(payload, key)


def apply_mask(payload, key):
    if not payload:
        return b""
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def close_payload(code=None, reason=""):
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode()


class RawWebSocket:
    """A client connection after a successful opening handshake."""

    def __init__(self, srv, path="/echo", headers=(), timeout=5.0):
        self.http = RawClient(srv.host, srv.port, timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.http.send(handshake_request(path, key, headers))
        version, status, reason, fields, raw = self.http.read_head()
        self.response = Response(version, status, reason, fields, b"", raw)
        assert status == 101, f"handshake refused: {raw!r}"
        assert self.response.header("sec-websocket-accept") == accept_key(key)

    @property
    def sock(self):
        return self.http.sock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.http.close()

    def send_frame(self, opcode, payload=b"", **kw):
        self.http.send(encode_frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send_frame(TEXT, text.encode())

    def send_close(self, code=None, reason=""):
        self.send_frame(CLOSE, close_payload(code, reason))

    def recv_frame(self):
        """(fin, rsv, opcode, payload) of the next frame; raises Closed at EOF."""
        b0, b1 = self.http.read_exact(2)
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0x0F
        assert not b1 & 0x80, "server frames must not be masked"
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.http.read_exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self.http.read_exact(8))
        return fin, rsv, opcode, self.http.read_exact(n)

    def recv_message(self, answer_pings=True):
        """(opcode, payload) of the next data or close message, reassembled.
        Pings are answered (or ignored) on the way."""
        opcode, parts = None, []
        while True:
            fin, _, op, payload = self.recv_frame()
            if op == PING:
                if answer_pings:
                    self.send_frame(PONG, payload)
                continue
            if op == PONG:
                continue
            if op == CLOSE:
                return CLOSE, payload
            if op != CONT:
                opcode = op
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)

    def expect_close(self, timeout=5.0):
        """Reads up to the server's close frame: (code, reason); code is None for an
        empty close payload. Data frames before it are skipped."""
        self.sock.settimeout(timeout)
        while True:
            fin, rsv, op, payload = self.recv_frame()
            if op == CLOSE:
                if not payload:
                    return None, ""
                return struct.unpack("!H", payload[:2])[0], payload[2:].decode()

    def expect_eof(self, timeout=5.0):
        """The server closes the TCP connection (after anything already sent)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                self.recv_frame()
        except Closed:
            return
        except ConnectionResetError:
            return


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def wait_listening_stopped(host, port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                pass
        except OSError:
            return True
        time.sleep(0.05)
    return False
