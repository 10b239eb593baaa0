"""The smallest useful ASGI 3 application: no framework, no dependencies.

Run it with::

    python -m pyre_http examples.hello:app --port 8000
"""

BODY = b"Hello, world!"


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        # Nothing to set up, but answer the protocol so the server need not guess.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    if scope["type"] != "http":
        return

    if scope["path"] != "/":
        status, body = 404, b"Not Found"
    elif scope["method"] not in ("GET", "HEAD"):
        status, body = 405, b"Method Not Allowed"
    else:
        status, body = 200, BODY

    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
