"""The opening handshake and RFC 6455 framing rules, over raw sockets.

Each invalid frame must be answered with a close frame carrying the code RFC
6455 §7.4.1 gives it (1002 protocol error, 1007 invalid data, 1009 too big),
followed by the end of the TCP connection; the application sees the
disconnect. Frames a client may legally send in odd ways (fragments with a
ping between them) must work.
"""

import json
import os

import pytest

from conftest import ServerFactory
from rawhttp import request
from test_ws_support import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    RawWebSocket,
    handshake_request,
    side_json,
)

MAX_SIZE = 1000


@pytest.fixture(scope="module")
def wss(server_kind, loop_name, tmp_path_factory):
    factory = ServerFactory(server_kind, loop_name, tmp_path_factory.mktemp("ws"))
    yield factory("ws_app:app", "--ws-max-size", str(MAX_SIZE))
    factory.stop_all()


# ---------------------------------------------------------------- handshake


def test_wrong_version_is_426(wss, server_kind):
    with wss.client() as c:
        c.send(handshake_request("/echo", headers=[("Sec-WebSocket-Version", "8")]))
        r = c.read_response()
    if server_kind.name == "uvicorn":  # websockets answers 400, not RFC 6455's 426
        return
    assert r.status == 426
    assert r.header("sec-websocket-version") == "13"


def test_missing_key_is_400(wss):
    with wss.client() as c:
        c.send(handshake_request("/echo", headers=[("Sec-WebSocket-Key", None)]))
        r = c.read_response()
    assert r.status == 400


def test_h2c_upgrade_is_plain_http(wss):
    headers = [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", "AAMAAABkAAQAAP__")]
    with wss.client() as c:
        c.send(request("GET", "/h2c?tag=h2c", headers=headers))
        r = c.read_response()
    assert r.status == 200
    info = r.json()
    assert info["type"] == "http"
    assert info["headers"]["upgrade"] == "h2c"
    assert side_json(wss, "http-h2c")["type"] == "http"


# ---------------------------------------------------------------- frames


def assert_closed_with(ws, code, tag):
    got, _ = ws.expect_close()
    assert got == code
    ws.expect_eof()
    message = side_json(ws_server(ws), "disconnect-" + tag)
    assert message["type"] == "websocket.disconnect"
    return message


def ws_server(ws):
    return ws.srv


def open_ws(srv, tag):
    ws = RawWebSocket(srv, f"/echo?tag={tag}")
    ws.srv = srv
    return ws


def test_unmasked_frame_is_1002(wss):
    with open_ws(wss, "unmasked") as ws:
        ws.send_frame(TEXT, b"not masked", mask=False)
        assert_closed_with(ws, 1002, "unmasked")


def test_invalid_utf8_text_is_1007(wss):
    with open_ws(wss, "utf8") as ws:
        ws.send_frame(TEXT, b"caf\xc3")  # a truncated two-byte sequence
        assert_closed_with(ws, 1007, "utf8")


def test_invalid_utf8_across_fragments_is_1007(wss):
    with open_ws(wss, "utf8frag") as ws:
        ws.send_frame(TEXT, b"ok ", fin=False)
        ws.send_frame(CONT, b"\xff\xfe", fin=True)
        assert_closed_with(ws, 1007, "utf8frag")


def test_message_over_max_size_is_1009(wss):
    with open_ws(wss, "big") as ws:
        ws.send_frame(BINARY, b"x" * MAX_SIZE)  # at the limit: fine
        assert ws.recv_message() == (BINARY, b"x" * MAX_SIZE)
        ws.send_frame(BINARY, b"x" * (MAX_SIZE + 1))
        assert_closed_with(ws, 1009, "big")


def test_fragmented_message_over_max_size_is_1009(wss):
    with open_ws(wss, "bigfrag") as ws:
        ws.send_frame(TEXT, b"a" * 600, fin=False)
        ws.send_frame(CONT, b"a" * 600, fin=True)
        assert_closed_with(ws, 1009, "bigfrag")


@pytest.mark.parametrize("opcode", [0x3, 0x7, 0xB, 0xF])
def test_reserved_opcode_is_1002(wss, opcode):
    tag = f"opcode{opcode}"
    with open_ws(wss, tag) as ws:
        ws.send_frame(opcode, b"?")
        assert_closed_with(ws, 1002, tag)


@pytest.mark.parametrize("rsv", [0b100, 0b010, 0b001])
def test_rsv_bits_are_1002(wss, rsv):
    # RSV1 is permessage-deflate's, not negotiated here: also an error.
    tag = f"rsv{rsv}"
    with open_ws(wss, tag) as ws:
        ws.send_frame(TEXT, b"hi", rsv=rsv)
        assert_closed_with(ws, 1002, tag)


def test_fragmented_control_frame_is_1002(wss):
    with open_ws(wss, "ctlfrag") as ws:
        ws.send_frame(PING, b"a", fin=False)
        assert_closed_with(ws, 1002, "ctlfrag")


def test_oversized_control_frame_is_1002(wss):
    with open_ws(wss, "ctlbig") as ws:
        ws.send_frame(PING, b"p" * 126)
        assert_closed_with(ws, 1002, "ctlbig")


def test_continuation_without_message_is_1002(wss):
    with open_ws(wss, "lonecont") as ws:
        ws.send_frame(CONT, b"orphan")
        assert_closed_with(ws, 1002, "lonecont")


def test_new_message_inside_fragmented_one_is_1002(wss):
    with open_ws(wss, "interleave") as ws:
        ws.send_frame(TEXT, b"first ", fin=False)
        ws.send_frame(TEXT, b"second")
        assert_closed_with(ws, 1002, "interleave")


def test_invalid_close_code_is_1002(wss):
    with open_ws(wss, "badcode") as ws:
        ws.send_close(1005)  # reserved: must never be sent
        assert_closed_with(ws, 1002, "badcode")


def test_fragmented_message_with_interleaved_ping(wss):
    text = "fragmented ✓ message"
    raw = text.encode()
    with open_ws(wss, "frag") as ws:
        # The check mark (3 bytes) is split across two fragments.
        cut = raw.index("✓".encode()) + 1
        ws.send_frame(TEXT, raw[:cut], fin=False)
        ws.send_frame(PING, b"in between")
        ws.send_frame(CONT, raw[cut:-3], fin=False)
        ws.send_frame(CONT, raw[-3:], fin=True)
        fin, _, op, payload = ws.recv_frame()
        assert (op, payload) == (PONG, b"in between")  # answered at once
        assert ws.recv_message() == (TEXT, raw)
        ws.send_close(1000)
        assert ws.expect_close() == (1000, "")
        ws.expect_eof()
    message = side_json(wss, "disconnect-frag")
    assert message["code"] == 1000
    assert message["count"] == 1


def test_ping_gets_pong_with_same_payload(wss):
    with open_ws(wss, "ping") as ws:
        for payload in (b"", b"abc", os.urandom(125)):
            ws.send_frame(PING, payload)
            fin, rsv, op, got = ws.recv_frame()
            assert (fin, rsv, op, got) == (True, 0, PONG, payload)
        ws.send_frame(PONG, b"unsolicited")  # must be ignored
        ws.send_text("still here")
        assert ws.recv_message() == (TEXT, b"still here")


def test_server_frames_are_unmasked_and_unfragmented(wss):
    with open_ws(wss, "shape") as ws:
        for size in (0, 125, 126, MAX_SIZE):
            ws.send_frame(BINARY, b"z" * size)
            fin, rsv, op, payload = ws.recv_frame()
            assert (fin, rsv, op, len(payload)) == (True, 0, BINARY, size)


def test_close_code_and_reason_are_reported(wss):
    with open_ws(wss, "reason") as ws:
        ws.send_close(4999, "la raison ✓")
        assert ws.expect_close()[0] == 4999
        ws.expect_eof()
    message = side_json(wss, "disconnect-reason")
    assert (message["code"], message["reason"]) == (4999, "la raison ✓")


def test_bad_frames_do_not_disturb_other_connections(wss):
    with open_ws(wss, "bystander") as good, open_ws(wss, "offender") as bad:
        bad.send_frame(TEXT, b"x", mask=False)
        assert bad.expect_close()[0] == 1002
        good.send_text("fine")
        assert good.recv_message() == (TEXT, b"fine")
