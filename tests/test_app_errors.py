"""Application exceptions and applications that never answer."""

import socket

from rawhttp import request


def test_exception_before_start_is_500_and_logged_once(make_server):
    srv = make_server("testapp:app", "--no-access-log")
    with srv.client() as c:
        c.send(request("GET", "/raise-before"))
        r = c.read_response()
        assert r.status == 500
        assert r.has_token("connection", "close")
        c.assert_closed()
    # Other requests are still served.
    with srv.client() as c:
        c.send(request("GET", "/hello"))
        assert c.read_response().status == 200
    srv.stop()
    log = srv.stderr_text()
    assert log.count("Traceback") == 1, log
    assert "RuntimeError: boom-before-start" in log


def test_exception_after_start_closes_without_second_response(make_server):
    srv = make_server("testapp:app", "--no-access-log")
    with srv.client() as c:
        c.send(request("GET", "/raise-after"))
        version, status, _, headers, _ = c.read_head()
        assert status == 200
        assert ("transfer-encoding", "chunked") in headers
        try:
            rest = c.read_until_close()
        except socket.timeout:
            raise AssertionError(f"connection left open after the app failed: {c.buf!r}") from None
    assert rest.startswith(b"7\r\npartial\r\n"), rest
    assert not rest.endswith(b"0\r\n\r\n"), "a failed response must not look complete"
    assert b"HTTP/1." not in rest, "no second response after the first one started"
    srv.stop()
    log = srv.stderr_text()
    assert log.count("Traceback") == 1, log
    assert "RuntimeError: boom-after-start" in log


def test_returning_without_response_is_500_and_logged(make_server):
    srv = make_server("testapp:app", "--no-access-log")
    before = srv.stderr_text()
    with srv.client() as c:
        c.send(request("GET", "/no-response"))
        r = c.read_response()
        assert r.status == 500
    srv.stop()
    new = srv.stderr_text()[len(before) :]
    assert "error" in new.lower(), f"nothing logged for an app that did not respond: {new!r}"


def answers_500_and_logs(srv, expected):
    """One request gets a 500 that closes the connection, and the log says `expected`; returns the log."""
    with srv.client() as c:
        c.send(request("GET", "/"))
        r = c.read_response()
        assert r.status == 500
        assert r.has_token("connection", "close")
    srv.stop()
    log = srv.stderr_text()
    assert expected in log, log
    return log


def test_app_call_raising_is_500_and_logged(make_server):
    """The exception comes from app(scope, receive, send), before any coroutine runs."""
    srv = make_server("not_async_apps:raises_on_call", "--no-access-log")
    answers_500_and_logs(srv, "RuntimeError: raised by the call itself")


def test_app_returning_non_awaitable_is_500_and_logged(make_server):
    """The app returned None instead of a coroutine: stepping it fails."""
    srv = make_server("not_async_apps:returns_none", "--no-access-log")
    answers_500_and_logs(srv, "Exception in ASGI application")
