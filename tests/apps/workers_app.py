"""The application of the worker tests (tests/test_workers*.py).

Every import appends the worker's pid to ``$PYRE_TEST_DIR/imports`` (so a
test can count how many workers were started); ``WORKERS_APP_FAIL=import``
makes the import fail, ``WORKERS_APP_FAIL=startup`` the lifespan startup.

Routes: ``/pid`` answers the worker's pid, ``/block`` blocks the event loop
for good (time.sleep), ``/sleep?s=X`` sleeps without blocking it,
``/grow?mib=N`` keeps N MiB alive in the worker; anything else answers
``hello``.
"""

import asyncio
import os
import time

SIDE_DIR = os.environ.get("PYRE_TEST_DIR")
if SIDE_DIR:
    with open(os.path.join(SIDE_DIR, "imports"), "a") as f:
        f.write(f"{os.getpid()}\n")

if os.environ.get("WORKERS_APP_FAIL") == "import":
    raise RuntimeError("boom")

KEPT = []


async def respond(send, body):
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if os.environ.get("WORKERS_APP_FAIL") == "startup":
                    await send({"type": "lifespan.startup.failed", "message": "no database"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    query = scope["query_string"].decode()
    if path == "/pid":
        await respond(send, str(os.getpid()).encode())
    elif path == "/block":
        time.sleep(3600)
    elif path == "/sleep":
        await asyncio.sleep(float(query.partition("=")[2] or 1))
        await respond(send, b"slept")
    elif path == "/grow":
        KEPT.append(bytearray(int(query.partition("=")[2]) * 1024 * 1024))
        await respond(send, b"grown")
    else:
        await respond(send, b"hello")
