"""Slow and greedy clients: the request-header, request-body and send
timeouts, and --limit-concurrency.

Each test sets its timeout to 1 s; the server checks its timers once a
second, so a timeout fires between 1 and about 2 s after it starts. Each
also checks that the server released the connection (its descriptor count
is back to the baseline) and that another client is served meanwhile.
"""

import json
import socket
import time

import httpx
import pytest

from rawhttp import request, wait_for_file
from test_ws_support import handshake_request

SLOW = ("--timeout-request-header", "1", "--timeout-request-body", "1", "--timeout-send", "1")


def wait_for(predicate, timeout=5.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def warm_baseline(srv):
    """The server's descriptor count once a first request has been served
    (an event loop may open descriptors of its own on first use)."""
    assert httpx.get(f"{srv.url}/ident?warm-up", timeout=2).status_code == 200
    return srv.fds()


def assert_served(srv):
    """A well-behaved client on another connection is answered at once."""
    r = httpx.get(f"{srv.url}/hello", timeout=2)
    assert r.status_code == 200


def test_request_head_not_complete_in_time_gets_408(make_server):
    srv = make_server("testapp:app", *SLOW, "--timeout-keep-alive", "30")
    baseline = warm_baseline(srv)
    with srv.client(timeout=5) as slow:
        slow.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        started = time.monotonic()
        time.sleep(0.3)
        assert_served(srv)
        slow.send(b"a")  # a trickle does not restart the head's timer
        r = slow.read_response()
        elapsed = time.monotonic() - started
        assert r.status == 408
        assert r.has_token("connection", "close")
        assert b"Request header timeout" in r.body
        slow.assert_closed()
    # Within the timeout and one tick, although keep-alive would allow 30 s.
    assert 0.9 < elapsed < 4, elapsed
    wait_for(lambda: srv.fds() <= baseline, what="the descriptor to be released")
    assert "/hello" in httpx.get(f"{srv.url}/calls").json()
    assert httpx.get(f"{srv.url}/calls").json().count("/hello") == 1


def test_idle_connection_is_closed_silently_by_the_keep_alive_timeout(make_server):
    srv = make_server("testapp:app", *SLOW, "--timeout-keep-alive", "1")
    with srv.client(timeout=5) as idle:
        started = time.monotonic()
        assert idle.read_until_close() == b""  # no 408 for a connection that sent nothing
        assert time.monotonic() - started < 4


def test_stalled_request_body_gets_408_and_the_app_a_disconnect(make_server):
    srv = make_server("testapp:app", *SLOW)
    baseline = warm_baseline(srv)
    with srv.client(timeout=5) as slow:
        slow.send(request("POST", "/wait-disconnect?tag=body", headers=[("content-length", "100")]))
        slow.send(b"x" * 10)
        started = time.monotonic()
        assert_served(srv)
        r = slow.read_response()
        elapsed = time.monotonic() - started
        assert r.status == 408
        assert b"Request body timeout" in r.body
        slow.assert_closed()
    assert 0.9 < elapsed < 4, elapsed
    seen = json.loads(wait_for_file(srv.side_file("disconnect-body")))
    assert seen[-1] == "http.disconnect"
    wait_for(lambda: srv.fds() <= baseline, what="the descriptor to be released")


def test_body_trickling_faster_than_the_timeout_is_not_cut(make_server):
    srv = make_server("testapp:app", *SLOW)
    with srv.client(timeout=5) as c:
        c.send(request("POST", "/echo", headers=[("content-length", "6")]))
        for piece in (b"ab", b"cd", b"ef"):
            time.sleep(0.6)  # each gap under 1 s, 1.8 s in all
            c.send(piece)
        r = c.read_response()
        assert (r.status, r.body) == (200, b"abcdef")


def test_app_waiting_on_a_client_that_reads_nothing_gets_client_disconnected(make_server):
    srv = make_server("testapp:app", *SLOW, "--no-access-log")
    baseline = warm_baseline(srv)
    sleeper = socket.create_connection((srv.host, srv.port))
    try:
        sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper.sendall(request("GET", "/stream-forever?tag=send"))
        assert_served(srv)
        outcome = json.loads(wait_for_file(srv.side_file("stream-forever-send"), timeout=6))
        assert outcome == {"type": "ClientDisconnected", "oserror": True}
        wait_for(lambda: srv.fds() <= baseline, what="the descriptor to be released")
    finally:
        sleeper.close()
    assert "Exception in ASGI application" not in srv.stderr_text()


def test_zero_disables_the_timeouts(make_server):
    srv = make_server(
        "testapp:app", "--timeout-request-header", "0", "--timeout-request-body", "0", "--timeout-keep-alive", "30"
    )
    with srv.client(timeout=5) as slow:
        slow.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n")
        slow.assert_open(wait=2.5)
        slow.send(b"ok")
        assert slow.read_response().body == b"ok"
        slow.send(b"GET /hello HTTP/1.1\r\n")
        slow.assert_open(wait=2.5)
        slow.send(b"Host: t\r\n\r\n")
        assert slow.read_response().status == 200


def test_requests_beyond_the_concurrency_limit_get_503(make_server):
    srv = make_server("testapp:app", "--limit-concurrency", "2")
    baseline = warm_baseline(srv)
    with srv.client(timeout=5) as first, srv.client(timeout=5) as second:
        first.send(request("GET", "/sleep?s=1.5"))
        second.send(request("GET", "/sleep?s=1.5"))
        time.sleep(0.3)  # both tasks are running
        with srv.client(timeout=5) as third:
            third.send(request("GET", "/hello"))
            r = third.read_response()
            assert r.status == 503
            assert r.has_token("connection", "close")
            third.assert_closed()
        with srv.client(timeout=5) as ws:
            ws.send(handshake_request("/ws"))
            assert ws.read_response().status == 503
        assert first.read_response().status == 200
        assert second.read_response().status == 200
    # The refused requests never reached the application.
    calls = httpx.get(f"{srv.url}/calls").json()
    assert "/hello" not in calls and "/ws" not in calls
    assert httpx.get(f"{srv.url}/hello").status_code == 200
    # A crowd beyond the limit is refused and leaves nothing behind.
    crowd = [socket.create_connection((srv.host, srv.port), timeout=5) for _ in range(50)]
    for sock in crowd:
        sock.sendall(request("GET", "/hello"))
    answers = [sock.recv(64) for sock in crowd]
    assert sum(a.startswith(b"HTTP/1.1 503") for a in answers) >= 48
    for sock in crowd:
        sock.close()
    wait_for(lambda: srv.fds() <= baseline, what="the descriptors to be released")


@pytest.mark.parametrize(
    "flag, value",
    [("--timeout-send", "-1"), ("--timeout-request-body", "x"), ("--limit-concurrency", "0")],
)
def test_invalid_values_are_usage_errors(run_cli, flag, value):
    result = run_cli("testapp:app", flag, value)
    assert result.returncode == 2
    assert flag in result.stderr
