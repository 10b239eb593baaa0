"""echo-10k: read the whole request body with receive() and send it back.

The body is gathered until more_body is false, then answered with its
Content-Length in one message (a GET gets an empty body, which the harness
uses to see that the server is up).
"""

from bench_common import lifespan


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        return
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
