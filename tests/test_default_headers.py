"""Server-wide default headers: the built-in ``date`` and ``server``, and the
extra ones from ``--header`` or ``run(headers=...)``.

As in uvicorn, a default given with ``--header`` replaces the built-in one
of the same name (one ``server`` field, not two), and the defaults come
before the application's own headers. An application's own ``date`` or
``server`` replaces the default (uvicorn would send both).
"""

import json
import socket
import subprocess
import sys
import time

import pytest
from websockets.sync.client import connect

from conftest import APPS, ROOT, START_TIMEOUT, STOP_TIMEOUT, free_port
from rawhttp import RawClient, request
from test_ws_support import ws_url


def get(host, port, path):
    with RawClient(host, port) as c:
        c.send(request("GET", path))
        return c.read_response()


def field_names(response):
    return [name for name, _ in response.headers]


def test_builtin_defaults_come_before_the_app_headers(server):
    r = get(server.host, server.port, "/hello")
    assert field_names(r) == ["date", "server", "content-type", "content-length"]


def test_header_option_replaces_builtin_server_and_date(make_server):
    srv = make_server(
        "testapp:app", "--header", "server: custom", "--header", "date: fixed", "--header", "x-foo: bar"
    )
    r = get(srv.host, srv.port, "/hello")
    assert r.header_all("server") == ["custom"]
    assert r.header_all("date") == ["fixed"]
    assert field_names(r) == ["server", "date", "x-foo", "content-type", "content-length"]


def test_header_option_server_without_the_builtin_one(make_server):
    srv = make_server("testapp:app", "--no-server-header", "--header", "server: custom")
    assert get(srv.host, srv.port, "/hello").header_all("server") == ["custom"]


def test_app_server_header_replaces_the_header_option(make_server):
    srv = make_server("testapp:app", "--header", "server: custom")
    r = get(srv.host, srv.port, "/own-server-header")
    assert r.header_all("server") == ["the-app"]


def test_header_option_replaces_builtin_server_in_websocket_accept(make_server):
    srv = make_server("ws_echo:app", "--header", "server: custom", "--lifespan", "off")
    with connect(ws_url(srv, "/"), open_timeout=5) as ws:
        assert ws.response.headers.get_all("server") == ["custom"]


@pytest.fixture
def serve_with_run(tmp_path):
    """Starts tests/apps/serve_with_run.py with run() options; returns the port."""
    procs = []

    def start(options):
        port = free_port()
        log = open(tmp_path / f"run-{port}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, str(APPS / "serve_with_run.py"), str(port), json.dumps(options)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append((proc, log))
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / f"run-{port}.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return port
            except OSError:
                time.sleep(0.05)
        pytest.fail("run() did not listen in time")

    yield start
    for proc, log in procs:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_run_headers_replace_builtin_server(serve_with_run):
    port = serve_with_run({"headers": [["server", "via-run"], ["x-via", "run"]]})
    r = get("127.0.0.1", port, "/hello")
    assert r.header_all("server") == ["via-run"]
    assert field_names(r) == ["date", "server", "x-via", "content-type", "content-length"]
