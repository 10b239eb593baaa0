"""Clients that send without reading cannot grow the server's memory.

A client that pipelines requests for large responses, or pings a WebSocket,
and never reads what comes back: the server stops reading and parsing once
its unsent output passes the high-water mark, so its RSS stays within
16 MiB of the baseline although unbounded answers would take hundreds of
MiB. Meanwhile another client is served, and once the greedy client goes
its descriptor is released.
"""

import select
import socket
import time

import httpx

from memory import MiB, RssSampler
from rawhttp import request
from test_ws_support import PING, TEXT, RawWebSocket, encode_frame

LIMIT = 16 * MiB
PUSH_SECONDS = 2.0


def push_without_reading(sock, data, seconds=PUSH_SECONDS):
    """Writes `data` over and over for `seconds` (non-blocking, never reading);
    returns the bytes written."""
    sock.setblocking(False)
    sent, offset = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, writable, _ = select.select([], [sock], [], 0.05)
        if not writable:
            continue
        try:
            n = sock.send(data[offset:])
        except BlockingIOError:
            continue
        sent += n
        offset = (offset + n) % len(data)
    return sent


def wait_for_fds(srv, baseline, timeout=5.0):
    deadline = time.monotonic() + timeout
    while srv.fds() > baseline:
        assert time.monotonic() < deadline, f"{srv.fds()} descriptors open, {baseline} before"
        time.sleep(0.05)


def test_pipelined_requests_never_read_do_not_grow_memory(make_server):
    srv = make_server("testapp:app", "--no-access-log")
    # Warm-up: the same responses once, so that first-use allocations do not count.
    for _ in range(4):
        assert len(httpx.get(f"{srv.url}/stream-big?total={1 * MiB}", timeout=10).content) == MiB
    baseline, fds = srv.rss(), srv.fds()

    # Each request asks for 1 MiB: thousands of them would be gigabytes.
    one = request("GET", f"/stream-big?total={1 * MiB}")
    greedy = socket.create_connection((srv.host, srv.port))
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sampler = RssSampler(srv)
    sampler.start()
    try:
        sent = push_without_reading(greedy, one * 64)
        r = httpx.get(f"{srv.url}/hello", timeout=2)
        assert r.status_code == 200
    finally:
        peak = sampler.stop()
        greedy.close()
    assert sent > 100 * len(one), f"only {sent} bytes of requests went out"
    assert peak - baseline < LIMIT, f"server RSS grew by {(peak - baseline) / MiB:.1f} MiB"
    wait_for_fds(srv, fds)


def test_pings_never_read_do_not_grow_memory(make_server):
    srv = make_server("ws_app:app", "--no-access-log", "--ws-ping-interval", "0")
    ping = encode_frame(PING, b"p" * 125)
    with RawWebSocket(srv, "/echo?tag=warm") as ws:
        ws.send_frame(PING, b"p" * 125)
        ws.recv_frame()
    baseline, fds = srv.rss(), srv.fds()

    sampler = RssSampler(srv)
    sampler.start()
    ws = RawWebSocket(srv, "/echo?tag=pings")
    try:
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sent = push_without_reading(ws.sock, ping * 512)
        with RawWebSocket(srv, "/echo?tag=other") as other:
            other.send_text("still served")
            assert other.recv_message() == (TEXT, b"still served")
    finally:
        peak = sampler.stop()
        ws.close()
    # Each ping asks for a pong as large. The server stopped reading once
    # its pongs reached the high-water mark, so the client's writes stalled
    # after the socket buffers filled (a few MiB) instead of going on at
    # loopback speed (hundreds of MiB in the same time).
    assert sent < 4 * LIMIT, f"{sent} bytes of pings were taken"
    assert peak - baseline < LIMIT, f"server RSS grew by {(peak - baseline) / MiB:.1f} MiB"
    wait_for_fds(srv, fds)


def test_an_endless_request_head_is_refused_without_growing_memory(make_server):
    """A head that never ends is answered 431 once it passes the limit; the
    bytes the client keeps sending are read and dropped (so that it could
    still read the answer) for the lingering close's 2 s at most, and never
    at the expense of other connections."""
    srv = make_server("testapp:app", "--no-access-log")
    assert httpx.get(f"{srv.url}/hello").status_code == 200
    baseline, fds = srv.rss(), srv.fds()
    sampler = RssSampler(srv)
    sampler.start()
    endless = socket.create_connection((srv.host, srv.port))
    served_meanwhile = closed_after = None
    try:
        endless.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Endless: ")
        endless.setblocking(False)
        start = time.monotonic()
        while time.monotonic() - start < 8:
            if served_meanwhile is None and time.monotonic() - start > 0.5:
                served_meanwhile = httpx.get(f"{srv.url}/hello", timeout=2).status_code
            select.select([], [endless], [], 0.05)
            try:
                endless.send(b"a" * 65536)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - start
                break
    finally:
        peak = sampler.stop()
        endless.close()
    assert served_meanwhile == 200
    # The lingering close (2 s) starts at a tick (each second).
    assert closed_after is not None and closed_after < 5, closed_after
    assert peak - baseline < LIMIT, f"server RSS grew by {(peak - baseline) / MiB:.1f} MiB"
    wait_for_fds(srv, fds)
