"""Applications for the lifespan tests."""

import asyncio
import json


async def _answer_state(scope, send):
    body = json.dumps({"ready": scope.get("state", {}).get("ready")}).encode()
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


async def slow_startup(scope, receive, send):
    """Startup takes half a second; requests report whether it had finished."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await asyncio.sleep(0.5)
                scope["state"]["ready"] = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await _answer_state(scope, send)


FAILURE_MESSAGE = "startup refused: database unreachable (pyre test)"


async def failing_startup(scope, receive, send):
    """Startup reports failure with a message the server must show."""
    if scope["type"] == "lifespan":
        message = await receive()
        assert message["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed", "message": FAILURE_MESSAGE})
        return
    await _answer_state(scope, send)
