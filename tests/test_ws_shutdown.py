"""Graceful shutdown with open WebSockets: each gets a close frame (1012,
"service restart", as uvicorn sends), the app sees the disconnect, and the
server exits 0."""

import signal

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from test_ws_support import TEXT, RawWebSocket, side_json, ws_url


def exited_cleanly(srv, server_kind, timeout):
    status = srv.wait(timeout=timeout)
    # uvicorn re-raises the signal after its graceful shutdown: -SIGTERM.
    return status == 0 or (server_kind.name == "uvicorn" and status == -signal.SIGTERM)


def test_sigterm_closes_open_websockets_with_1012(make_server, server_kind):
    srv = make_server("ws_app:app")
    with connect(ws_url(srv, "/echo?tag=lib")) as lib, RawWebSocket(srv, "/echo?tag=raw") as raw:
        lib.send("before")
        assert lib.recv(timeout=5) == "before"
        raw.send_text("before")
        assert raw.recv_message() == (TEXT, b"before")

        srv.signal(signal.SIGTERM)

        code, _ = raw.expect_close(timeout=5)
        assert code == 1012
        raw.send_close(1012)  # complete the close handshake
        raw.expect_eof()
        with pytest.raises(ConnectionClosed) as info:
            lib.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1012
    assert exited_cleanly(srv, server_kind, 10)
    for tag in ("lib", "raw"):
        message = side_json(srv, f"disconnect-{tag}")
        assert message["type"] == "websocket.disconnect"


def test_sigterm_with_a_silent_client_still_exits(make_server, server_kind):
    """A client that never answers the close: --timeout-graceful-shutdown ends
    the wait (the close handshake's own timeout is 10 s, as in uvicorn)."""
    srv = make_server("ws_app:app", "--timeout-graceful-shutdown", "1")
    with RawWebSocket(srv, "/echo?tag=silent") as raw:
        raw.send_text("x")
        assert raw.recv_message() == (TEXT, b"x")
        srv.signal(signal.SIGTERM)
        assert raw.expect_close(timeout=5)[0] == 1012
        # No answer: the server must still close the connection and exit.
        raw.expect_eof(timeout=5)
    assert exited_cleanly(srv, server_kind, 10)
