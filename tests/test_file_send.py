"""The response extensions over real sockets: http.response.pathsend and
http.response.zerocopysend (sent by the driver from the file, with
backpressure and without leaking descriptors), Starlette's FileResponse
using pathsend, http.response.trailers and http.response.early_hint."""

import hashlib
import json
import os
import socket
import time
from urllib.parse import quote

import httpx
import pytest

from memory import MiB, RssSampler
from rawhttp import Closed, request, wait_for_file

APP = "file_apps:app"


def make_file(directory, name, size):
    """A file whose bytes are not a repeating short pattern."""
    path = directory / name
    block = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(2048))  # 64 KiB
    with open(path, "wb") as f:
        left = size
        while left:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    return path


def q(path):
    return quote(str(path), safe="")


@pytest.fixture
def files(tmp_path):
    small = make_file(tmp_path, "small.bin", 50_000)
    return tmp_path, small


def test_the_extensions_are_advertised_for_http(make_server):
    srv = make_server(APP)
    r = httpx.get(f"{srv.url}/extensions")
    assert r.json() == [
        "http.response.early_hint",
        "http.response.pathsend",
        "http.response.trailers",
        "http.response.zerocopysend",
    ]


def test_pathsend_with_and_without_content_length_keeps_the_order(make_server, files):
    srv = make_server(APP)
    _, small = files
    data = small.read_bytes()
    with srv.client() as c:
        # Pipelined: each response (head, file, end) before the next.
        c.send(
            request("GET", f"/pathsend?cl=1&path={q(small)}")
            + request("GET", f"/pathsend?cl=0&path={q(small)}")
            + request("GET", "/extensions")
        )
        first = c.read_response()
        assert first.header("content-length") == str(len(data))
        assert first.body == data
        second = c.read_response()
        assert second.header("transfer-encoding") == "chunked"
        assert second.body == data
        third = c.read_response()
        assert third.status == 200 and b"pathsend" in third.body


def test_pathsend_to_head_sends_no_body_and_does_not_open_the_file(make_server, tmp_path):
    srv = make_server(APP)
    missing = tmp_path / "never-created.bin"
    with srv.client() as c:
        c.send(request("HEAD", f"/pathsend?path={q(missing)}") + request("GET", "/extensions"))
        r = c.read_response("HEAD")
        assert r.status == 200
        assert c.read_response().status == 200  # nothing was left between them
    assert wait_for_file(os.path.join(srv.side_dir, "pathsend-done"))


@pytest.mark.parametrize("target", ["missing", "relative", "directory"])
def test_pathsend_of_a_bad_path_is_an_application_error(make_server, tmp_path, target):
    srv = make_server(APP)
    path = {"missing": str(tmp_path / "nope.bin"), "relative": "some/file.bin", "directory": str(tmp_path)}[target]
    with srv.client() as c:
        c.send(request("GET", f"/pathsend?path={q(path)}"))
        # The head had gone into the output: the response is cut off.
        with pytest.raises(Closed):
            c.read_response()
    error = wait_for_file(os.path.join(srv.side_dir, "pathsend-error"))
    expected = {
        "missing": "FileNotFoundError: 'http.response.pathsend' cannot send",
        "relative": "is not absolute",
        "directory": "not a regular file",
    }[target]
    assert expected in error
    deadline = time.monotonic() + 5
    while path not in srv.stderr_text():
        assert time.monotonic() < deadline, srv.stderr_text()
        time.sleep(0.05)
    assert "Traceback" in srv.stderr_text() and "panick" not in srv.stderr_text()
    assert httpx.get(f"{srv.url}/extensions").status_code == 200


def test_a_file_shorter_than_its_content_length_closes_the_connection(make_server, files):
    srv = make_server(APP)
    _, small = files
    with srv.client() as c:
        c.send(request("GET", f"/pathsend-declared?length=60000&path={q(small)}"))
        head = c.read_head()
        assert head[1] == 200
        body = c.read_until_close()
        assert body == small.read_bytes()


def test_zerocopysend_honours_offset_count_and_more_body(make_server, files):
    srv = make_server(APP)
    _, small = files
    data = small.read_bytes()
    r = httpx.get(f"{srv.url}/zerocopy", params={"path": str(small), "offset": 1000, "count": 5000})
    assert r.content == data[1000:6000] + b"<tail>"
    # No count: to the end of the file.
    r = httpx.get(f"{srv.url}/zerocopy", params={"path": str(small), "offset": 49_000})
    assert r.content == data[49_000:] + b"<tail>"
    # No offset: from the file's position, which then moves past the part.
    r = httpx.get(f"{srv.url}/zerocopy", params={"path": str(small), "seek": 100, "count": 10, "again": 20})
    assert r.content == data[100:110] + data[110:130] + b"<tail>"
    # Past the end: an application error (the head is out: cut off).
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{srv.url}/zerocopy", params={"path": str(small), "offset": 49_000, "count": 2000})
    assert "go past the end of the file" in srv.stderr_text()


def test_a_large_file_to_a_slow_reader_keeps_memory_bounded(make_server, tmp_path):
    srv = make_server(APP, "--no-access-log")
    small = make_file(tmp_path, "small.bin", 50_000)
    big = make_file(tmp_path, "big.bin", 10 * 1000 * 1000)
    for _ in range(3):  # warm up the code paths with the small file
        assert httpx.get(f"{srv.url}/pathsend", params={"path": str(small), "cl": 1}).status_code == 200
    baseline = srv.rss()
    expected = hashlib.sha256(big.read_bytes()).hexdigest()
    sampler = RssSampler(srv)
    sampler.start()
    with srv.client(timeout=30) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.send(request("GET", f"/pathsend?cl=1&path={q(big)}"))
        _, status, _, headers, _ = c.read_head()
        assert status == 200
        received = len(c.buf)
        got = hashlib.sha256(c._take(len(c.buf)))
        slow_until = time.monotonic() + 1.5
        while time.monotonic() < slow_until:
            data = c.sock.recv(4096)
            assert data
            got.update(data)
            received += len(data)
            time.sleep(0.01)
        assert received < 5 * 1000 * 1000, "the client was not slow"
        # Meanwhile another client is served.
        assert httpx.get(f"{srv.url}/extensions").status_code == 200
        while received < 10 * 1000 * 1000:
            data = c.sock.recv(1 << 20)
            assert data, f"closed after {received} bytes"
            got.update(data)
            received += len(data)
    peak = sampler.stop()
    assert got.hexdigest() == expected
    assert peak - baseline < 8 * MiB, f"RSS grew by {(peak - baseline) / MiB:.1f} MiB"


def leave_halfway(srv, target):
    """GET `target` with a small receive buffer, read 200 kB, and close."""
    s = socket.create_connection((srv.host, srv.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(request("GET", target))
    got = 0
    while got < 200_000:
        got += len(s.recv(65536))
    s.close()


def test_a_client_leaving_in_the_middle_of_a_file_leaks_no_descriptor(make_server, tmp_path):
    srv = make_server(APP, "--no-access-log")
    big = make_file(tmp_path, "big.bin", 10 * 1000 * 1000)
    assert httpx.get(f"{srv.url}/extensions").status_code == 200
    before = srv.fds()
    for i in range(5):
        leave_halfway(srv, f"/pathsend?cl={i % 2}&mark=left-{i}&path={q(big)}")
    # Each send() either returned (the file was queued) or raised; none hangs.
    for i in range(5):
        wait_for_file(os.path.join(srv.side_dir, f"left-{i}"), timeout=10)
    deadline = time.monotonic() + 5
    while srv.fds() > before:
        assert time.monotonic() < deadline, f"{srv.fds()} descriptors open, {before} before"
        time.sleep(0.05)
    assert httpx.get(f"{srv.url}/extensions").status_code == 200


def test_starlette_file_response_uses_pathsend(make_server, files):
    srv = make_server("file_apps:starlette_app")
    _, small = files
    data = small.read_bytes()
    r = httpx.get(f"{srv.url}/file", params={"path": str(small)})
    assert r.status_code == 200 and r.content == data
    assert httpx.get(f"{srv.url}/types").json() == ["http.response.start", "http.response.pathsend"]
    r = httpx.head(f"{srv.url}/file", params={"path": str(small)})
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(data))
    assert httpx.get(f"{srv.url}/types").json() == ["http.response.start", "http.response.body"]
    # A range is sent as a body by Starlette itself.
    r = httpx.get(f"{srv.url}/file", params={"path": str(small)}, headers={"range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]


def test_starlette_file_response_to_a_client_that_leaves_halfway(make_server, tmp_path):
    srv = make_server("file_apps:starlette_app", "--no-access-log")
    big = make_file(tmp_path, "big.bin", 10 * 1000 * 1000)
    assert httpx.get(f"{srv.url}/types").status_code == 200
    before = srv.fds()
    for _ in range(3):
        leave_halfway(srv, f"/file?path={q(big)}")
    # Starlette sent the file with pathsend, and the server let go of it.
    assert httpx.get(f"{srv.url}/types").json() == ["http.response.start", "http.response.pathsend"]
    deadline = time.monotonic() + 5
    while srv.fds() > before:
        assert time.monotonic() < deadline, f"{srv.fds()} descriptors open, {before} before"
        time.sleep(0.05)
    r = httpx.get(f"{srv.url}/file", params={"path": str(big)})
    assert r.status_code == 200 and len(r.content) == 10 * 1000 * 1000


def test_trailers_go_out_only_to_a_client_that_sent_te_trailers(make_server):
    srv = make_server(APP)
    with srv.client() as c:
        c.send(request("GET", "/trailers", headers=[("TE", "trailers")]))
        r = c.read_response()
        assert r.body == b"abcdef"
        assert r.raw.endswith(b"0\r\nx-checksum: 123\r\nserver-timing: db;dur=5\r\n\r\n")
        # Without TE: trailers: the same body, no trailer section.
        c.send(request("GET", "/trailers"))
        r = c.read_response()
        assert r.body == b"abcdef"
        assert r.raw.endswith(b"3\r\ndef\r\n0\r\n\r\n")
        c.send(request("GET", "/trailers-forbidden", headers=[("TE", "trailers")]))
        r = c.read_response()
        assert r.raw.endswith(b"0\r\n\r\n")
    error = wait_for_file(os.path.join(srv.side_dir, "trailer-error"))
    assert "not allowed in trailers" in error


def test_early_hints_before_the_response_for_http_1_1_only(make_server):
    srv = make_server(APP)
    with srv.client() as c:
        c.send(request("GET", "/early"))
        hints = c.read_response()
        assert hints.status == 103
        assert hints.header_all("link") == [
            "</style.css>; rel=preload; as=style",
            "</app.js>; rel=preload; as=script",
        ]
        r = c.read_response()
        assert r.status == 200 and r.body == b"page"
        c.send(request("GET", "/early-late"))
        r = c.read_response()
        assert b"after the response started" in r.body
    with srv.client() as c:
        c.send(request("GET", "/early", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"page"


def test_zerocopysend_with_more_body_waits_while_the_file_is_unsent(make_server, tmp_path):
    srv = make_server(APP, "--no-access-log")
    big = make_file(tmp_path, "big.bin", 10 * 1000 * 1000)
    marker = os.path.join(srv.side_dir, "big-done")
    with srv.client(timeout=30) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.send(request("GET", f"/zerocopy?offset=0&mark=big-done&path={q(big)}"))
        time.sleep(0.5)
        # Backpressure: the file is unsent output, so send() still waits.
        assert not os.path.exists(marker)
        r = c.read_response()
        assert r.body == big.read_bytes() + b"<tail>"
    assert wait_for_file(marker) == "returned"
