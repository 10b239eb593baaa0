"""Malformed or oversized requests are refused, never passed to the app.

Each case goes over its own raw socket and must get: the given status, a
`connection: close` header, a short text/plain reason, then the close. The
app must not be called for it (every path the app sees is listed by
/calls), and a good request on another connection is served meanwhile.
"""

import itertools

import httpx
import pytest

_ids = itertools.count()


def head(lines, target):
    return ("\r\n".join([f"POST {target} HTTP/1.1", *lines]) + "\r\n\r\n").encode("latin-1")


def assert_rejected(srv, build, statuses, app_may_see_it=False):
    """Sends the bad bytes built for a unique path; checks the refusal."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    marker = f"/strict-{next(_ids)}"
    with srv.client() as good, srv.client() as bad:
        bad.send(build(marker))
        r = bad.read_response()
        assert r.status in statuses, r
        assert r.has_token("connection", "close"), r
        assert (r.header("content-type") or "").startswith("text/plain"), r
        assert 0 < len(r.body) < 200, r
        bad.assert_closed()
        # The other connection was unaffected.
        good.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        assert good.read_response().body == b"Hello, world!"
    if not app_may_see_it:
        calls = httpx.get(f"{srv.url}/calls", timeout=5).json()
        assert marker not in calls, f"the app was called for a refused request: {calls}"
    return r


def test_content_length_and_transfer_encoding(server):
    assert_rejected(
        server,
        lambda t: head(["Host: t", "Content-Length: 5", "Transfer-Encoding: chunked"], t)
        + b"0\r\n\r\n",
        400,
    )


def test_two_different_content_lengths(server):
    assert_rejected(
        server, lambda t: head(["Host: t", "Content-Length: 5", "Content-Length: 6"], t) + b"hello!", 400
    )


def test_content_length_list_with_different_values(server):
    assert_rejected(server, lambda t: head(["Host: t", "Content-Length: 5, 6"], t) + b"hello!", 400)


@pytest.mark.parametrize("value", ["+5", "abc", "-1", "5 5", "0x5"])
def test_bad_content_length(server, value):
    assert_rejected(server, lambda t: head(["Host: t", f"Content-Length: {value}"], t) + b"hello", 400)


@pytest.mark.parametrize("value", ["gzip", "chunked, gzip", "chunked, chunked", "identity"])
def test_unsupported_transfer_encoding(server, value):
    assert_rejected(
        server, lambda t: head(["Host: t", f"Transfer-Encoding: {value}"], t) + b"0\r\n\r\n", (400, 501)
    )


# Body errors: the head is valid, so the app may already have been started
# when the bad body bytes are parsed; only the refusal itself is asserted.
# They go to /echo, which reads the whole body before answering.


def test_bad_chunk_size(server):
    assert_rejected(
        server,
        lambda t: head(["Host: t", "Transfer-Encoding: chunked"], "/echo") + b"zz\r\nhello\r\n0\r\n\r\n",
        400,
        app_may_see_it=True,
    )


def test_missing_crlf_after_chunk_data(server):
    assert_rejected(
        server,
        lambda t: head(["Host: t", "Transfer-Encoding: chunked"], "/echo") + b"5\r\nhelloXX0\r\n\r\n",
        400,
        app_may_see_it=True,
    )


def test_obs_fold(server):
    assert_rejected(server, lambda t: head(["Host: t", "X-Folded: first", "  second"], t), 400)


def test_space_before_colon(server):
    assert_rejected(server, lambda t: head(["Host: t", "X-Bad : value"], t), 400)


@pytest.mark.parametrize("value", ["a\x00b", "a\rb"])
def test_control_char_in_header_value(server, value):
    assert_rejected(server, lambda t: head(["Host: t", f"X-Bad: {value}"], t), 400)


def test_request_line_too_long(server):
    assert_rejected(server, lambda t: f"GET {t}?{'a' * 10_000} HTTP/1.1\r\nHost: t\r\n\r\n".encode(), 414)


def test_header_block_too_large(server):
    fields = [f"X-Big-{i}: {'v' * 500}" for i in range(40)]  # ~20 KiB, 40 fields
    assert_rejected(server, lambda t: head(["Host: t", *fields], t), 431)


def test_too_many_headers(server):
    fields = [f"X-N{i}: {i}" for i in range(150)]  # ~2 KiB, 150 fields
    assert_rejected(server, lambda t: head(["Host: t", *fields], t), 431)


def test_body_over_limit(make_server):
    srv = make_server("testapp:app", "--limit-request-body", "1000")
    assert_rejected(srv, lambda t: head(["Host: t", "Content-Length: 2000"], t) + b"x" * 2000, 413)
    # At the limit is fine.
    r = httpx.post(f"{srv.url}/echo", content=b"y" * 1000, timeout=5)
    assert r.status_code == 200
    assert r.content == b"y" * 1000


def test_chunked_body_over_limit(make_server):
    srv = make_server("testapp:app", "--limit-request-body", "1000")
    body = b"".join(b"100\r\n" + b"z" * 256 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"
    assert_rejected(
        srv,
        lambda t: head(["Host: t", "Transfer-Encoding: chunked"], "/echo") + body,
        413,
        app_may_see_it=True,
    )


def test_http2_version(server):
    assert_rejected(server, lambda t: f"GET {t} HTTP/2.0\r\nHost: t\r\n\r\n".encode(), 505)


def test_missing_host_on_http11(server):
    assert_rejected(server, lambda t: f"GET {t} HTTP/1.1\r\nAccept: */*\r\n\r\n".encode(), 400)


def test_two_host_headers(server):
    assert_rejected(server, lambda t: f"GET {t} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".encode(), 400)


def test_garbage_request_line(server):
    assert_rejected(server, lambda t: f"GET {t}\r\nHost: t\r\n\r\n".encode(), 400)


@pytest.mark.parametrize(
    "suffix",
    [
        pytest.param("/äöü".encode(), id="utf8-path"),
        pytest.param("?q=äöü".encode(), id="utf8-query"),
        pytest.param(b"/\xff", id="latin1-byte"),
    ],
)
def test_raw_non_ascii_in_request_target(server, suffix):
    """RFC 9112 §3.2 and RFC 3986: a request-target is ASCII; other
    characters travel percent-encoded. The HTTP/1.0 line mirrors the issue."""
    r = assert_rejected(server, lambda t: f"GET {t}".encode() + suffix + b" HTTP/1.0\r\n\r\n", 400)
    assert r.body == b"Non-ASCII byte in request target\n", r


def test_non_ascii_header_value_is_accepted(server):
    """obs-text in a field value stays allowed (RFC 9110 §5.5)."""
    with server.client() as c:
        c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Name: caf\xc3\xa9\r\n\r\n")
        assert c.read_response().status == 200
