"""Starlette and FastAPI WebSocket endpoints, as users write them.

``starlette_app`` and ``fastapi_app`` both echo text at ``/ws`` (FastAPI's
with a path parameter and a query parameter) and record how the session
ended, caught as ``WebSocketDisconnect``, in ``$PYRE_TEST_DIR``.
"""

import json
import os

from fastapi import FastAPI, WebSocket as FastAPIWebSocket, WebSocketDisconnect as FastAPIDisconnect
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

SIDE_DIR = os.environ.get("PYRE_TEST_DIR")


def side_write(name, obj):
    if not SIDE_DIR:
        return
    path = os.path.join(SIDE_DIR, name)
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(obj))
    os.replace(path + ".tmp", path)


async def starlette_echo(websocket: WebSocket):
    await websocket.accept(subprotocol="echo" if "echo" in websocket.scope["subprotocols"] else None)
    count = 0
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
            count += 1
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect as exc:
        side_write("starlette-disconnect", {"code": exc.code, "reason": exc.reason, "count": count})


async def starlette_json(websocket: WebSocket):
    await websocket.accept()
    data = await websocket.receive_json()
    await websocket.send_json({"got": data, "path": websocket.url.path})
    await websocket.close(code=4000, reason="bye from starlette")


starlette_app = Starlette(routes=[WebSocketRoute("/ws", starlette_echo), WebSocketRoute("/json", starlette_json)])


fastapi_app = FastAPI()


@fastapi_app.websocket("/ws/{room}")
async def fastapi_echo(websocket: FastAPIWebSocket, room: str, name: str = "anon"):
    await websocket.accept()
    count = 0
    try:
        while True:
            text = await websocket.receive_text()
            count += 1
            await websocket.send_text(f"{room}/{name}: {text}")
    except FastAPIDisconnect as exc:
        side_write("fastapi-disconnect", {"code": exc.code, "reason": exc.reason, "count": count})


@fastapi_app.get("/")
async def index():
    return {"ok": True}
