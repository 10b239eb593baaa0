"""Opens N idle keep-alive connections to a server on loopback, one request each.

    python benchmarks/idle_client.py --port 8000 --connections 10000 [--batch 250]

Each connection sends one `GET /` and reads the whole response (Content-Length
framed), then stays open and idle. When all are open the client prints one
line `READY {json}` and waits for a line on standard input (the harness samples
the server's memory meanwhile); it then checks how many the server has closed,
closes every connection, prints `DONE {json}` and exits. It never talks to
anything but the given loopback address and stops by itself after --max-wait
seconds if no line comes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time


def raise_nofile(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: idle-client\r\n\r\n"


async def open_one(host: str, port: int, timeout: float):
    async def go():
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 200"):
            writer.close()
            raise RuntimeError(f"bad status: {lines[0]!r}")
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length is None:
            writer.close()
            raise RuntimeError("response without content-length")
        await reader.readexactly(length)
        return reader, writer

    return await asyncio.wait_for(go(), timeout)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--max-wait", type=float, default=120.0)
    args = parser.parse_args()
    if not args.host.startswith("127.") and args.host not in ("localhost", "::1"):
        parser.error("loopback addresses only")

    nofile = raise_nofile(args.connections + 256)
    conns = []
    failures: dict[str, int] = {}
    started = time.monotonic()
    try:
        remaining = args.connections
        while remaining > 0:
            n = min(args.batch, remaining)
            remaining -= n
            results = await asyncio.gather(
                *(open_one(args.host, args.port, args.timeout) for _ in range(n)),
                return_exceptions=True,
            )
            failed = 0
            for result in results:
                if isinstance(result, BaseException):
                    key = type(result).__name__
                    failures[key] = failures.get(key, 0) + 1
                    failed += 1
                else:
                    conns.append(result)
            if failed == n and remaining:
                # The server takes no more: do not wait out every batch.
                failures["not attempted"] = remaining
                break
        open_seconds = time.monotonic() - started
        await asyncio.sleep(0.5)
        closed_early = sum(1 for reader, _ in conns if reader.at_eof())
        ready = {
            "opened": len(conns),
            "failed": sum(failures.values()),
            "failures": failures,
            "closed_by_server": closed_early,
            "open_seconds": round(open_seconds, 3),
            "nofile": nofile,
        }
        print("READY " + json.dumps(ready), flush=True)

        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.run_in_executor(None, sys.stdin.readline), args.max_wait
            )
        except asyncio.TimeoutError:
            pass
        closed_late = sum(1 for reader, _ in conns if reader.at_eof())
    finally:
        for _, writer in conns:
            writer.close()
        await asyncio.sleep(0)
    print("DONE " + json.dumps({"closed_by_server": closed_late}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
