"""The HTTP connection scope the application receives (ASGI HTTP 2.5)."""

import pytest

from rawhttp import request, unbytes


def get_scope(client, raw):
    client.send(raw)
    r = client.read_response()
    assert r.status == 200, r
    return unbytes(r.json())


def test_scope_basics(server):
    with server.client() as c:
        scope = get_scope(c, request("GET", "/scope?x=1&y=%20"))
        local_port = c.sock.getsockname()[1]
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == b"/scope"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["client"] == ["127.0.0.1", local_port]
    assert scope["server"] == ["127.0.0.1", server.port]
    assert isinstance(scope["extensions"], dict)


def test_http10_version(server):
    with server.client() as c:
        scope = get_scope(c, request("GET", "/scope", version="HTTP/1.0", host=None))
    assert scope["http_version"] == "1.0"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE"])
def test_method(server, method):
    with server.client() as c:
        scope = get_scope(c, request(method, "/scope", body=b"x" if method in ("POST", "PUT") else b""))
    assert scope["method"] == method


def test_percent_decoded_path(server):
    srv = server
    with srv.client() as c:
        c.send(request("GET", "/a%20b/%C3%A9?q=%20"))
        r = c.read_response()
    # testapp answers 404 for unknown routes but the path it was called with is
    # listed by /calls, which is enough to see the decoding.
    assert r.status == 404
    with srv.client() as c:
        c.send(request("GET", "/calls"))
        calls = c.read_response().json()
    assert "/a b/\u00e9" in calls


def test_raw_path_keeps_encoding(server):
    """/scope with an encoded character: path decoded, raw_path as sent."""
    with server.client() as c:
        scope = get_scope(c, request("GET", "/sc%6Fpe?a=%2F"))
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == b"/sc%6Fpe"
    assert scope["query_string"] == b"a=%2F"


def test_headers_lowercase_ordered_with_duplicates(server):
    with server.client() as c:
        scope = get_scope(
            c,
            b"GET /scope HTTP/1.1\r\n"
            b"Host: example.test\r\n"
            b"X-Dup: first\r\n"
            b"Accept: */*\r\n"
            b"X-DUP: second\r\n"
            b"X-Mixed-Case:   Value With Spaces  \r\n"
            b"\r\n",
        )
    assert scope["headers"] == [
        [b"host", b"example.test"],
        [b"x-dup", b"first"],
        [b"accept", b"*/*"],
        [b"x-dup", b"second"],
        [b"x-mixed-case", b"Value With Spaces"],
    ]


def test_root_path(make_server):
    srv = make_server("testapp:app", "--root-path", "/api")
    with srv.client() as c:
        scope = get_scope(c, request("GET", "/scope"))
    assert scope["root_path"] == "/api"


def test_absolute_form_target(server):
    with server.client() as c:
        scope = get_scope(
            c, b"GET http://example.com/scope?y=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
        )
    assert scope["path"] == "/scope"
    assert scope["query_string"] == b"y=1"


def test_scope_keys_in_order_and_no_mutable_part_shared_between_requests(server):
    with server.client() as c:
        first = get_scope(c, request("GET", "/scope"))
        second = get_scope(c, request("GET", "/scope"))
    assert list(second) == [
        "type", "asgi", "http_version", "method", "scheme", "path", "raw_path", "query_string",
        "root_path", "headers", "client", "server", "state", "extensions",
    ]  # fmt: skip
    # /scope mutates asgi, extensions and headers after answering.
    for scope in (first, second):
        assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
        assert scope["extensions"] == {
            "http.response.pathsend": {},
            "http.response.zerocopysend": {},
            "http.response.trailers": {},
            "http.response.early_hint": {},
        }
        assert [b"x-mutated", b"1"] not in scope["headers"]


def test_lifespan_state_is_copied_per_request(server):
    with server.client() as c:
        first = get_scope(c, request("GET", "/scope"))
        second = get_scope(c, request("GET", "/scope"))
    # Startup set these; /scope sets state["mutated"] after answering.
    for scope in (first, second):
        assert scope["state"]["started"] is True
        assert scope["state"]["shared"] == {"note": "set at startup"}
        assert "mutated" not in scope["state"]
