"""sleep: await asyncio.sleep(0.01), then the hello response (run at 512 connections)."""

import asyncio

from bench_common import lifespan
from bench_hello import BODY, HEADERS


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        return
    await asyncio.sleep(0.01)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
