"""What the edge tests look at: the scope's client, server and scheme, over
HTTP and WebSocket, and a streamed response (for the proxies in front)."""

import json
import logging

logging.getLogger("edge_app").warning("edge_app imported")


def describe(scope):
    return {
        "client": scope.get("client"),
        "server": scope.get("server"),
        "scheme": scope["scheme"],
        "root_path": scope.get("root_path"),
        "type": scope["type"],
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
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(5):
            await send({"type": "http.response.body", "body": b"piece %d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = json.dumps(describe(scope)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-answer", b"42"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
