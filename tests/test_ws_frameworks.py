"""Starlette and FastAPI WebSocket endpoints served end to end."""

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from test_ws_support import side_json, ws_url


def test_starlette_echo_and_disconnect(make_server):
    srv = make_server("ws_frameworks:starlette_app")
    with connect(ws_url(srv, "/ws"), subprotocols=["echo"]) as ws:
        assert ws.subprotocol == "echo"
        ws.send("hello starlette")
        assert ws.recv(timeout=5) == "hello starlette"
        ws.send(b"\x00bytes")
        assert ws.recv(timeout=5) == b"\x00bytes"
        ws.close(code=4002, reason="done here")
    assert side_json(srv, "starlette-disconnect") == {"code": 4002, "reason": "done here", "count": 2}


def test_starlette_json_and_server_close(make_server):
    srv = make_server("ws_frameworks:starlette_app")
    with connect(ws_url(srv, "/json")) as ws:
        ws.send(json.dumps({"a": [1, 2]}))
        assert json.loads(ws.recv(timeout=5)) == {"got": {"a": [1, 2]}, "path": "/json"}
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "bye from starlette")


def test_fastapi_echo_and_disconnect(make_server):
    srv = make_server("ws_frameworks:fastapi_app")
    assert httpx.get(f"{srv.url}/", timeout=5).json() == {"ok": True}
    with connect(ws_url(srv, "/ws/lobby?name=ann")) as ws:
        for text in ("hi", "there"):
            ws.send(text)
            assert ws.recv(timeout=5) == f"lobby/ann: {text}"
    # The client closed normally (1000) without a reason.
    result = side_json(srv, "fastapi-disconnect")
    assert result["code"] == 1000
    assert result["count"] == 2


def test_fastapi_unknown_websocket_route_is_refused(make_server):
    srv = make_server("ws_frameworks:fastapi_app")
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(srv, "/nowhere"), open_timeout=5)
    assert info.value.response.status_code == 403
