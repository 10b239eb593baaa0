"""The WebSocket command-line options at work: --ws none, permessage-deflate
on and off, keep-alive pings and their timeout."""

import socket
import struct
import time

import pytest
from websockets.sync.client import connect

from rawhttp import request
from test_ws_support import CLOSE, PING, TEXT, RawWebSocket, handshake_request, side_json, ws_url


def test_ws_none_serves_upgrades_as_http(make_server):
    srv = make_server("ws_app:app", "--ws", "none")
    with srv.client() as c:
        c.send(handshake_request("/echo?tag=none"))
        r = c.read_response()
    assert r.status == 200
    info = r.json()
    assert info["type"] == "http"
    assert info["headers"]["upgrade"] == "websocket"
    assert side_json(srv, "http-none")["type"] == "http"


def test_per_message_deflate_is_negotiated_by_default(make_server):
    srv = make_server("ws_app:app")
    text = "compress me, " * 10000
    with connect(ws_url(srv, "/echo?tag=deflate")) as ws:  # websockets offers it by default
        extensions = ws.response.headers.get("sec-websocket-extensions", "")
        assert "permessage-deflate" in extensions
        assert [type(e).__name__ for e in ws.protocol.extensions] == ["PerMessageDeflate"]
        for message in (text, text.encode(), "short", b"", "é" * 5000):
            ws.send(message)
            assert ws.recv(timeout=5) == message


def test_per_message_deflate_with_no_context_takeover(make_server):
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    srv = make_server("ws_app:app")
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True, server_max_window_bits=10
    )
    with connect(ws_url(srv, "/echo?tag=deflate2"), extensions=[factory]) as ws:
        extensions = ws.response.headers.get("sec-websocket-extensions", "")
        assert "permessage-deflate" in extensions
        for i in range(20):
            message = f"message {i} " * (50 * i)
            ws.send(message)
            assert ws.recv(timeout=5) == message


def test_per_message_deflate_can_be_switched_off(make_server):
    srv = make_server("ws_app:app", "--ws-per-message-deflate", "false")
    with connect(ws_url(srv, "/echo?tag=nodeflate")) as ws:
        assert "sec-websocket-extensions" not in ws.response.headers
        assert ws.protocol.extensions == []
        ws.send("plain " * 1000)
        assert ws.recv(timeout=5) == "plain " * 1000


def test_unanswered_pings_close_the_connection(make_server, server_kind):
    srv = make_server("ws_app:app", "--ws-ping-interval", "0.5", "--ws-ping-timeout", "0.5")
    start = time.monotonic()
    pings, close_codes = 0, []
    with RawWebSocket(srv, "/echo?tag=noping", timeout=6) as ws:
        try:
            while True:  # read everything, answer nothing
                _, _, op, payload = ws.recv_frame()
                pings += op == PING
                if op == CLOSE and len(payload) >= 2:
                    close_codes.append(struct.unpack("!H", payload[:2])[0])
                assert time.monotonic() - start < 6, "still open after 6 s"
        except Exception as exc:  # noqa: BLE001 - Closed, reset: the end we wait for
            assert not isinstance(exc, (socket.timeout, AssertionError)), exc
    elapsed = time.monotonic() - start
    assert pings >= 1
    assert elapsed < 5
    if server_kind.name == "pyre":
        assert close_codes == [1011]  # internal error: keep-alive ping timeout
    message = side_json(srv, "disconnect-noping")
    assert message["type"] == "websocket.disconnect"


def test_answered_pings_keep_the_connection(make_server):
    srv = make_server("ws_app:app", "--ws-ping-interval", "0.5", "--ws-ping-timeout", "0.5")
    with connect(ws_url(srv, "/echo?tag=pinged")) as ws:  # answers pings by itself
        time.sleep(3)
        ws.send("still there?")
        assert ws.recv(timeout=5) == "still there?"


def test_ping_interval_zero_sends_no_pings(make_server):
    srv = make_server("ws_app:app", "--ws-ping-interval", "0", "--ws-ping-timeout", "0.2")
    with RawWebSocket(srv, "/echo?tag=quiet") as ws:
        ws.sock.settimeout(2)
        with pytest.raises(socket.timeout):
            ws.recv_frame()  # nothing arrives (no ping) and the connection stays open
        ws.sock.settimeout(5)
        ws.send_text("hi")
        assert ws.recv_message() == (TEXT, b"hi")


def test_plain_http_still_works_next_to_websockets(make_server):
    srv = make_server("ws_app:app")
    with connect(ws_url(srv, "/echo?tag=side")) as ws, srv.client() as c:
        c.send(request("GET", "/plain?tag=plain"))
        assert c.read_response().json()["type"] == "http"
        ws.send("ws too")
        assert ws.recv(timeout=5) == "ws too"
