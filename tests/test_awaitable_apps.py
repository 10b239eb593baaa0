"""Applications whose call returns an awaitable that is not a coroutine
(ASGI asks for an awaitable, not for a coroutine): http and websocket scopes
are served through ``__await__()``. An object that cannot be awaited is the
application's error: 500, with a message that says why."""

import signal

import pytest
from websockets.sync.client import connect

from rawhttp import request
from test_app_errors import answers_500_and_logs
from test_ws_support import ws_url

APPS = {
    "class": "awaitable_apps:AwaitableClass",
    "instance": "awaitable_apps:awaitable_instance",
    "generator": "awaitable_apps:generator_awaitable",
    "types.coroutine": "awaitable_apps:types_coroutine_app",
}


@pytest.mark.parametrize("kind", sorted(APPS))
def test_http_through_await(make_server, kind):
    srv = make_server(APPS[kind], "--lifespan", "off")
    with srv.client() as c:
        for _ in range(2):  # and the connection stays usable
            c.send(request("GET", "/"))
            r = c.read_response()
            assert r.status == 200, r
            assert r.body == f"kind={kind}".encode()
    srv.stop()
    assert "Traceback" not in srv.stderr_text()


@pytest.mark.parametrize("kind", sorted(APPS))
def test_websocket_through_await(make_server, kind):
    srv = make_server(APPS[kind], "--lifespan", "off")
    with connect(ws_url(srv, "/"), open_timeout=5) as ws:
        ws.send("one")
        assert ws.recv(timeout=5) == f"{kind}:one"
        ws.send("two")
        assert ws.recv(timeout=5) == f"{kind}:two"
    srv.stop()
    assert "Traceback" not in srv.stderr_text()


def test_object_without_await_is_500_and_logged(make_server):
    srv = make_server("awaitable_apps:not_awaitable", "--lifespan", "off", "--no-access-log")
    log = answers_500_and_logs(srv, "Exception in ASGI application")
    assert log.count("Exception in ASGI application") == 1, log
    assert "NotAwaitable" in log and "not awaitable" in log, log


def test_cancelling_an_iterator_without_throw(make_server):
    """The graceful-shutdown timeout cancels the task: the iterator from
    `__await__()` has no `throw`, so the CancelledError is raised at the
    await (as Python does), not replaced by an AttributeError."""
    srv = make_server(
        "awaitable_apps:iterator_without_throw",
        "--lifespan",
        "off",
        "--timeout-graceful-shutdown",
        "0.3",
    )
    with srv.client() as c:
        c.send(request("GET", "/"))
        c.assert_open(0.3)  # the application is waiting
        srv.signal(signal.SIGTERM)
        assert srv.wait(timeout=8) == 0
    log = srv.stderr_text()
    assert "cancelling 1 task" in log, log
    assert "Traceback" not in log and "AttributeError" not in log, log
