"""How evenly pyre-http's workers share requests: one shared listening socket
against --reuse-port, with keep-alive connections and with a new connection
per request.

    python3 benchmarks/spread.py [--workers 2] [--seconds 5] [--connections 64]

Runs with the current interpreter (pyre-http and uvloop installed). For each
(socket mode, connection mode): start ``pyre-http bench_count:app --workers
N``, wait until every worker answers, run ``wrk -t1 -cC -dS`` (with
``Connection: close`` for the second connection mode), stop with SIGTERM;
each worker writes its request count at lifespan shutdown. Prints one line
per run: the share of each worker (largest first) and max/min.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_workers(log_path, count, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = Path(log_path).read_text()
        if len(re.findall(r"is accepting connections", text)) >= count:
            return
        time.sleep(0.1)
    raise RuntimeError(f"workers not ready:\n{Path(log_path).read_text()}")


def one_run(workers, reuse_port, close, seconds, connections, tmp):
    port = free_port()
    counts_dir = tempfile.mkdtemp(dir=tmp)
    log_path = os.path.join(tmp, f"server-{port}.log")
    argv = [sys.executable, "-m", "pyre_http", "bench_count:app", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--no-access-log", "--loop", "uvloop"]
    if reuse_port:
        argv.append("--reuse-port")
    env = dict(os.environ, PYTHONPATH=str(APPS), SPREAD_DIR=counts_dir)
    with open(log_path, "w") as log:
        server = subprocess.Popen(argv, cwd=APPS, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_workers(log_path, workers)
        wrk = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}/"]
        if close:
            wrk[1:1] = ["-H", "Connection: close"]
        out = subprocess.run(wrk, capture_output=True, text=True, timeout=seconds + 30).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        errors = re.search(r"Socket errors:.*", out)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    counts = sorted((int(Path(counts_dir, name).read_text()) for name in os.listdir(counts_dir)), reverse=True)
    return counts, rps, errors.group(0) if errors else ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 2
    print(f"{args.workers} workers, wrk -t1 -c{args.connections} -d{args.seconds}s, "
          f"{os.cpu_count()} cores shared by the workers and wrk")
    print("| socket | connections | requests/s | share per worker | max/min | wrk socket errors |")
    print("|---|---|---:|---|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for reuse_port in (False, True):
            for close in (False, True):
                counts, rps, errors = one_run(args.workers, reuse_port, close, args.seconds, args.connections, tmp)
                total = sum(counts) or 1
                shares = " / ".join(f"{100 * c / total:.0f}%" for c in counts)
                ratio = f"{counts[0] / counts[-1]:.2f}" if len(counts) == args.workers and counts[-1] else "∞"
                print(f"| {'--reuse-port' if reuse_port else 'shared'} | "
                      f"{'new per request' if close else 'keep-alive'} | {rps:,.0f} | {shares} "
                      f"({len(counts)} of {args.workers} answered) | {ratio} | {errors or 'none'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
