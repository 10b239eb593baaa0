"""Requests, keep-alive, pipelining and connection closing."""

import httpx

from rawhttp import request


def test_get_with_httpx(server):
    r = httpx.get(f"{server.url}/hello", timeout=5)
    assert r.status_code == 200
    assert r.text == "Hello, world!"
    assert r.headers["content-length"] == "13"
    assert r.headers["content-type"].startswith("text/plain")


def test_keep_alive_two_requests_one_socket(server):
    with server.client() as c:
        c.send(request("GET", "/ident?n=1"))
        first = c.read_response()
        c.send(request("GET", "/ident?n=2"))
        second = c.read_response()
        assert (first.status, first.body) == (200, b"GET /ident?n=1")
        assert (second.status, second.body) == (200, b"GET /ident?n=2")
        assert not first.has_token("connection", "close")
        c.assert_open()


def test_pipelining_answers_in_order(server):
    with server.client() as c:
        c.send(
            request("GET", "/ident?n=1")
            + request("POST", "/echo", body=b"second request body")
            + request("GET", "/ident?n=3")
        )
        bodies = [c.read_response().body for _ in range(3)]
        assert bodies == [b"GET /ident?n=1", b"second request body", b"GET /ident?n=3"]
        c.assert_open()


def test_pipelined_requests_with_bodies(server):
    """Bodies of pipelined requests do not leak into each other."""
    with server.client() as c:
        c.send(b"".join(request("POST", "/echo", body=b"body %d" % i * (i + 1)) for i in range(5)))
        for i in range(5):
            assert c.read_response().body == b"body %d" % i * (i + 1)


def test_http10_closes_after_response(server):
    with server.client() as c:
        c.send(request("GET", "/hello", version="HTTP/1.0", host=None))
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"Hello, world!"
        assert not r.has_token("connection", "keep-alive")
        c.assert_closed()


def test_http10_unknown_length_is_close_delimited(server):
    with server.client() as c:
        c.send(request("GET", "/chunked", version="HTTP/1.0", host=None))
        r = c.read_response()
        assert r.status == 200
        assert r.header("transfer-encoding") is None, "HTTP/1.0 has no chunked encoding"
        assert r.header("content-length") is None
        # read_response read until close since there is no framing header.
        assert r.body == b"part1,part2,part3"
        assert c.eof


def test_http10_keep_alive(server):
    with server.client() as c:
        c.send(request("GET", "/hello", [("Connection", "keep-alive")], version="HTTP/1.0", host=None))
        r = c.read_response()
        assert r.status == 200
        assert r.has_token("connection", "keep-alive")
        assert r.body == b"Hello, world!"
        c.assert_open()
        c.send(request("GET", "/ident?again=1", [("Connection", "keep-alive")], version="HTTP/1.0", host=None))
        assert c.read_response().body == b"GET /ident?again=1"


def test_client_connection_close(server):
    with server.client() as c:
        c.send(request("GET", "/hello", [("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"Hello, world!"
        c.assert_closed()


def test_client_connection_close_ends_pipeline(server):
    """Nothing after the request that said close is answered."""
    with server.client() as c:
        c.send(request("GET", "/ident?n=1", [("Connection", "close")]) + request("GET", "/ident?n=2"))
        assert c.read_response().body == b"GET /ident?n=1"
        c.assert_closed()


def test_app_connection_close_header(server):
    with server.client() as c:
        c.send(request("GET", "/close"))
        r = c.read_response()
        assert r.status == 200
        assert r.has_token("connection", "close")
        assert r.body == b"closing"
        c.assert_closed()
