"""WebSocket echo load for the ws-echo scenario (wrk cannot speak WebSocket).

Opens CONNECTIONS WebSockets, then on each keeps a window of WINDOW small
text messages in flight: it sends WINDOW masked frames in one write and,
once all WINDOW echoes are back, the next WINDOW. It prints one line
`BENCH_JSON {...}` shaped like wrk's report (benchmarks/lua/report.lua), with
`requests` counting echoed messages and the latency of a whole window.

The client is deliberately cheap per message (frames built once, echoes
counted by length, not parsed) so that the server, not this script, is what
runs out of CPU. No extension is offered, so no server compresses.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import selectors
import socket
import time

PAYLOAD = b"hello, websocket"  # 16 bytes


def masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def open_websocket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    status_line = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status_line + b" ":
        raise ConnectionError(f"handshake refused: {status_line!r}")
    if head.split(b"\r\n\r\n", 1)[1]:
        raise ConnectionError("unexpected data after the handshake")
    sock.setblocking(False)
    return sock


class Connection:
    def __init__(self, sock: socket.socket, batch: bytes, expect: int):
        self.sock = sock
        self.batch = batch
        self.expect = expect
        self.pending = 0
        self.sent_at = 0.0

    def send_batch(self) -> None:
        self.sock.sendall(self.batch)  # small: fits the socket buffer
        self.pending = self.expect
        self.sent_at = time.perf_counter()


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def run(port: int, connections: int, window: int, seconds: float) -> dict:
    frame = masked_text_frame(PAYLOAD)
    echo_size = 2 + len(PAYLOAD)
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    selector = selectors.DefaultSelector()
    conns = []
    for _ in range(connections):
        try:
            sock = open_websocket(port)
        except OSError:
            errors["connect"] += 1
            continue
        conn = Connection(sock, frame * window, echo_size * window)
        selector.register(sock, selectors.EVENT_READ, conn)
        conns.append(conn)
    messages = 0
    received = 0
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds
    for conn in conns:
        conn.send_batch()
    live = len(conns)
    while live:
        now = time.perf_counter()
        if now > deadline + 5:
            errors["timeout"] += sum(1 for c in conns if c.pending)
            break
        for key, _ in selector.select(timeout=1.0):
            conn = key.data
            try:
                data = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                errors["read"] += 1
                selector.unregister(conn.sock)
                conn.pending = 0
                live -= 1
                continue
            received += len(data)
            conn.pending -= len(data)
            if conn.pending > 0:
                continue
            now = time.perf_counter()
            latencies.append((now - conn.sent_at) * 1e6)
            messages += window
            if now < deadline:
                try:
                    conn.send_batch()
                except OSError:
                    errors["write"] += 1
                    selector.unregister(conn.sock)
                    live -= 1
            else:
                selector.unregister(conn.sock)
                live -= 1
    elapsed = min(time.perf_counter(), deadline) - start
    for conn in conns:
        conn.sock.close()
    latencies.sort()
    return {
        "requests": messages,
        "duration_us": elapsed * 1e6,
        "bytes": received,
        "errors": errors,
        "latency_us": {
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else 0.0,
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    summary = run(args.port, args.connections, args.window, args.seconds)
    print("BENCH_JSON " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
