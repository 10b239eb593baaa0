"""Request bodies as the application receives them, and receive() semantics."""

import hashlib
import json

import httpx

from rawhttp import request, wait_for_file


def test_content_length_body(server):
    body = bytes(range(256)) * 40
    r = httpx.post(f"{server.url}/echo", content=body, timeout=5)
    assert r.status_code == 200
    assert r.content == body


def test_chunked_body_with_extensions_and_trailers(server):
    with server.client() as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n"
            b'6;name="quoted value";flag\r\n world\r\n'
            b"A\r\n0123456789\r\n"
            b"0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n"
        )
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"hello world0123456789"
        # Trailers were consumed: the next request on the connection parses.
        c.send(request("GET", "/ident?after=trailers"))
        assert c.read_response().body == b"GET /ident?after=trailers"


def test_chunked_body_split_across_sends(server):
    """Chunk framing split at awkward places still yields the exact bytes."""
    payload = (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
    )
    with server.client() as c:
        for i in range(0, len(payload), 7):
            c.send(payload[i : i + 7])
        r = c.read_response()
        assert r.body == b"abc0123456789abcdef"


def test_large_body_arrives_in_several_events(server):
    body = hashlib.sha256(b"seed").digest() * (300 * 1024 // 32)  # 300 KiB
    r = httpx.post(f"{server.url}/body-events", content=body, timeout=10)
    assert r.status_code == 200
    info = r.json()
    assert info["size"] == len(body)
    assert info["sha256"] == hashlib.sha256(body).hexdigest()
    events = info["events"]
    assert len(events) >= 2, f"a 300 KiB body came in one event: {events}"
    assert all(more for _, more in events[:-1]), events
    assert events[-1][1] is False, events


def test_large_chunked_body_more_body_flags(server):
    body = b"x" * (200 * 1024)

    def chunks():
        for i in range(0, len(body), 10_000):
            yield body[i : i + 10_000]

    r = httpx.post(f"{server.url}/body-events", content=chunks(), timeout=10)
    info = r.json()
    assert info["size"] == len(body)
    assert len(info["events"]) >= 2
    assert [more for _, more in info["events"]] == [True] * (len(info["events"]) - 1) + [False]


def test_empty_body_is_one_event(server):
    r = httpx.get(f"{server.url}/body-events", timeout=5)
    assert r.json()["events"] == [[0, False]]


def test_receive_after_response_is_disconnect(server):
    with server.client() as c:
        c.send(request("POST", "/receive-after-response", body=b"abc"))
        r = c.read_response()
        assert r.status == 200
        # The connection stays open; receive() still reports the end.
        assert wait_for_file(server.side_file("after-response")) == "http.disconnect"


def test_disconnect_during_body(server):
    """The client goes away with the body unfinished: the app sees disconnect."""
    with server.client() as c:
        c.send(
            b"POST /wait-disconnect?tag=partial HTTP/1.1\r\nHost: t\r\n"
            b"Content-Length: 1000\r\n\r\n0123456789"
        )
        # Leave time for the app to receive the first piece before closing.
        c.sock.settimeout(0.3)
        try:
            c.sock.recv(1)
        except OSError:
            pass
    seen = json.loads(wait_for_file(server.side_file("disconnect-partial")))
    assert seen[-1] == "http.disconnect"
    assert set(seen[:-1]) <= {"http.request"}


def test_disconnect_after_body_while_waiting(server):
    """Body complete, no response yet, app waits in receive(): client closes."""
    with server.client() as c:
        c.send(request("POST", "/wait-disconnect?tag=complete", body=b"all of it"))
        c.sock.settimeout(0.3)
        try:
            c.sock.recv(1)
        except OSError:
            pass
    seen = json.loads(wait_for_file(server.side_file("disconnect-complete")))
    assert seen == ["http.request", "http.disconnect"]


def test_a_second_concurrent_receive_is_an_error(server):
    with server.client() as c:
        c.send(request("POST", "/receive-twice", headers=[("content-length", "5")]))
        r = c.read_response()
    assert (r.status, r.body) == (200, b"RuntimeError: receive() is already being awaited")
