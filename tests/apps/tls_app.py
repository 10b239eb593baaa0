"""What the TLS tests look at: the scheme and the scope's `tls` extension,
over HTTP and WebSocket, and a large body for the output bound."""

import json


def describe(scope):
    return {
        "scheme": scope["scheme"],
        "type": scope["type"],
        "client": scope["client"],
        "tls": scope["extensions"].get("tls"),
    }


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(describe(scope))})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})
    if scope["path"] == "/big":
        body = b"x" * (1024 * 1024)
    else:
        body = json.dumps(describe(scope)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
