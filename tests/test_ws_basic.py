"""WebSocket sessions end to end: the scope, the ASGI events, closes from both
sides, and send() after the end (asgiref WebSocket spec 2.5, RFC 6455).

The client is the `websockets` library (its sync client), or a raw socket
where the test needs a frame no library client would send.
"""

import json
import os

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import ServerFactory
from rawhttp import unbytes
from test_ws_support import CLOSE, TEXT, RawWebSocket, handshake_request, side_json, ws_url


@pytest.fixture(scope="module")
def wss(server_kind, loop_name, tmp_path_factory):
    """ws_app:app with --root-path /mnt, shared by the module's tests."""
    factory = ServerFactory(server_kind, loop_name, tmp_path_factory.mktemp("ws"))
    yield factory("ws_app:app", "--root-path", "/mnt", "--lifespan", "on")
    factory.stop_all()


def test_scope_and_first_message(wss, server_kind):
    url = ws_url(wss, "/scope/caf%C3%A9?a=1&b=%20x")
    with connect(url, subprotocols=["chat", "superchat"], additional_headers={"X-Test": "yes"}) as ws:
        got = json.loads(ws.recv(timeout=5))
        local_port = ws.socket.getsockname()[1]
    scope, first = unbytes(got["scope"]), got["first"]
    assert first == {"type": "websocket.connect"}
    assert scope["type"] == "websocket"
    assert scope["asgi"]["version"] == "3.0"
    if server_kind.name == "pyre":
        assert scope["asgi"]["spec_version"] == "2.5"
        # Without root_path, as asgiref says (uvicorn prepends it to both).
        assert scope["path"] == "/scope/café"
        assert scope["raw_path"] == b"/scope/caf%C3%A9"
    else:
        assert scope["path"].endswith("/scope/café")
        assert scope["raw_path"].endswith(b"/scope/caf%C3%A9")
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["query_string"] == b"a=1&b=%20x"
    assert scope["root_path"] == "/mnt"
    headers = scope["headers"]
    assert all(isinstance(n, bytes) and isinstance(v, bytes) and n == n.lower() for n, v in headers)
    names = dict(headers)
    assert names[b"x-test"] == b"yes"
    assert names[b"host"] == f"{wss.host}:{wss.port}".encode()
    assert names[b"upgrade"].lower() == b"websocket"
    assert b"sec-websocket-key" in names
    assert scope["client"] == [wss.host, local_port]
    assert scope["server"] == [wss.host, wss.port]
    assert scope["subprotocols"] == ["chat", "superchat"]
    assert scope["state"] == {"started": True}
    assert "websocket.http.response" in scope["extensions"]

    # The state is a copy per connection: the handler's change is not seen here.
    with connect(ws_url(wss, "/scope")) as ws:
        again = json.loads(ws.recv(timeout=5))
    assert again["scope"]["state"] == {"started": True}
    assert again["scope"]["subprotocols"] == []


def test_accept_with_subprotocol_and_headers(wss):
    url = ws_url(wss, "/accept?subprotocol=superchat")
    with connect(url, subprotocols=["chat", "superchat"]) as ws:
        assert ws.subprotocol == "superchat"
        assert ws.response.status_code == 101
        assert ws.response.headers["x-accepted"] == "yes"
        assert ws.response.headers["set-cookie"] == "ws=1"
        assert ws.response.headers["sec-websocket-protocol"] == "superchat"
        assert ws.recv(timeout=5) == "hello"


def test_accept_without_subprotocol(wss):
    with connect(ws_url(wss, "/accept"), subprotocols=["chat"]) as ws:
        assert ws.subprotocol is None
        assert "sec-websocket-protocol" not in ws.response.headers
        assert ws.recv(timeout=5) == "hello"


def test_echo_text_and_bytes(wss):
    with connect(ws_url(wss, "/echo?tag=types")) as ws:
        ws.send("héllo ✓")
        assert ws.recv(timeout=5) == "héllo ✓"
        ws.send(b"\x00\x01binary\xff")
        assert ws.recv(timeout=5) == b"\x00\x01binary\xff"
        ws.send("")
        assert ws.recv(timeout=5) == ""
        ws.send(b"")
        assert ws.recv(timeout=5) == b""
    assert side_json(wss, "disconnect-types")["count"] == 4
    assert not os.path.exists(wss.side_file("bad-message-types")), "a message had both or neither of bytes/text"


def test_large_messages(wss):
    text = "0123456789abcdef" * 65536  # 1 MiB
    data = os.urandom(1024 * 1024)
    with connect(ws_url(wss, "/echo?tag=large"), max_size=None) as ws:
        ws.send(text)
        assert ws.recv(timeout=10) == text
        ws.send(data)
        assert ws.recv(timeout=10) == data


def test_many_messages(wss):
    with connect(ws_url(wss, "/echo?tag=many")) as ws:
        for i in range(2000):
            ws.send(f"message {i}")
        for i in range(2000):
            assert ws.recv(timeout=5) == f"message {i}"
    assert side_json(wss, "disconnect-many")["count"] == 2000


def test_close_before_accept_is_403(wss):
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(wss, "/reject"), open_timeout=5)
    assert info.value.response.status_code == 403


def test_http_response_extension_before_accept(wss):
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(wss, "/deny"), open_timeout=5)
    response = info.value.response
    assert response.status_code == 418
    assert response.headers["x-denied"] == "yes"
    assert response.headers["content-type"] == "text/plain"
    assert response.body == b"you shall not pass"


@pytest.mark.parametrize("status", [600, 999])
def test_http_response_extension_status_above_599_is_500(make_server, status):
    """RFC 9110 §15: a status is three digits from 100 to 599; 1xx is not final."""
    srv = make_server("ws_app:app", "--lifespan", "off", "--no-access-log")
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(srv, f"/deny?status={status}"), open_timeout=5)
    assert info.value.response.status_code == 500
    srv.stop()
    log = srv.stderr_text()
    assert log.count("Traceback") == 1, log
    assert f"Invalid response status {status}" in log, log


def test_server_initiated_close(wss):
    with connect(ws_url(wss, "/server-close?code=4321&reason=bye%20now&tag=sc")) as ws:
        assert ws.recv(timeout=5) == "before close"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd.code == 4321
    assert info.value.rcvd.reason == "bye now"
    # After its own close, the app's next receive() is the disconnect.
    after = side_json(wss, "after-close-sc")
    assert after["type"] == "websocket.disconnect"


def test_client_close_with_code_and_reason(wss):
    with connect(ws_url(wss, "/echo?tag=c4001")) as ws:
        ws.send("one")
        assert ws.recv(timeout=5) == "one"
        ws.close(code=4001, reason="client leaving")
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 4001  # echoed back
    message = side_json(wss, "disconnect-c4001")
    assert message["type"] == "websocket.disconnect"
    assert message["code"] == 4001
    assert message["reason"] == "client leaving"


def test_client_close_without_code_is_1005(wss):
    with RawWebSocket(wss, "/echo?tag=c1005") as ws:
        ws.send_text("x")
        assert ws.recv_message() == (TEXT, b"x")
        ws.send_close()  # an empty close payload
        code, _ = ws.expect_close()
        assert code is None  # answered with an empty close too
        ws.expect_eof()
    message = side_json(wss, "disconnect-c1005")
    assert message["type"] == "websocket.disconnect"
    assert message["code"] == 1005


def test_tcp_drop_is_1006(wss, server_kind):
    with RawWebSocket(wss, "/echo?tag=c1006") as ws:
        ws.send_text("x")
        assert ws.recv_message() == (TEXT, b"x")
    message = side_json(wss, "disconnect-c1006")
    assert message["type"] == "websocket.disconnect"
    if server_kind.name == "uvicorn":  # uvicorn 0.54 (websockets) reports 1005 here
        assert message["code"] in (1005, 1006)
    else:
        assert message["code"] == 1006


def test_send_after_close_raises_oserror(wss):
    with connect(ws_url(wss, "/send-after-close")) as ws:
        ws.close(code=1000)
    side_json(wss, "disconnect-sac")
    result = side_json(wss, "send-after-close")
    assert result["type"] is not None, "send() after the close did not raise"
    assert result["oserror"], f"{result['type']} is not an OSError"


def test_pipelined_bytes_after_handshake_are_not_lost(wss, server_kind):
    """A frame sent in the same packet as the handshake belongs to the WebSocket
    (RFC 6455 says a client should wait for the 101, but the bytes must not be
    lost or taken for a second HTTP request)."""
    if server_kind.name != "pyre":
        pytest.skip("uvicorn (httptools) drops bytes that follow the upgrade request")
    from test_ws_support import accept_key, encode_frame
    from rawhttp import RawClient

    key = "dGhlIHNhbXBsZSBub25jZQ=="
    with RawClient(wss.host, wss.port) as c:
        c.send(handshake_request("/echo?tag=early", key) + encode_frame(TEXT, b"early bird"))
        version, status, _, fields, raw = c.read_head()
        assert status == 101, raw
        assert dict(fields)["sec-websocket-accept"] == accept_key(key)
        b0, b1 = c.read_exact(2)
        assert b0 == 0x80 | TEXT and b1 == len(b"early bird")
        assert c.read_exact(len(b"early bird")) == b"early bird"
        c.send(encode_frame(CLOSE, b"\x03\xe8"))
        assert c.read_exact(4) == bytes([0x80 | CLOSE, 2]) + b"\x03\xe8"
