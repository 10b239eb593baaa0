"""--proxy-headers and --forwarded-allow-ips: X-Forwarded-For/-Proto and
RFC 7239 Forwarded from trusted and untrusted peers, over real sockets."""

import json
import time

import pytest
from websockets.sync.client import connect

from rawhttp import request

APP = "edge_app:app"


def log_lines(server, needle, timeout=3.0):
    """The server's stderr lines holding needle, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in server.stderr_text().splitlines() if needle in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def scope_of(server, headers=(), target="/"):
    with server.client() as c:
        c.send(request("GET", target, headers))
        response = c.read_response()
    assert response.status == 200
    return response.json()


@pytest.fixture(scope="module")
def default_server(server_kind, loop_name, tmp_path_factory):
    """Default trust list (127.0.0.1, ::1): the test client is trusted."""
    from conftest import ServerFactory

    factory = ServerFactory(server_kind, loop_name, tmp_path_factory.mktemp("proxy"))
    yield factory(APP)
    factory.stop_all()


def test_without_proxy_headers_the_peer_is_the_client(default_server):
    scope = scope_of(default_server)
    assert scope["client"][0] == "127.0.0.1"
    assert scope["client"][1] > 0
    assert scope["scheme"] == "http"
    assert scope["server"] == ["127.0.0.1", default_server.port]


def test_x_forwarded_for_and_proto_from_a_trusted_peer(default_server):
    scope = scope_of(default_server, [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")])
    assert scope["client"] == ["203.0.113.7", 0]
    assert scope["scheme"] == "https"
    scope = scope_of(default_server, [("X-Forwarded-For", "6.6.6.6, 203.0.113.7")])
    assert scope["client"] == ["203.0.113.7", 0], "the nearest untrusted hop, not what the client claims"
    assert scope["scheme"] == "http"
    scope = scope_of(default_server, [("X-Forwarded-Proto", "gopher")])
    assert scope["scheme"] == "http"
    assert scope["client"][0] == "127.0.0.1"


def test_forwarded_rfc7239(default_server):
    scope = scope_of(default_server, [("Forwarded", 'for="[2001:db8::17]:4711";proto=https;by=unknown')])
    assert scope["client"] == ["2001:db8::17", 4711]
    assert scope["scheme"] == "https"
    scope = scope_of(default_server, [("Forwarded", "for=192.0.2.60;proto=http, for=127.0.0.1;proto=https")])
    assert scope["client"] == ["192.0.2.60", 0]
    assert scope["scheme"] == "http"
    # Forwarded wins over X-Forwarded-For.
    scope = scope_of(default_server, [("X-Forwarded-For", "1.1.1.1"), ("Forwarded", "for=2.2.2.2")])
    assert scope["client"] == ["2.2.2.2", 0]


def test_each_request_of_a_kept_alive_connection_has_its_own_client(default_server):
    with default_server.client() as c:
        seen = []
        for forwarded in ["198.51.100.1", "198.51.100.2", None]:
            headers = [("X-Forwarded-For", forwarded)] if forwarded else []
            c.send(request("GET", "/", headers))
            seen.append(c.read_response().json()["client"][0])
    assert seen == ["198.51.100.1", "198.51.100.2", "127.0.0.1"]


def test_websocket_scheme_from_x_forwarded_proto(default_server):
    url = f"ws://127.0.0.1:{default_server.port}/ws"
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with connect(url, additional_headers=headers, open_timeout=5) as ws:
        scope = json.loads(ws.recv(timeout=5))
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "wss"
    assert scope["client"] == ["203.0.113.9", 0]


def test_access_log_shows_the_forwarded_client(default_server):
    scope_of(default_server, [("X-Forwarded-For", "192.0.2.44")], target="/logged")
    assert log_lines(default_server, "/logged") == ['INFO:     192.0.2.44:0 - "GET /logged HTTP/1.1" 200']


@pytest.mark.parametrize(
    "args, env",
    [
        (["--forwarded-allow-ips", "10.0.0.1"], None),
        ([], {"FORWARDED_ALLOW_IPS": "10.0.0.0/8"}),
        (["--no-proxy-headers"], None),
    ],
    ids=["untrusted-by-flag", "untrusted-by-env", "no-proxy-headers"],
)
def test_untrusted_peer_or_off_is_ignored(make_server, args, env):
    server = make_server(APP, *args, env=env)
    scope = scope_of(
        server, [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"), ("Forwarded", "for=1.2.3.4")]
    )
    assert scope["client"][0] == "127.0.0.1"
    assert scope["scheme"] == "http"


def test_trust_list_with_networks_and_star(make_server):
    server = make_server(APP, "--forwarded-allow-ips", "10.0.0.0/8, 127.0.0.1")
    scope = scope_of(server, [("X-Forwarded-For", "6.6.6.6, 192.0.2.1, 10.1.2.3")])
    assert scope["client"] == ["192.0.2.1", 0]
    scope = scope_of(server, [("X-Forwarded-For", "10.9.9.9, 10.1.2.3")])
    assert scope["client"] == ["10.9.9.9", 0], "all trusted: the leftmost"
    server = make_server(APP, "--forwarded-allow-ips", "*")
    scope = scope_of(server, [("X-Forwarded-For", "6.6.6.6, 192.0.2.1")])
    assert scope["client"] == ["6.6.6.6", 0]


def test_bad_trust_list_is_a_usage_error(run_cli):
    result = run_cli(APP, "--forwarded-allow-ips", "127.0.0.1,localhost")
    assert result.returncode == 2
    assert "'localhost' is not an IP address, a network, '*' or 'unix:'" in result.stderr
