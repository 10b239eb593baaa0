"""Instructions per request, counted by callgrind: the noise-free second
opinion beside benchmarks/run.py (whose CPU figures drift with the machine).

    python3 benchmarks/callgrind.py                       # .venv-bench, hello, 20000 requests
    python3 benchmarks/callgrind.py --python .venv-cg/bin/python --requests 5000

The server runs under `valgrind --tool=callgrind --instr-atstart=no`, so
start-up is not counted; instrumentation is switched on once it answers,
then a client sends exactly N keep-alive requests over a few connections in
lockstep (each connection has one request in flight, as with wrk), and the
counts are dumped. The result is the total instructions (Ir) of the server
process divided by N, and the top functions. Only instruction counts are
exact: valgrind runs the program about 50 times slower, so time-based
behaviour (timers) differs from a real run.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode} before answering")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(REQUEST)
                if s.recv(65536).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            time.sleep(0.5)
    sys.exit("the server did not answer under valgrind in time")


def read_response(sock: socket.socket, pending: bytearray) -> None:
    """Consumes one response with a Content-Length body from `sock`."""
    while True:
        end = pending.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(pending[:end]).lower()
            length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            total = end + 4 + length
            if len(pending) >= total:
                del pending[:total]
                return
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        pending += data


def drive(port: int, requests: int, connections: int) -> None:
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(connections)]
    buffers = [bytearray() for _ in socks]
    done = 0
    while done < requests:
        batch = socks[: min(connections, requests - done)]
        for sock in batch:
            sock.sendall(REQUEST)
        for sock, pending in zip(batch, buffers):
            read_response(sock, pending)
        done += len(batch)
    for sock in socks:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--app", default="bench_hello:app")
    parser.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    args = parser.parse_args()

    port = free_port()
    out = Path(tempfile.mkdtemp(prefix="pyre-cg-")) / "callgrind.out"
    env = dict(os.environ, PYTHONPATH=str(HERE / "apps"), PYTHONMALLOC="malloc")
    server = subprocess.Popen(
        [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            args.python, "-m", "pyre_http", args.app, "--port", str(port), "--loop", args.loop,
            "--no-access-log", "--log-level", "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(port, server)
        subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], check=True, capture_output=True)
        drive(port, args.requests, args.connections)
        subprocess.run(["callgrind_control", "-i", "off", str(server.pid)], check=True, capture_output=True)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=120)
    annotate = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", str(out)], check=True, capture_output=True, text=True
    ).stdout
    total = next(int(line.split()[0].replace(",", "")) for line in annotate.splitlines() if "PROGRAM TOTALS" in line)
    print(f"{args.python}: {args.requests} requests, {total:,} instructions, {total / args.requests:,.0f} per request")
    listing = [line for line in annotate.splitlines() if line.strip() and line.strip()[0].isdigit()]
    for line in listing[1 : args.top + 1]:
        print("   ", line.strip()[:140])


if __name__ == "__main__":
    main()
