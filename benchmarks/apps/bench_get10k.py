"""get-10k: a 10 KB (10,240-byte) body with Content-Length, sent in one message."""

from bench_common import lifespan

BODY = b"x" * 10240
HEADERS = [
    (b"content-type", b"application/octet-stream"),
    (b"content-length", b"10240"),
]


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
