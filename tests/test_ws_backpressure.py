"""WebSocket memory stays bounded when one side is slower than the other.

Inbound: the app does not call receive() while a raw client pushes 64 KiB
messages; the server must stop reading (at most --ws-max-queue messages wait
for the app, the rest stays in socket buffers), so the client's writes stall
long before 200 MB, and the server's RSS grows by less than 16 MiB. Every message sent
arrives once the app reads again.
Outbound: the app sends 100 MB to a client that does not read; send() must
wait while the write buffer is full.
"""

import os
import select
import socket
import struct
import time

from test_ws_support import BINARY, CLOSE, RawWebSocket, encode_frame, side_json
from memory import MiB, RssSampler

LIMIT = 16 * MiB
MESSAGE = 64 * 1024



def push_until_stalled(sock, frame, total, stall=1.5, limit=20.0):
    """Sends `frame` over and over (non-blocking) until `total` bytes went out
    or nothing could be written for `stall` seconds. Returns (bytes sent,
    what is left of a partly sent frame)."""
    sock.setblocking(False)
    sent, pending, last = 0, b"", time.monotonic()
    start = last
    while sent < total and time.monotonic() - start < limit:
        if not pending:
            pending = frame
        _, writable, _ = select.select([], [sock], [], 0.1)
        if not writable:
            if time.monotonic() - last > stall:
                break
            continue
        try:
            n = sock.send(pending)
        except BlockingIOError:
            continue
        sent += n
        pending = pending[n:]
        last = time.monotonic()
    sock.setblocking(True)
    return sent, pending


def test_app_not_receiving_stops_reading(make_server):
    srv = make_server("ws_app:app", "--no-access-log")
    # Warm-up: the same path once, so that first-use allocations are not counted.
    with RawWebSocket(srv, "/echo?tag=warm") as ws:
        for _ in range(40):
            ws.send_frame(BINARY, os.urandom(MESSAGE))
        for _ in range(40):
            ws.recv_message()
    baseline = srv.rss()
    sampler = RssSampler(srv)
    sampler.start()
    frame = encode_frame(BINARY, os.urandom(MESSAGE), mask_key=b"\x01\x02\x03\x04")
    total = 200 * 1000 * 1000
    with RawWebSocket(srv, "/hold?tag=hold", timeout=30) as ws:
        side_json(srv, "accepted-hold")
        sent, pending = push_until_stalled(ws.sock, frame, total)
        peak = sampler.stop()
        assert sent < total, "the server read 200 MB the app never asked for"
        assert peak - baseline < LIMIT, f"RSS grew by {(peak - baseline) / MiB:.1f} MiB"

        # The app reads again: every message arrives, none twice, none lost.
        open(srv.side_file("go-hold"), "w").close()
        ws.sock.settimeout(30)
        if pending:
            ws.sock.sendall(pending)
        ws.send_close(1000)
        ws.expect_close(timeout=30)
    expected = (sent + len(pending)) // len(frame)
    result = side_json(srv, "disconnect-hold", timeout=30)
    assert result["count"] == expected
    assert result["size"] == expected * MESSAGE


def test_client_not_reading_bounds_server_memory(make_server):
    srv = make_server("ws_app:app", "--no-access-log", "--ws-per-message-deflate", "false")
    with RawWebSocket(srv, "/flood?tag=warm&count=40") as ws:
        ws.expect_close(timeout=10)
    baseline = srv.rss()
    count = 100 * 1000 * 1000 // MESSAGE  # about 100 MB
    sampler = RssSampler(srv)
    sampler.start()
    with RawWebSocket(srv, f"/flood?tag=big&count={count}", timeout=30) as ws:
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        time.sleep(2)  # not reading: the app must be held back by send()
        progress = side_json(srv, "flood-big")
        assert progress < count, "the app sent 100 MB to a client that read nothing"
        peak_stalled = sampler.peak
        assert peak_stalled - baseline < LIMIT, f"RSS grew by {(peak_stalled - baseline) / MiB:.1f} MiB"

        # Now read it all: every message, in order, then the close.
        for i in range(count):
            fin, _, op, payload = ws.recv_frame()
            assert (fin, op, len(payload)) == (True, BINARY, MESSAGE)
            assert payload[:8] == i.to_bytes(8, "big")
        _, _, op, payload = ws.recv_frame()
        assert op == CLOSE and struct.unpack("!H", payload[:2])[0] == 1000
    peak = sampler.stop()
    assert peak - baseline < LIMIT, f"RSS grew by {(peak - baseline) / MiB:.1f} MiB"
