#!/usr/bin/env python3
"""pyre-http soak test: about a million requests of mixed traffic against one server.

    python3 benchmarks/soak.py                                   # pyre-http, 1,000,000 requests
    python3 benchmarks/soak.py --server uvicorn                  # the same load against uvicorn
    python3 benchmarks/soak.py --server pyre-http,uvicorn        # one after the other, one report
    python3 benchmarks/soak.py --requests 100000                 # quick check (checkpoints every 20k)

One server (one worker, pinned to CPU 1, started and stopped as
benchmarks/run.py does) runs benchmarks/apps/bench_soak.py. This process is
the client (asyncio, pinned to CPU 0): workers, each looping over one kind of
traffic: keep-alive GETs, pipelined batches of 16, chunked and sized uploads
echoed back, streamed downloads, WebSocket echo sessions, clients that reset
mid-body and mid-response, and requests to routes that raise at every step.
Every answer is checked; the deliberate failures (500, a response cut off, a
WebSocket closed 1011) are expected outcomes, anything else is an unexpected
error. The server's log is scanned afterwards: tracebacks other than the
app's deliberate SoakError are unexpected errors too.

RSS and open descriptors of the server are sampled at start, after a warm-up
(all clients closed, a quiet pause: the baseline), every 100k requests, and at
the end (all clients closed, the same pause). Targets: RSS growth from the
baseline to the end under 16 MiB, descriptors back to the baseline, zero
unexpected errors. The report goes to benchmarks/results/soak-<stamp>.{md,json};
the exit status is 1 when a target is missed. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as _dt
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import sys
import time
from collections import Counter
from pathlib import Path

import run as bench  # benchmarks/run.py: server commands, process groups, /proc sampling

HERE = Path(__file__).resolve().parent
APP = "bench_soak:app"

RSS_GROWTH_LIMIT_MIB = 16
QUIET_SECONDS = 2.0  # pause after the clients closed, before the baseline and end samples
SETTLE_SECONDS = 30.0  # how long to keep watching descriptors that did not come back
UNIT_TIMEOUT = 20.0  # one connection's worth of work; longer is a hung server

HELLO = b"Hello, world!"
PIPELINE_DEPTH = 16
KEEPALIVE_REUSE = 200  # requests per keep-alive connection (the last says Connection: close)
PIPELINED_REUSE = 50  # batches per pipelined connection
UPLOADS_PER_CONN = 20
DOWNLOADS_PER_CONN = 10
WS_MESSAGES = 16  # per WebSocket session, sent WS_WINDOW at a time
WS_WINDOW = 4

# --------------------------------------------------------------------------
# the tally: every request ends as ok, an expected failure or an unexpected one


class Tally:
    def __init__(self, target: int, every: int | None, on_mark=None):
        self.target = target
        self.requests = 0
        self.running = True
        self.outcomes: Counter = Counter()  # (kind, outcome, expected) -> requests
        self.examples: dict = {}  # (kind, outcome) -> first few details of unexpected ones
        self.every = every
        self.next_mark = every or 0
        self.on_mark = on_mark

    def count(self, kind: str, outcome: str = "ok", expected: bool = True, n: int = 1, detail: str = "") -> None:
        self.outcomes[(kind, outcome, expected)] += n
        if not expected:
            examples = self.examples.setdefault((kind, outcome), [])
            if len(examples) < 5:
                examples.append(detail or outcome)
        self.requests += n
        if self.every and self.requests >= self.next_mark:
            mark, self.next_mark = self.next_mark, self.next_mark + self.every
            if self.on_mark:
                self.on_mark(mark, self.requests)  # a quick synchronous /proc read
        if self.requests >= self.target:
            self.running = False


class Unexpected(Exception):
    """An answer that is wrong for its route: its message names the outcome
    (few distinct values, so they can be counted); `detail` has the data."""

    def __init__(self, outcome: str, detail: str = ""):
        super().__init__(outcome)
        self.outcome, self.detail = outcome, detail


def expect(condition: bool, outcome: str, detail: str = "") -> None:
    if not condition:
        raise Unexpected(outcome, detail)


# --------------------------------------------------------------------------
# HTTP/1.1 client on asyncio streams


class CutOff(Exception):
    """The server ended the connection inside a response: `how` is "EOF" or "reset"."""

    def __init__(self, how: str, status: int | None):
        super().__init__(f"cut off ({how})")
        self.how, self.status = how, status


class ConnectionClosed(Exception):
    """The server closed a connection that was waiting for a response."""


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict, body: bytes):
        self.status, self.headers, self.body = status, headers, body


class Http:
    """One client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "Http":
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
        return cls(reader, writer)

    async def __aenter__(self) -> "Http":
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    def close(self) -> None:
        """A normal close (FIN, or RST if unread data is left)."""
        self.writer.close()

    def reset(self) -> None:
        """SO_LINGER 0, then close at once: the server gets a TCP RST."""
        self.writer.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def head(self) -> tuple[int, dict]:
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise CutOff("EOF", None) from None
            raise ConnectionClosed("closed before a response") from None
        except ConnectionResetError:
            raise CutOff("reset", None) from None
        lines = raw[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    async def response(self) -> Response:
        """The next whole response; CutOff when the server ends it early."""
        status, headers = await self.head()
        try:
            return Response(status, headers, await self.body(headers))
        except asyncio.IncompleteReadError:
            raise CutOff("EOF", status) from None
        except ConnectionResetError:
            raise CutOff("reset", status) from None

    async def body(self, headers: dict) -> bytes:
        reader = self.reader
        length = headers.get(b"content-length")
        if length is not None:
            return await reader.readexactly(int(length))
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # the apps send no trailers
                    return b"".join(parts)
                parts.append((await reader.readexactly(size + 2))[:-2])
        return await reader.read()  # close-delimited (HTTP/1.0 only)

    async def hellos(self, count: int) -> None:
        """Reads `count` hello responses: 200, Content-Length 13, HELLO. A
        lean parse over raw reads, since most requests are these: the fast
        path keeps the client ahead of the server."""
        buf, pos = b"", 0
        while count:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0 or len(buf) < end + 4 + len(HELLO):
                data = await self.reader.read(262144)
                if not data:
                    raise CutOff("EOF", None)
                buf, pos = buf[pos:] + data, 0
                continue
            head = buf[pos:end]
            pos = end + 4 + len(HELLO)
            if not (head.startswith(b"HTTP/1.1 200 ") and buf[end + 4:pos] == HELLO
                    and b"content-length: 13\r\n" in head.lower() + b"\r\n"):
                raise Unexpected("wrong hello", repr(buf[end - len(head):pos][:300]))
            count -= 1
        if pos != len(buf):
            raise Unexpected("data after the last response", repr(buf[pos:pos + 100]))

    async def first_chunk(self) -> bytes:
        """The first chunk of a chunked body (for the clients that leave early)."""
        size = int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";", 1)[0], 16)
        return (await self.reader.readexactly(size + 2))[:-2]


def request(method: str, path: str, body: bytes | None = None, chunks: list | None = None,
            close: bool = False) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: soak\r\n"
    if close:
        head += "Connection: close\r\n"
    if chunks is not None:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        return head.encode() + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
    if body is not None:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


GET = request("GET", "/")
GET_CLOSE = request("GET", "/", close=True)
PIPELINE = GET * PIPELINE_DEPTH

# --------------------------------------------------------------------------
# WebSocket client (RFC 6455, no extensions)

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def masked(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return b""
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def ws_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    mask = random.randbytes(4)
    return head + mask + masked(payload, mask)


class WebSocket:
    def __init__(self, http: Http):
        self.http = http

    @classmethod
    async def connect(cls, http: Http, path: str) -> tuple["WebSocket | None", int]:
        """(the WebSocket, 101), or (None, status) when the handshake is refused."""
        key = base64.b64encode(random.randbytes(16))
        http.write(f"GET {path} HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        status, headers = await http.head()
        if status != 101:
            await http.body(headers)
            return None, status
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        expect(headers.get(b"sec-websocket-accept") == accept, "bad Sec-WebSocket-Accept",
               repr(headers.get(b"sec-websocket-accept")))
        return cls(http), 101

    def send(self, opcode: int, payload: bytes) -> None:
        self.http.write(ws_frame(opcode, payload))

    async def frame(self) -> tuple[int, bool, bytes]:
        read = self.http.reader.readexactly
        b0, b1 = await read(2)
        expect(not b1 & 0x80, "masked frame from the server")
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await read(2), "big")
        elif n == 127:
            n = int.from_bytes(await read(8), "big")
        return b0 & 0x0F, bool(b0 & 0x80), await read(n)

    async def message(self) -> tuple[int, bytes]:
        """The next data message (continuations gathered) or close frame;
        pings are answered on the way."""
        first, parts = None, []
        while True:
            opcode, fin, payload = await self.frame()
            if opcode == PING:
                self.send(PONG, payload)
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                return CLOSE, payload
            if first is None:
                expect(opcode in (TEXT, BINARY), "bad opcode", str(opcode))
                first = opcode
            else:
                expect(opcode == 0, "bad continuation frame", str(opcode))
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    async def close(self, code: int = 1000) -> int | None:
        """Our close frame, the server's answer (its code), then the server's EOF."""
        self.send(CLOSE, code.to_bytes(2, "big"))
        while True:
            opcode, payload = await self.message()
            if opcode == CLOSE:
                break
        await self.http.reader.read()  # the server closes the TCP connection first
        return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None


WS_MESSAGES_CYCLE = [
    (TEXT, "hello, soak".encode()),
    (BINARY, b""),
    (TEXT, ("é€𝄞" * 40).encode()),  # multi-byte UTF-8
    (BINARY, bytes(range(256)) * 4),
    (TEXT, b"x" * 125),  # largest 7-bit length
    (BINARY, b"y" * 126),  # smallest 16-bit length
    (BINARY, random.Random(7).randbytes(70_000)),  # 64-bit length
    (TEXT, b"z" * 4000),
]

# --------------------------------------------------------------------------
# traffic: each worker loops over one kind; one call of a "unit" is one
# connection's worth of work and counts its own requests.

BODIES = [b"", b"a", random.Random(1).randbytes(100), random.Random(2).randbytes(1000),
          random.Random(3).randbytes(4096), random.Random(4).randbytes(10_240),
          random.Random(5).randbytes(65_543), random.Random(6).randbytes(200_000)]
DOWNLOADS = [(1, 100), (3, 1000), (8, 8192), (32, 4096), (16, 65536)]  # (pieces, size)
_expected_downloads: dict = {}


def download_body(pieces: int, size: int) -> bytes:
    key = (pieces, size)
    if key not in _expected_downloads:
        _expected_downloads[key] = b"".join(bytes([65 + i % 26]) * size for i in range(pieces))
    return _expected_downloads[key]


def chunked(body: bytes, rng: random.Random) -> list[bytes]:
    """body split at random places (the chunk sizes a streaming client would send)."""
    chunks, i = [], 0
    while i < len(body):
        n = rng.choice((1, 7, 100, 1000, 4096, 16384, 70000))
        chunks.append(body[i:i + n])
        i += n
    return chunks


async def keepalive(load: "Load", kind: str) -> None:
    async with await Http.open(load.port) as conn:
        for i in range(KEEPALIVE_REUSE):
            last = i == KEEPALIVE_REUSE - 1 or not load.tally.running
            conn.write(GET_CLOSE if last else GET)
            await conn.hellos(1)
            load.tally.count(kind)
            if last:
                expect(await conn.reader.read() == b"", "data after Connection: close")
                return


async def pipelined(load: "Load", kind: str) -> None:
    async with await Http.open(load.port) as conn:
        for _ in range(PIPELINED_REUSE):
            conn.write(PIPELINE)
            await conn.hellos(PIPELINE_DEPTH)
            load.tally.count(kind, n=PIPELINE_DEPTH)
            if not load.tally.running:
                return


async def upload(load: "Load", kind: str) -> None:
    """Echo of Content-Length and chunked uploads, answered whole (/echo) or
    piece by piece as the body arrives (/echo-stream)."""
    rng = load.rng
    async with await Http.open(load.port) as conn:
        for _ in range(UPLOADS_PER_CONN):
            body = rng.choice(BODIES)
            path = rng.choice(("/echo", "/echo-stream"))
            if rng.random() < 0.5:
                conn.write(request("POST", path, chunks=chunked(body, rng)))
                how = "chunked"
            else:
                conn.write(request("POST", path, body=body))
                how = "sized"
            r = await conn.response()
            expect(r.status == 200, "wrong status", f"{path} {how} {len(body)} B: {r.status}")
            expect(r.body == body, "echo differs",
                   f"{path} {how}: sent {len(body)} B, got {len(r.body)} B")
            load.tally.count(kind)
            if not load.tally.running:
                return


async def download(load: "Load", kind: str) -> None:
    async with await Http.open(load.port) as conn:
        for _ in range(DOWNLOADS_PER_CONN):
            pieces, size = load.rng.choice(DOWNLOADS)
            conn.write(request("GET", f"/stream?pieces={pieces}&size={size}"))
            r = await conn.response()
            expect(r.status == 200, "wrong status", str(r.status))
            expect(r.headers.get(b"transfer-encoding", b"").lower() == b"chunked", "not chunked",
                   repr(r.headers))
            expect(r.body == download_body(pieces, size), "download differs",
                   f"{pieces}x{size}: got {len(r.body)} B")
            load.tally.count(kind)
            if not load.tally.running:
                return


async def websocket_echo(load: "Load", kind: str) -> None:
    async with await Http.open(load.port) as conn:
        ws, status = await WebSocket.connect(conn, "/ws")
        expect(ws is not None, "handshake refused", str(status))
        start = load.rng.randrange(len(WS_MESSAGES_CYCLE))
        sent = [WS_MESSAGES_CYCLE[(start + i) % len(WS_MESSAGES_CYCLE)] for i in range(WS_MESSAGES)]
        for at in range(0, WS_MESSAGES, WS_WINDOW):
            window = sent[at:at + WS_WINDOW]
            conn.write(b"".join(ws_frame(op, payload) for op, payload in window))
            for op, payload in window:
                got = await ws.message()
                expect(got == (op, payload), "echo differs",
                       f"sent {op}/{len(payload)} B, got {got[0]}/{len(got[1])} B")
            load.tally.count(kind, n=len(window))
        code = await ws.close(1000)
        expect(code == 1000, "close code", str(code))
        load.tally.count(kind)  # the session itself: handshake and closing handshake


async def reset_mid_body(load: "Load", kind: str) -> None:
    """An upload the client abandons with a TCP RST: once while the app is
    streaming the echo back (/echo-stream, chunked), once while the app is
    still reading a 1 MiB body it will never get (/echo, Content-Length)."""
    async with await Http.open(load.port) as conn:
        first = BODIES[4]
        conn.write(b"POST /echo-stream HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + b"%x\r\n%s\r\n" % (len(first), first))
        status, _ = await conn.head()
        expect(status == 200, "wrong status", str(status))
        echoed = await conn.first_chunk()
        expect(echoed and first.startswith(echoed), "echo differs", f"{len(echoed)} B")
        conn.reset()
    load.tally.count(kind, "reset while the app streams the echo")
    async with await Http.open(load.port) as conn:
        conn.write(b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 1048576\r\n\r\n" + BODIES[6])
        await conn.writer.drain()
        await asyncio.sleep(0.001)  # let the server hand the first part to the app
        conn.reset()
    load.tally.count(kind, "reset while the app reads the body")


async def reset_mid_response(load: "Load", kind: str) -> None:
    """Downloads the client leaves early: a 1 MiB one sent as fast as the
    server can (RST after 16 KiB), and a slow one (pieces 2 ms apart) closed
    normally after its first piece."""
    async with await Http.open(load.port) as conn:
        conn.write(request("GET", "/stream?pieces=64&size=16384"))
        status, _ = await conn.head()
        expect(status == 200, "wrong status", str(status))
        await conn.reader.read(16384)
        conn.reset()
    load.tally.count(kind, "reset during a fast download")
    async with await Http.open(load.port) as conn:
        conn.write(request("GET", "/stream?pieces=40&size=1024&pause=2"))
        status, _ = await conn.head()
        expect(status == 200, "wrong status", str(status))
        expect(await conn.first_chunk() == download_body(1, 1024), "download differs")
        conn.close()
    load.tally.count(kind, "close during a slow download")


# Each raising route: what the client sends and which outcomes are expected
# (the server's answer to a failure it could not hide). A cut-off may be seen
# as EOF or as a reset, depending on what the server had left unread; a
# server that holds the head back until the first body message (granian)
# may still answer 500 after http.response.start.
RAISES = {
    "/raise/before-start": (request("GET", "/raise/before-start"), {"500"}),
    "/raise/after-start": (request("GET", "/raise/after-start"),
                           {"200 cut off (EOF)", "200 cut off (reset)", "500"}),
    "/raise/mid-body": (request("GET", "/raise/mid-body"), {"200 cut off (EOF)", "200 cut off (reset)"}),
    "/raise/mid-body-length": (request("GET", "/raise/mid-body-length"),
                               {"200 cut off (EOF)", "200 cut off (reset)"}),
    "/raise/in-receive": (request("POST", "/raise/in-receive", chunks=[b"q" * 1000, b"r" * 1000]), {"500"}),
}
WS_RAISES = {
    "ws /raise/before-accept": {"500", "403"},  # 403 is what a close before accepting gets
    "ws /raise/after-accept": {"close 1011", "cut off (EOF)", "cut off (reset)"},
}


async def raising(load: "Load", kind: str) -> None:
    """One request to every raising route, each on a fresh connection (a
    failure ends its connection)."""
    for path, (raw, expected) in RAISES.items():
        async with await Http.open(load.port) as conn:
            conn.write(raw)
            try:
                r = await conn.response()
                outcome = str(r.status) if r.status == 500 else f"{r.status} complete"
            except CutOff as cut:
                outcome = f"{cut.status} cut off ({cut.how})"
        load.tally.count(kind, f"{path}: {outcome}", outcome in expected)
    async with await Http.open(load.port) as conn:
        ws, status = await WebSocket.connect(conn, "/raise/before-accept")
        outcome = "101" if ws else str(status)
    load.tally.count(kind, f"ws /raise/before-accept: {outcome}", outcome in WS_RAISES["ws /raise/before-accept"])
    async with await Http.open(load.port) as conn:
        ws, status = await WebSocket.connect(conn, "/raise/after-accept")
        expect(ws is not None, "handshake refused", str(status))
        ws.send(TEXT, b"one")
        expect(await ws.message() == (TEXT, b"one"), "echo differs")
        try:
            opcode, payload = await ws.message()
            code = f"close {int.from_bytes(payload[:2], 'big')}" if len(payload) >= 2 else "close (no code)"
            outcome = code if opcode == CLOSE else f"opcode {opcode}"
        except asyncio.IncompleteReadError:
            outcome = "cut off (EOF)"
        except ConnectionResetError:
            outcome = "cut off (reset)"
    load.tally.count(kind, f"ws /raise/after-accept: {outcome}", outcome in WS_RAISES["ws /raise/after-accept"])


# kind -> (unit, workers). Every worker waits on round trips most of the
# time, so the counts set the mix. Pipelined batches bring 16 requests per
# round trip: 3 workers make about 60% of all requests on pyre-http (20% on
# uvicorn, which answers them one at a time); the failure kinds stay a few
# percent each (every deliberate exception is a traceback of 0.4-1 KiB in the
# server's log).
MIX = {
    "keep-alive": (keepalive, 12),
    "pipelined": (pipelined, 3),
    "upload": (upload, 6),
    "download": (download, 4),
    "websocket": (websocket_echo, 4),
    "reset-mid-body": (reset_mid_body, 3),
    "reset-mid-response": (reset_mid_response, 3),
    "raising": (raising, 4),
}


class Load:
    def __init__(self, port: int, tally: Tally, server_alive, kinds: list[str]):
        self.port, self.tally, self.server_alive, self.kinds = port, tally, server_alive, kinds
        self.rng = random.Random(42)
        self.died = False

    async def worker(self, kind: str, unit) -> None:
        while self.tally.running:
            try:
                async with asyncio.timeout(UNIT_TIMEOUT):
                    await unit(self, kind)
                continue
            except Unexpected as exc:
                outcome, detail = exc.outcome, exc.detail
            except TimeoutError:
                outcome, detail = "timeout", f"one connection's work not done in {UNIT_TIMEOUT:.0f} s"
            except CutOff as exc:
                outcome, detail = str(exc), f"status {exc.status}"
            except Exception as exc:  # OSError, EOF, a malformed answer...: counted, never fatal
                outcome, detail = type(exc).__name__, str(exc)[:200]
            self.tally.count(kind, outcome, False, detail=detail)
            await asyncio.sleep(0.01)  # a failing server must not turn this into a busy loop

    async def watch_server(self) -> None:
        while self.tally.running:
            if not self.server_alive():
                self.died = True
                self.tally.running = False
                return
            await asyncio.sleep(0.25)

    async def run(self) -> float:
        started = time.perf_counter()
        workers = [asyncio.create_task(self.worker(kind, unit))
                   for kind, (unit, count) in MIX.items() if kind in self.kinds for _ in range(count)]
        watcher = asyncio.create_task(self.watch_server())
        await asyncio.gather(*workers)
        watcher.cancel()
        return time.perf_counter() - started


def run_load(port: int, tally: Tally, server_alive, kinds: list[str]) -> tuple[float, bool]:
    """Runs the mix until the tally's target; (seconds, server died)."""
    try:
        import uvloop  # the client is the bottleneck against a fast server
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    load = Load(port, tally, server_alive, kinds)
    seconds = runner(load.run())
    return seconds, load.died


# --------------------------------------------------------------------------
# sampling the server


def tree_fds(root: int) -> tuple[int, dict]:
    """Open descriptors over the process tree: (count, count by kind)."""
    kinds: Counter = Counter()
    for pid in bench.tree_pids(root):
        base = f"/proc/{pid}/fd"
        try:
            names = os.listdir(base)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        for name in names:
            try:
                target = os.readlink(f"{base}/{name}")
            except OSError:
                continue
            kinds[target.split(":", 1)[0] if ":" in target else ("file" if target.startswith("/") else target)] += 1
    return sum(kinds.values()), dict(kinds)


def sample(pid: int, label: str, requests: int, started: float) -> dict:
    fds, kinds = tree_fds(pid)
    return {
        "point": label,
        "requests": requests,
        "seconds": round(time.monotonic() - started, 1),
        "rss_kib": bench.tree_kib(pid, "VmRSS"),
        "rss_anon_kib": bench.tree_kib(pid, "RssAnon"),
        "fds": fds,
        "fd_kinds": kinds,
    }


def steady_fds(pid: int) -> float:
    """Waits (at most SETTLE_SECONDS) until the descriptor count has not
    changed for a second: some servers (hypercorn) close connections a while
    after their clients left, and the baseline must not include those."""
    started = time.monotonic()
    last, since = tree_fds(pid)[0], started
    while time.monotonic() - since < 1.0 and time.monotonic() - started < SETTLE_SECONDS:
        time.sleep(0.25)
        count = tree_fds(pid)[0]
        if count != last:
            last, since = count, time.monotonic()
    return round(time.monotonic() - started, 1)


def settle_fds(pid: int, baseline: int) -> float | None:
    """Seconds until the descriptors are back at the baseline (checked for
    SETTLE_SECONDS after the end sample), None if they never are."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_SECONDS:
        if tree_fds(pid)[0] <= baseline:
            return round(time.monotonic() - started, 1)
        time.sleep(0.5)
    return None


# --------------------------------------------------------------------------
# the server's log: deliberate tracebacks and everything else

TRACEBACK = "Traceback (most recent call last):"
CHAIN = ("During handling of the above exception", "The above exception was the direct cause")


def scan_log(path: Path) -> dict:
    """Splits the log into records (an unindented line and what belongs to
    it: an indented traceback, its exception line, chained tracebacks) and
    counts them: a record whose tracebacks all end in SoakError is
    deliberate; any other is unexpected and counted by its first line and
    exception (numbers blanked, so that alike records count together)."""
    deliberate = 0
    others: Counter = Counter()
    examples: dict = {}

    def finish(record: list[str]) -> None:
        nonlocal deliberate
        if not record:
            return
        exceptions = [line for i, line in enumerate(record) if i and record[i - 1].startswith(" ")
                      and not line.startswith(" ") and line.strip()]
        if exceptions and all("SoakError: " in e for e in exceptions):
            deliberate += 1
            return
        key = re.sub(r"\d+", "N", " / ".join([record[0]] + exceptions).strip())[:300]
        others[key] += 1
        examples.setdefault(key, "\n".join(record[:40]))

    record: list[str] = []
    in_traceback = False
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("$ ") and not record:
                continue  # the command line run.py writes first
            if line.startswith(TRACEBACK) or line.startswith(CHAIN) or not line.strip():
                in_traceback = line.startswith(TRACEBACK) or in_traceback
                record.append(line)
            elif line.startswith(" "):
                record.append(line)
            elif in_traceback and record and record[-1].startswith(" "):
                record.append(line)  # the exception line ending a traceback
                in_traceback = False
            else:
                finish(record)
                record, in_traceback = [line], False
    finish(record)
    return {"deliberate_tracebacks": deliberate, "unexpected": dict(others.most_common()),
            "unexpected_examples": examples}


# --------------------------------------------------------------------------
# one soak run


def soak(name: str, args, tmp: Path, result: dict) -> None:
    """One server under the whole load; fills `result` as it goes, so that
    an interrupted run still reports what was measured."""
    server = bench.Server(name, "soak", tmp / f"soak-{name}.log", args.pin, app=APP)
    result.update(server=name, status="interrupted", log=str(server.log), samples=[])
    samples = result["samples"]
    t0 = time.monotonic()
    try:
        why = server.start()
        if why:
            result.update(status="failed to start", detail=why)
            return
        pid = server.proc.pid
        time.sleep(0.5)
        samples.append(sample(pid, "start", 0, t0))
        show(name, samples[-1])

        warm = Tally(args.warmup, None)
        warm0 = time.monotonic()
        try:
            _, died = run_load(server.port, warm, server.alive, args.kinds)
        finally:
            result.update(warmup_requests=warm.requests, warmup_outcomes=outcomes_json(warm))
        warm_seconds = time.monotonic() - warm0
        if died or not server.alive():
            result.update(status="crashed", detail=f"during the warm-up, {server.died()}")
            return
        time.sleep(QUIET_SECONDS)
        result["baseline_steady_after_s"] = QUIET_SECONDS + steady_fds(pid)
        samples.append(sample(pid, "baseline", 0, t0))
        show(name, samples[-1], f"after {warm.requests:,} warm-up requests in {warm_seconds:.1f} s")

        def on_mark(mark: int, requests: int) -> None:
            samples.append(sample(pid, f"{mark / 1000:g}k", requests, t0))
            show(name, samples[-1])

        tally = Tally(args.requests, args.every, on_mark)
        cpu0, client0, load0 = bench.tree_cpu_seconds(pid), time.process_time(), time.monotonic()
        died = True
        try:
            _, died = run_load(server.port, tally, server.alive, args.kinds)
        finally:
            seconds = time.monotonic() - load0
            result.update(
                requests=tally.requests,
                seconds=round(seconds, 1),
                rps=round(tally.requests / seconds),
                server_cpu_seconds=round(bench.tree_cpu_seconds(pid) - cpu0, 1),
                client_cpu_seconds=round(time.process_time() - client0, 1),
                outcomes=outcomes_json(tally),
                unexpected_examples={f"{k} / {o}": v for (k, o), v in tally.examples.items()},
            )
        if died or not server.alive():
            result.update(status="crashed", detail=f"during the run, {server.died()}")
            return
        time.sleep(QUIET_SECONDS)
        samples.append(sample(pid, "end", tally.requests, t0))
        show(name, samples[-1], f"{QUIET_SECONDS:.0f} s after the clients closed")
        baseline = samples[1]["fds"]
        result["fds_settled_after_s"] = 0.0 if samples[-1]["fds"] <= baseline else settle_fds(pid, baseline)
        if not bench.probe(server.port):  # after the descriptors were counted
            result.update(status="not answering", detail="no answer to a GET / after the run")
            return
        result["status"] = "ok"
    finally:
        server.stop()
        if server.log.exists():
            result["server_log"] = scan_log(server.log)
        result["wall_seconds"] = round(time.monotonic() - t0, 1)


def outcomes_json(tally: Tally) -> list:
    return [{"kind": kind, "outcome": outcome, "expected": expected, "requests": n}
            for (kind, outcome, expected), n in sorted(tally.outcomes.items())]


def show(name: str, s: dict, note: str = "") -> None:
    print(f"   {name:10} {s['point']:>9} {s['requests']:>10,} req  RSS {s['rss_kib'] / 1024:7.1f} MiB  "
          f"fds {s['fds']:4}  t {s['seconds']:6.1f} s  {note}", flush=True)


# --------------------------------------------------------------------------
# targets and report


def targets(r: dict) -> dict:
    """target -> (passed, figure as text)."""
    out = {}
    samples = {s["point"]: s for s in r["samples"]}
    base, end = samples.get("baseline"), samples.get("end")
    if base and end:
        growth = (end["rss_kib"] - base["rss_kib"]) / 1024
        out["RSS growth after warm-up"] = (growth < RSS_GROWTH_LIMIT_MIB,
                                          f"{growth:+.1f} MiB (limit {RSS_GROWTH_LIMIT_MIB})")
        settled = r.get("fds_settled_after_s")
        extra = "" if end["fds"] == base["fds"] else (
            f"; back after {settled} s more" if settled is not None else f"; not back after {SETTLE_SECONDS:.0f} s")
        out["descriptors back to baseline"] = (end["fds"] <= base["fds"],
                                               f"{end['fds']} at the end, {base['fds']} at the baseline{extra}")
    else:
        out["RSS growth after warm-up"] = out["descriptors back to baseline"] = (False, "no end sample")
    out["server served to the end"] = (r["status"] == "ok", f"{r['status']} {r.get('detail') or ''}".strip()[:300])
    client = sum(o["requests"] for o in r.get("outcomes", []) if not o["expected"])
    log = r.get("server_log", {})
    server_side = sum(log.get("unexpected", {}).values())
    # Every raising request (warm-up included) should leave exactly one
    # traceback: a missing or doubled one is an error of the server's too.
    raised = sum(o["requests"] for key in ("warmup_outcomes", "outcomes") for o in r.get(key, [])
                 if o["kind"] == "raising" and o["expected"])
    logged = log.get("deliberate_tracebacks", 0)
    out["zero unexpected errors"] = (
        client + server_side == 0 and logged == raised,
        f"{client} in the client, {server_side} in the server log; "
        f"{logged:,} SoakError tracebacks logged for {raised:,} raising requests")
    return out


def markdown(meta: dict, args, results: list[dict]) -> str:
    out = [f"# pyre-http soak test, {meta['date']}", ""]
    out.append(f"- machine: {meta['cpu_model']}, {meta['cores']} cores, Linux {meta['kernel']}")
    out.append(f"- Python {meta['python']}; " + ", ".join(f"{k} {v}" for k, v in meta["packages"].items()))
    out.append(f"- {args.requests:,} requests after {args.warmup:,} of warm-up, samples every {args.every:,}; "
               f"server pinned to CPU {bench.SERVER_CPU}, client to CPU {bench.CLIENT_CPU}: "
               f"{'yes' if args.pin else 'no'}")
    out.append(f"- git {meta['git']}")
    out.append("")
    out.append("Mix (workers): " + ", ".join(f"{kind} ×{count}" for kind, (_, count) in MIX.items()
                                             if kind in args.kinds)
               + f". A request is one HTTP exchange, one echoed WebSocket message, or one WebSocket session "
               f"(handshake and close); a pipelined batch counts {PIPELINE_DEPTH}.")
    out.append("")
    for r in results:
        out.append(f"## {r['server']}")
        out.append("")
        if r.get("requests"):
            out.append(f"{r['requests']:,} requests in {r['seconds']} s ({r['rps']:,} requests/s), "
                       f"{r['server_cpu_seconds']} s of server CPU, {r['client_cpu_seconds']} s of client CPU; "
                       f"status {r['status']}. The baseline was taken {r.get('baseline_steady_after_s')} s "
                       "after the warm-up's clients closed (descriptors steady for 1 s).")
            out.append("")
        base = next((s for s in r["samples"] if s["point"] == "baseline"), None)
        out.append("| point | requests | RSS MiB | Δ baseline MiB | fds | fds by kind |")
        out.append("|---|---:|---:|---:|---:|---|")
        for s in r["samples"]:
            delta = "" if base is None or s["point"] == "start" else f"{(s['rss_kib'] - base['rss_kib']) / 1024:+.1f}"
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(s["fd_kinds"].items()))
            out.append(f"| {s['point']} | {s['requests']:,} | {s['rss_kib'] / 1024:.1f} | {delta} | {s['fds']} | {kinds} |")
        out.append("")
        if r.get("outcomes"):
            out.append("| kind | requests | ok | deliberate failures (expected) | unexpected errors |")
            out.append("|---|---:|---:|---:|---:|")
            for kind in args.kinds:
                mine = [o for o in r["outcomes"] if o["kind"] == kind]
                ok = sum(o["requests"] for o in mine if o["outcome"] == "ok")
                expected = sum(o["requests"] for o in mine if o["expected"]) - ok
                bad = sum(o["requests"] for o in mine if not o["expected"])
                out.append(f"| {kind} | {ok + expected + bad:,} | {ok:,} | {expected:,} | {bad:,} |")
            out.append("")
            out.append("| kind | outcome | requests | expected |")
            out.append("|---|---|---:|---|")
            for o in r["outcomes"]:
                out.append(f"| {o['kind']} | {o['outcome']} | {o['requests']:,} | {'yes' if o['expected'] else '**no**'} |")
            out.append("")
        log = r.get("server_log")
        if log:
            out.append(f"Server log: {log['deliberate_tracebacks']:,} tracebacks of the deliberate SoakError; "
                       f"{sum(log['unexpected'].values())} other records.")
            for key, n in list(log["unexpected"].items())[:10]:
                out.append(f"- {n} × `{key}`")
            out.append("")
        for key, examples in list(r.get("unexpected_examples", {}).items())[:10]:
            out.append(f"- unexpected `{key}`: " + "; ".join(f"`{e}`" for e in examples[:3]))
        out.append("")
        out.append("| target | result | figure |")
        out.append("|---|---|---|")
        for target, (passed, figure) in targets(r).items():
            out.append(f"| {target} | {'PASS' if passed else '**FAIL**'} | {figure} |")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------
# main


def parse_args(argv):
    p = argparse.ArgumentParser(description="pyre-http soak test (see benchmarks/README.md)")
    p.add_argument("--server", default="pyre-http",
                   help=f"comma-separated, run one after the other, from: {', '.join(bench.SERVERS)} "
                        "(default pyre-http)")
    p.add_argument("--requests", type=int, default=1_000_000, help="requests after the warm-up (default 1,000,000)")
    p.add_argument("--warmup", type=int, default=20_000, help="warm-up requests before the baseline (default 20,000)")
    p.add_argument("--every", type=int, default=None,
                   help="requests between samples (default 100,000; at most a fifth of --requests)")
    p.add_argument("--kinds", default=",".join(MIX),
                   help=f"comma-separated traffic kinds to run, from: {', '.join(MIX)} (default: all); "
                        "one kind alone magnifies a leak in its path")
    p.add_argument("--out", type=Path, default=HERE / "results", help="output directory")
    p.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin with taskset")
    p.add_argument("--setup", action="store_true", help="run benchmarks/setup.sh first (rebuilds pyre-http)")
    p.add_argument("--no-venv", action="store_true", help="use this interpreter, not .venv-bench")
    args = p.parse_args(argv)
    args.every = args.every or max(1, min(100_000, args.requests // 5))
    args.servers = [s.strip() for s in args.server.split(",") if s.strip()]
    for server in args.servers:
        if server not in bench.SERVERS:
            p.error(f"unknown server {server!r}; choose from {', '.join(bench.SERVERS)}")
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    for kind in args.kinds:
        if kind not in MIX:
            p.error(f"unknown kind {kind!r}; choose from {', '.join(MIX)}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not args.no_venv:
        bench.ensure_venv(argv, args.setup, script=__file__)
    servers = args.servers
    if args.pin and (shutil.which("taskset") is None or os.cpu_count() < 2):
        print("warning: taskset missing or fewer than 2 CPUs; running unpinned", file=sys.stderr)
        args.pin = False
    if args.pin:
        os.sched_setaffinity(0, {bench.CLIENT_CPU})  # this process is the client
    bench.raise_nofile()

    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "tmp" / stamp
    tmp.mkdir(parents=True, exist_ok=True)
    meta = bench.machine_info(servers)
    print(f"== soak: {args.requests:,} requests (+{args.warmup:,} warm-up) against {', '.join(servers)}; "
          f"logs in {tmp}", flush=True)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    results, interrupted = [], False
    try:
        for name in servers:
            results.append({})
            soak(name, args, tmp, results[-1])
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted; writing what was measured", file=sys.stderr)
    finally:
        bench.stop_all()
    if not results:
        return 130

    base = args.out / f"soak-{stamp}"
    text = markdown(meta, args, results)
    base.with_suffix(".md").write_text(text + "\n")
    verdicts = {r["server"]: {t: {"pass": p, "figure": f} for t, (p, f) in targets(r).items()} for r in results}
    base.with_suffix(".json").write_text(json.dumps(
        {"meta": meta, "settings": {"requests": args.requests, "warmup": args.warmup, "every": args.every,
                                    "pinned": args.pin,
                                    "mix": {k: c for k, (_, c) in MIX.items() if k in args.kinds}},
         "targets": verdicts, "runs": results}, indent=1) + "\n")
    print()
    print(text)
    print(f"wrote {base}.md, .json")
    if interrupted:
        return 130
    return 0 if all(v["pass"] for t in verdicts.values() for v in t.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
