"""A small chat room over WebSockets (Starlette).

    pyre-http examples.chat:app

then open http://127.0.0.1:8000/ in several browser tabs. Every message a
client sends on ``/ws`` goes to every connected client (its sender too) as
``"name: text"``; joins and leaves are announced.
"""

import asyncio

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pyre-http chat</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}#log{height:20em;overflow-y:auto;
border:1px solid #ccc;padding:.5em;white-space:pre-wrap}</style></head>
<body><h1>pyre-http chat</h1><div id="log"></div>
<form id="form"><input id="name" placeholder="name" size="8"> <input id="text" size="40" autofocus>
<button>Send</button></form>
<script>
const log = document.getElementById("log");
const name = document.getElementById("name");
name.value = "guest" + Math.floor(Math.random() * 1000);
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?name="
  + encodeURIComponent(name.value));
ws.onmessage = (event) => { log.textContent += event.data + "\\n"; log.scrollTop = log.scrollHeight; };
ws.onclose = () => { log.textContent += "(disconnected)\\n"; };
document.getElementById("form").onsubmit = (event) => {
  event.preventDefault();
  const text = document.getElementById("text");
  if (text.value) { ws.send(text.value); text.value = ""; }
};
</script></body></html>
"""


class Room:
    def __init__(self) -> None:
        self.clients: set[WebSocket] = set()

    async def broadcast(self, text: str) -> None:
        # Send to everyone at once; a client that has gone is dropped.
        clients = list(self.clients)
        results = await asyncio.gather(*(c.send_text(text) for c in clients), return_exceptions=True)
        for client, result in zip(clients, results):
            if isinstance(result, Exception):
                self.clients.discard(client)


room = Room()


async def homepage(request):
    return HTMLResponse(PAGE)


async def chat(websocket: WebSocket) -> None:
    name = websocket.query_params.get("name") or "anonymous"
    await websocket.accept()
    room.clients.add(websocket)
    await room.broadcast(f"* {name} joined")
    try:
        while True:
            text = await websocket.receive_text()
            await room.broadcast(f"{name}: {text}")
    except WebSocketDisconnect:
        pass
    finally:
        room.clients.discard(websocket)
    await room.broadcast(f"* {name} left")


app = Starlette(routes=[Route("/", homepage), WebSocketRoute("/ws", chat)])
