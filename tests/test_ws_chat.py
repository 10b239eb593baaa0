"""examples/chat.py: the page, and broadcast to three connected clients."""

import contextlib

import httpx
from websockets.sync.client import connect

from conftest import ROOT
from test_ws_support import ws_url


def recv_until(ws, expected):
    """Messages up to and including `expected` (joins of others may come first)."""
    seen = []
    while True:
        message = ws.recv(timeout=5)
        seen.append(message)
        if message == expected:
            return seen


def test_chat_broadcasts_to_every_client(make_server):
    srv = make_server("examples.chat:app", app_dir=ROOT)
    page = httpx.get(f"{srv.url}/", timeout=5)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "new WebSocket" in page.text

    names = ["ann", "bob", "cid"]
    clients = []
    with contextlib.ExitStack() as stack:
        for name in names:
            ws = stack.enter_context(connect(ws_url(srv, f"/ws?name={name}")))
            clients.append(ws)
            recv_until(ws, f"* {name} joined")
        # Everyone who was there sees later joins.
        recv_until(clients[0], "* cid joined")
        recv_until(clients[1], "* cid joined")

        for sender, name in zip(clients, names):
            sender.send(f"hello from {name}")
            for ws in clients:
                assert recv_until(ws, f"{name}: hello from {name}")[-1] == f"{name}: hello from {name}"

        clients[2].close()
        for ws in clients[:2]:
            recv_until(ws, "* cid left")
        clients[0].send("still here")
        assert recv_until(clients[1], "ann: still here")[-1] == "ann: still here"
