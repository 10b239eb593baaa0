"""send() validates what the application sends."""

import json
import socket

import pytest

from rawhttp import Closed, request, wait_for_file

from apps.testapp import BAD_SENDS  # noqa: E402  (the kinds the app knows)


@pytest.mark.parametrize("kind", sorted(BAD_SENDS))
def test_invalid_message_raises_in_app(server, kind):
    with server.client() as c:
        c.send(request("GET", f"/send-check?kind={kind}"))
        try:
            c.read_response()  # 500, or a close: either way the exchange ends
        except Closed:
            pass
    seen = wait_for_file(server.side_file(f"send-{kind}"))
    assert seen != "no-exception", f"send() accepted an invalid {kind} message"


@pytest.mark.parametrize("code", [600, 999])
def test_status_above_599_is_500_and_logged_once(make_server, code):
    """RFC 9110 §15: a status is three digits from 100 to 599 (1xx is not final)."""
    srv = make_server("testapp:app", "--no-access-log")
    with srv.client() as c:
        c.send(request("GET", f"/status?code={code}"))
        r = c.read_response()
        assert r.status == 500, r
        assert r.body == b"Internal Server Error"
    srv.stop()
    log = srv.stderr_text()
    assert log.count("Traceback") == 1, log
    assert f"Invalid response status {code}" in log, log


def test_header_injection_never_reaches_the_wire(server):
    with server.client() as c:
        c.send(request("GET", "/crlf-header"))
        raw = b""
        try:
            r = c.read_response()
            raw = r.raw
            assert r.status == 500, r
        except Closed:
            raw = c.buf
        try:
            raw += c.read_until_close()
        except socket.timeout:
            raw += c.buf
    assert b"x-injected" not in raw.lower()
    assert b"should not be sent" not in raw


def test_send_after_disconnect_raises_oserror_quietly(make_server):
    srv = make_server("testapp:app", "--no-access-log")
    with srv.client() as c:
        c.send(request("POST", "/send-after-disconnect", body=b"x"))
        c.assert_open(0.2)  # the app is waiting for the disconnect
    seen = json.loads(wait_for_file(srv.side_file("send-after-disconnect")))
    assert seen["oserror"] is True, f"send() after disconnect raised {seen['type']}"
    srv.stop()
    log = srv.stderr_text()
    assert "Traceback" not in log, log
    assert "ERROR" not in log, log


def test_message_keys_made_at_run_time_are_read_like_literal_ones(server):
    # send() matches keys by identity with the interned names first; keys
    # built at run time (and str subclasses) must still be found by value.
    with server.client() as c:
        c.send(request("GET", "/runtime-keys"))
        r = c.read_response()
        assert r.status == 203
        assert r.header("x-made") == "at run time"
        assert r.header("transfer-encoding") == "chunked"  # more_body was honoured
        assert r.body == b"one,two"
        c.send(request("GET", "/hello"))
        assert c.read_response().status == 200
