"""What the edge tests look at: the scope's client, server and scheme (and
the `tls` extension over TLS), over HTTP and WebSocket (whose messages are
echoed), a streamed response (for the proxies in front) and a 1 MiB body
(for the output bound under TLS)."""

import json
import logging

logging.getLogger("edge_app").warning("edge_app imported")


def describe(scope):
    described = {
        "client": scope.get("client"),
        "server": scope.get("server"),
        "scheme": scope["scheme"],
        "root_path": scope.get("root_path"),
        "type": scope["type"],
    }
    if "tls" in scope["extensions"]:
        described["tls"] = scope["extensions"]["tls"]
    return described


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
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(5):
            await send({"type": "http.response.body", "body": b"piece %d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] == "/big":
        body = b"x" * (1024 * 1024)
    else:
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
