"""Response framing and the headers the server adds."""

import email.utils
import time

import h11
import pytest

from rawhttp import IMF_FIXDATE, request


def h11_exchange(client, target, method="GET"):
    """Sends one request with h11 over a raw socket; returns (response, data, raw bytes)."""
    conn = h11.Connection(our_role=h11.CLIENT)
    client.send(conn.send(h11.Request(method=method, target=target, headers=[("Host", "t")])))
    client.send(conn.send(h11.EndOfMessage()))
    response, data, raw = None, b"", b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            chunk = client.sock.recv(65536)
            raw += chunk
            conn.receive_data(chunk)
            continue
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            data += event.data
        elif isinstance(event, h11.EndOfMessage):
            return response, data, raw
        else:
            raise AssertionError(f"unexpected h11 event {event!r}")


def test_unknown_length_is_chunked(server):
    with server.client() as c:
        response, data, raw = h11_exchange(c, "/chunked")
        assert response.status_code == 200
        headers = dict(response.headers)
        assert headers[b"transfer-encoding"] == b"chunked"
        assert b"content-length" not in headers
        assert data == b"part1,part2,part3"
        # The framing itself: hex sizes, CRLFs, a last-chunk and the final CRLF.
        body = raw.split(b"\r\n\r\n", 1)[1]
        assert body.endswith(b"0\r\n\r\n")
        for part in (b"part1,", b"part2,", b"part3"):
            assert b"%x\r\n%s\r\n" % (len(part), part) in body
        assert b"0\r\n\r\n" not in body[:-5], "an empty body message must not end the response early"
        # And the connection is reusable afterwards.
        c.send(request("GET", "/ident?next=1"))
        assert c.read_response().body == b"GET /ident?next=1"


@pytest.mark.parametrize("target", ["/hello", "/chunked"])
def test_head_has_headers_but_no_body(server, target):
    with server.client() as c:
        c.send(request("HEAD", target))
        r = c.read_response(method="HEAD")
        assert r.status == 200
        if target == "/hello":
            assert r.header("content-length") == "13"
        # No body bytes: the next response on the connection starts right away.
        c.assert_open(0.2)
        c.send(request("GET", "/ident?after=head"))
        r2 = c.read_response()
        assert r2.status == 200
        assert r2.body == b"GET /ident?after=head"


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(server, code):
    with server.client() as c:
        c.send(request("GET", f"/status?code={code}"))
        r = c.read_response()
        assert r.status == code
        assert r.header("transfer-encoding") is None
        c.assert_open(0.2)  # no stray body or last-chunk bytes
        c.send(request("GET", "/ident?after=%d" % code))
        assert c.read_response().body == b"GET /ident?after=%d" % code


def test_date_and_server_headers(server, server_kind):
    with server.client() as c:
        c.send(request("GET", "/hello"))
        r = c.read_response()
    date = r.header("date")
    assert date is not None
    assert IMF_FIXDATE.match(date), date
    assert abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time()) < 5
    assert r.header_all("server") == [server_kind.server_header]


def test_a_response_sent_after_a_wait_carries_the_date_it_was_sent(server):
    # The clock is read once per driver pass; a response written later, by
    # an application that awaited something, must not reuse that reading.
    with server.client() as c:
        c.send(request("GET", "/sleep?s=2.2"))
        sent_at = time.time()
        r = c.read_response()
    assert r.status == 200
    date = email.utils.parsedate_to_datetime(r.header("date")).timestamp()
    assert date >= int(sent_at) + 2, (r.header("date"), sent_at)


def test_no_server_and_no_date_header(make_server):
    srv = make_server("testapp:app", "--no-server-header", "--no-date-header")
    with srv.client() as c:
        c.send(request("GET", "/hello"))
        r = c.read_response()
    assert r.status == 200
    assert r.header("server") is None
    assert r.header("date") is None


def test_extra_headers(make_server):
    srv = make_server("testapp:app", "--header", "x-foo:bar", "--header", "x-other: two words")
    with srv.client() as c:
        c.send(request("GET", "/hello"))
        r = c.read_response()
        assert r.header("x-foo") == "bar"
        assert r.header("x-other") == "two words"
        # On every response, not only the first.
        c.send(request("GET", "/chunked"))
        assert c.read_response().header("x-foo") == "bar"


def test_expect_continue_not_sent_when_app_does_not_read(server):
    with server.client() as c:
        c.send(
            b"POST /no-read HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        r = c.read_response()
        assert r.status == 200, f"expected the final response first, got {r.raw!r}"
        assert r.body == b"answered without reading"
        assert b"100 Continue" not in r.raw


def test_expect_continue_sent_when_app_reads(server):
    with server.client() as c:
        c.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        interim = c.read_response()
        assert interim.status == 100
        assert interim.raw.startswith(b"HTTP/1.1 100 Continue\r\n")
        c.send(b"0123456789")
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"0123456789"
