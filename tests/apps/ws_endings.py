"""WebSocket applications that end badly or without closing, by path:
/no-handshake returns at once, /raise-before-accept raises before answering,
/raise-after-accept accepts then raises, /return-after-accept accepts then
returns without a close."""


async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    path = scope["path"]
    await receive()  # websocket.connect
    if path == "/no-handshake":
        return
    if path == "/raise-before-accept":
        raise RuntimeError("failed before accepting")
    await send({"type": "websocket.accept"})
    if path == "/raise-after-accept":
        raise RuntimeError("failed after accepting")
