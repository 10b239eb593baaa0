"""spread.py: hello, and each worker writes how many requests it answered.

At lifespan shutdown the count goes to ``$SPREAD_DIR/<pid>``.
"""

import os

from bench_hello import BODY, HEADERS

COUNT = 0


async def app(scope, receive, send):
    global COUNT
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                with open(os.path.join(os.environ["SPREAD_DIR"], str(os.getpid())), "w") as f:
                    f.write(str(COUNT))
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    COUNT += 1
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
