"""Debian's nginx on loopback in front of pyre-http, over TCP and over a Unix
socket: the client address and scheme from the proxy headers, upstream
keep-alive, a streamed response and a WebSocket through nginx.

nginx plays a TLS-terminating proxy: it sends ``X-Forwarded-Proto: https``.
The test client connects from 127.0.0.2, an address pyre-http does not
trust, so that the address it reports can only come from the header.
Skipped when nginx is not installed (.ci/run installs it).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from websockets.sync.client import connect

from conftest import ServerFactory, free_port
from rawhttp import RawClient, request

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")

CLIENT_ADDRESS = "127.0.0.2"

CONFIG = """\
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream over_tcp {{ server 127.0.0.1:{port}; keepalive 4; }}
    upstream over_unix {{ server unix:{sock}; keepalive 4; }}
    server {{
        listen 127.0.0.1:{nginx_port};
        proxy_http_version 1.1;
        proxy_buffering off;
        proxy_set_header Host $host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto https;
        location /unix/ {{ proxy_pass http://over_unix/; }}
        location /raw/ {{
            # (A location's proxy_set_header replaces all the server's.)
            proxy_set_header Connection "";
            proxy_pass http://over_tcp/;
        }}
        location / {{ proxy_pass http://over_tcp; }}
    }}
}}
"""


@pytest.fixture(scope="module")
def stack(server_kind, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nginx")
    port, nginx_port = free_port(), free_port()
    sock = str(tmp / "pyre.sock")
    factory = ServerFactory(server_kind, None, tmp)
    pyre = factory(
        "edge_app:app",
        "--bind",
        f"127.0.0.1:{port}",
        "--bind",
        f"unix:{sock}",
        "--forwarded-allow-ips",
        "127.0.0.1,unix:",
        port=port,
    )
    conf = tmp / "nginx.conf"
    conf.write_text(CONFIG.format(user="user root;" if os.geteuid() == 0 else "", tmp=tmp, port=port, sock=sock, nginx_port=nginx_port))
    nginx = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if nginx.poll() is not None:
                pytest.fail(f"nginx exited: {nginx.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", nginx_port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not listen")
                time.sleep(0.05)
        pyre.sock = sock
        yield nginx_port, pyre
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()
        factory.stop_all()


def client_from(nginx_port):
    """A RawClient whose socket comes from 127.0.0.2."""
    c = RawClient.__new__(RawClient)
    c.sock = socket.socket()
    c.sock.settimeout(5)
    c.sock.bind((CLIENT_ADDRESS, 0))
    c.sock.connect(("127.0.0.1", nginx_port))
    c.buf, c.eof = b"", False
    return c


def get(nginx_port, target):
    with client_from(nginx_port) as c:
        c.send(request("GET", target, host="example.test"))
        response = c.read_response()
    assert response.status == 200, response
    return response


@pytest.mark.parametrize("prefix", ["", "/unix"], ids=["tcp", "unix"])
def test_client_and_scheme_from_the_proxy(stack, prefix):
    nginx_port, pyre = stack
    scope = get(nginx_port, prefix + "/hello").json()
    assert scope["client"] == [CLIENT_ADDRESS, 0]
    assert scope["scheme"] == "https"
    if prefix:
        assert scope["server"] == [pyre.sock, None]
    else:
        assert scope["server"] == ["127.0.0.1", pyre.port]


def test_upstream_keep_alive(stack):
    nginx_port, _ = stack
    ports = {tuple(get(nginx_port, "/raw/").json()["client"]) for _ in range(3)}
    # Without proxy headers the client is nginx itself: one kept-alive
    # upstream connection serves the requests one after another.
    assert len(ports) == 1
    [(host, port)] = ports
    assert host == "127.0.0.1" and port > 0


def test_streamed_response(stack):
    nginx_port, _ = stack
    response = get(nginx_port, "/stream")
    assert response.body == b"".join(b"piece %d\n" % i for i in range(5))


def test_websocket_through_nginx(stack):
    nginx_port, _ = stack
    sock = socket.socket()
    sock.settimeout(5)
    sock.bind((CLIENT_ADDRESS, 0))
    sock.connect(("127.0.0.1", nginx_port))
    with connect(f"ws://127.0.0.1:{nginx_port}/ws", sock=sock, open_timeout=5) as ws:
        scope = json.loads(ws.recv(timeout=5))
        ws.send("bye")
    assert scope == {
        "client": [CLIENT_ADDRESS, 0],
        "server": scope["server"],
        "scheme": "wss",
        "root_path": "",
        "type": "websocket",
    }
