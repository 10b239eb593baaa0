"""Shared helpers of the benchmark apps: the lifespan answer and constant headers.

Every app is plain ASGI 3 (except bench_fastapi) and answers the lifespan
protocol, so that no server has to guess or log about it.
"""

TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
