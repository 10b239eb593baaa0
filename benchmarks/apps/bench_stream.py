"""stream: 64 chunks of 16 KiB (1 MiB) with more_body and no Content-Length,
so HTTP/1.1 servers frame the response with chunked transfer-encoding."""

from bench_common import TEXT, lifespan

CHUNK = b"x" * 16384
CHUNKS = 64


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": TEXT})
    for _ in range(CHUNKS - 1):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": CHUNK})
