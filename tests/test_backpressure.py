"""Memory stays bounded when one side is slower than the other.

RSS is read from /proc/PID/status of the server process while the transfer
runs; growth over the warmed-up baseline must stay under 16 MiB even though
20 MB go up and 100 MB come down.
"""

import hashlib
import json
import socket
import time

import httpx

from rawhttp import big_chunk, request
from memory import MiB, RssSampler

LIMIT = 16 * MiB



def test_slow_reader_app_bounds_upload_memory(make_server):
    srv = make_server("testapp:app", "--no-access-log")
    # Warm up the code paths (and their allocations) the upload uses.
    warm = httpx.post(f"{srv.url}/body-events?delay=0", content=b"w" * MiB, timeout=10)
    assert warm.status_code == 200
    baseline = srv.rss()

    size = 20 * 1000 * 1000
    block = hashlib.sha256(b"upload").digest() * (MiB // 32)
    body = (block * (size // len(block) + 1))[:size]
    sampler = RssSampler(srv)
    sampler.start()
    with srv.client(timeout=60) as c:
        c.send(request("POST", "/body-events?delay=0.005", body=body))
        r = c.read_response()
    peak = sampler.stop()

    assert r.status == 200
    info = json.loads(r.body)
    assert info["size"] == size
    assert info["sha256"] == hashlib.sha256(body).hexdigest()
    assert peak - baseline < LIMIT, f"server RSS grew by {(peak - baseline) / MiB:.1f} MiB"


def test_slow_client_bounds_download_memory(make_server):
    srv = make_server("testapp:app", "--no-access-log")
    warm = httpx.get(f"{srv.url}/stream-big?total={4 * MiB}", timeout=10)
    assert len(warm.content) == 4 * MiB
    baseline = srv.rss()

    total = 100 * MiB
    expected = hashlib.sha256()
    for i in range(total // 65536):
        expected.update(big_chunk(i))

    sampler = RssSampler(srv)
    sampler.start()
    with srv.client(timeout=30) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.send(request("GET", f"/stream-big?total={total}"))
        version, status, _, headers, _ = c.read_head()
        assert status == 200
        assert ("content-length", str(total)) in headers
        got = hashlib.sha256()
        received = len(c.buf)
        got.update(c._take(len(c.buf)))
        # Slow phase: small reads with pauses, while the app keeps producing.
        slow_until = time.monotonic() + 2.0
        while time.monotonic() < slow_until:
            data = c.sock.recv(4096)
            assert data, "closed early"
            got.update(data)
            received += len(data)
            time.sleep(0.02)
        slow_peak = sampler.peak
        # Then read the rest as fast as possible.
        while received < total:
            data = c.sock.recv(1 << 20)
            assert data, f"closed after {received} of {total} bytes"
            got.update(data)
            received += len(data)
    peak = sampler.stop()

    assert received == total
    assert got.hexdigest() == expected.hexdigest(), "downloaded bytes differ from what the app sent"
    assert slow_peak - baseline < LIMIT, f"RSS grew by {(slow_peak - baseline) / MiB:.1f} MiB while the client was slow"
    assert peak - baseline < LIMIT, f"server RSS grew by {(peak - baseline) / MiB:.1f} MiB"
