"""How the server ends a WebSocket whose application did not: no handshake
(500), an exception before accepting (500) or after (close 1011, traceback
logged once), a return without a close (close 1000)."""

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from test_ws_support import ws_url


@pytest.fixture()
def endings(make_server):
    return make_server("ws_endings:app", "--no-access-log", "--lifespan", "off")


@pytest.mark.parametrize(
    "path, logged",
    [
        ("/no-handshake", "ASGI callable returned without sending handshake."),
        ("/raise-before-accept", "RuntimeError: failed before accepting"),
    ],
)
def test_no_answer_to_the_handshake_is_500(endings, path, logged):
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(endings, path), open_timeout=5)
    assert refused.value.response.status_code == 500
    endings.stop()
    assert logged in endings.stderr_text()


def _close_code(srv, path):
    with connect(ws_url(srv, path), open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_exception_after_accept_closes_1011_and_is_logged_once(endings):
    assert _close_code(endings, "/raise-after-accept") == 1011
    endings.stop()
    log = endings.stderr_text()
    assert log.count("Traceback") == 1, log
    assert "RuntimeError: failed after accepting" in log


def test_return_after_accept_closes_1000(endings):
    assert _close_code(endings, "/return-after-accept") == 1000
