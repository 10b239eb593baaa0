"""A tiny HTTP/1.1 client over a raw socket, for byte-level assertions.

It sends exactly the bytes it is given and parses responses by hand, so that
malformed requests, pipelining and connection closes can be observed
precisely. Every socket has a timeout: a test never hangs on a silent server.
"""

import json
import os
import re
import socket
import time

TIMEOUT = 5.0

IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT$"
)


class Closed(Exception):
    """The server closed the connection before a complete response."""


class Response:
    def __init__(self, version, status, reason, headers, body, raw):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(lower-case name, value)] as str, in order
        self.body = body
        self.raw = raw  # the response's bytes as received (head and body)

    def header(self, name):
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def header_all(self, name):
        return [v for n, v in self.headers if n == name]

    def has_token(self, name, token):
        """Whether a comma-separated header (e.g. connection) holds token."""
        for value in self.header_all(name):
            if token in [t.strip().lower() for t in value.split(",")]:
                return True
        return False

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} {self.body[:200]!r}>"


class RawClient:
    def __init__(self, host, port, timeout=TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, size=65536):
        """Reads once more; False at end of stream (FIN or reset)."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(size)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _take(self, n):
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise Closed(f"closed inside a line; got {self.buf!r}")
        i = self.buf.index(b"\r\n")
        return self._take(i + 2)

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise Closed(f"closed after {len(self.buf)} of {n} bytes")
        return self._take(n)

    def read_head(self):
        """Reads a status line and its fields: (version, status, reason, headers, raw)."""
        raw = self.read_line()
        parts = raw.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError(f"not a status line: {raw!r}")
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            line = self.read_line()
            raw += line
            if line == b"\r\n":
                break
            name, sep, value = line.decode("latin-1").partition(":")
            assert sep and name == name.strip(), f"bad response field line {line!r}"
            headers.append((name.lower(), value.strip()))
        return version, status, reason, headers, raw

    def read_response(self, method="GET"):
        """Reads one response (a 1xx counts as one) and decodes its body."""
        version, status, reason, headers, raw = self.read_head()
        resp = Response(version, status, reason, headers, b"", raw)
        if method == "HEAD" or status in (204, 304) or status < 200:
            return resp
        te = resp.header("transfer-encoding")
        length = resp.header("content-length")
        if te is not None:
            assert te.lower() == "chunked", f"unexpected transfer-encoding {te!r}"
            body = b""
            while True:
                line = self.read_line()
                raw += line
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:  # trailers
                        line = self.read_line()
                        raw += line
                        if line == b"\r\n":
                            break
                    break
                data = self.read_exact(size + 2)
                raw += data
                assert data.endswith(b"\r\n"), f"chunk not followed by CRLF: {data[-10:]!r}"
                body += data[:-2]
        elif length is not None:
            body = self.read_exact(int(length))
            raw += body
        else:
            body = self.read_until_close()
            raw += body
        resp.body, resp.raw = body, raw
        return resp

    def read_until_close(self):
        """Everything until the server closes (fails on timeout)."""
        while self._fill():
            pass
        return self._take(len(self.buf))

    def assert_closed(self):
        """The server closes with nothing more to say."""
        if self.buf:
            raise AssertionError(f"unexpected bytes before close: {self.buf[:200]!r}")
        try:
            more = self._fill()
        except socket.timeout:
            raise AssertionError("connection still open (timed out waiting for close)") from None
        assert not more, f"unexpected bytes instead of close: {self.buf[:200]!r}"

    def assert_open(self, wait=0.3):
        """Nothing arrives and the connection is not closed within `wait` seconds."""
        assert not self.buf, f"unexpected bytes: {self.buf[:200]!r}"
        self.sock.settimeout(wait)
        try:
            more = self._fill()
        except socket.timeout:
            return
        finally:
            self.sock.settimeout(TIMEOUT)
        if more:
            raise AssertionError(f"unexpected bytes: {self.buf[:200]!r}")
        raise AssertionError("connection was closed")


def request(method, target, headers=(), body=b"", version="HTTP/1.1", host="testserver"):
    """Serializes a request. Content-Length is added for a non-empty body
    unless the headers already frame it."""
    lines = [f"{method} {target} {version}"]
    names = {name.lower() for name, _ in headers}
    if host is not None and "host" not in names:
        lines.append(f"Host: {host}")
    for name, value in headers:
        lines.append(f"{name}: {value}")
    if body and not names & {"content-length", "transfer-encoding"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def wait_for_file(path, timeout=3.0):
    """The content of a marker file the app writes, once it exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return f.read()
        time.sleep(0.02)
    raise AssertionError(f"{os.path.basename(path)} was not written within {timeout} s")


def unbytes(obj):
    """Reverses testapp.jsonable: {"__bytes__": s} back to bytes."""
    if isinstance(obj, dict):
        if set(obj) == {"__bytes__"}:
            return obj["__bytes__"].encode("latin-1")
        return {k: unbytes(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unbytes(v) for v in obj]
    return obj


def big_chunk(i, size=65536):
    """Same as testapp.big_chunk."""
    return i.to_bytes(8, "big") * (size // 8)
