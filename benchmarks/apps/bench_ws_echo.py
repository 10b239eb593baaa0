"""ws-echo: a WebSocket endpoint that sends every message back unchanged."""

from bench_common import TEXT, lifespan


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": TEXT})
        await send({"type": "http.response.body", "body": b"WebSocket only"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        await send({"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")})
