"""json: a small JSON document, serialised with json.dumps on every request."""

import json

from bench_common import lifespan


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        return
    body = json.dumps(
        {
            "message": "Hello, world!",
            "id": 42,
            "tags": ["fast", "strict", "asgi"],
            "ok": True,
            "path": scope["path"],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
