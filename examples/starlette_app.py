"""A small Starlette application.

Routes:

* ``GET /``        plain text
* ``GET /json``    JSON that uses the state the lifespan set up
* ``GET /stream``  a StreamingResponse written in several pieces
* ``POST /echo``   answers with the request body

Run it with::

    python -m pyre_http examples.starlette_app:app --port 8000
"""

import asyncio
import contextlib
import itertools
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route


@contextlib.asynccontextmanager
async def lifespan(app):
    # Whatever is yielded here becomes the lifespan state: the server gives
    # each request a shallow copy of it, available as ``request.state``.
    yield {"started_at": time.time(), "visits": itertools.count(1)}


async def homepage(request: Request) -> Response:
    return PlainTextResponse("Hello from Starlette!")


async def json_endpoint(request: Request) -> Response:
    return JSONResponse(
        {
            "message": "hello",
            "started_at": request.state.started_at,
            "visits": next(request.state.visits),
        }
    )


async def numbers():
    for i in range(5):
        yield f"chunk {i}\n".encode()
        await asyncio.sleep(0)


async def stream(request: Request) -> Response:
    return StreamingResponse(numbers(), media_type="text/plain")


async def echo(request: Request) -> Response:
    body = await request.body()
    media_type = request.headers.get("content-type", "application/octet-stream")
    return Response(body, media_type=media_type)


app = Starlette(
    routes=[
        Route("/", homepage),
        Route("/json", json_endpoint),
        Route("/stream", stream),
        Route("/echo", echo, methods=["POST"]),
    ],
    lifespan=lifespan,
)
