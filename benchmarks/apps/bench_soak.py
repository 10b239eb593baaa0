"""soak: every kind of traffic benchmarks/soak.py sends, on one app.

Plain ASGI 3 with lifespan. Routes (query parameters are optional):

| route | what it does |
|---|---|
| `GET /` | hello: 13 bytes with Content-Length (also the readiness probe) |
| `POST /echo` | reads the whole body, sends it back with Content-Length |
| `POST /echo-stream` | starts the response at once, then sends back every body message as it arrives (chunked) |
| `GET /stream?pieces=P&size=S&pause=MS` | P pieces of S bytes with `more_body` (chunked); piece i is `piece(i, S)`; MS milliseconds of sleep between pieces |
| websocket `/ws` | echoes every message, text or bytes |
| `/raise/before-start` | raises before `http.response.start` (the server answers 500) |
| `/raise/after-start` | raises right after `http.response.start` (chunked response cut off) |
| `/raise/mid-body` | sends one piece with `more_body`, then raises (chunked response cut off) |
| `/raise/mid-body-length` | declares Content-Length 1000, sends 100 bytes, raises (cut off) |
| `POST /raise/in-receive` | raises after its first `receive()` of the body, before starting (500) |
| websocket `/raise/before-accept` | raises after `websocket.connect`, before accepting (500) |
| websocket `/raise/after-accept` | accepts, echoes one message, then raises (close 1011 or cut off) |

Every deliberate failure raises SoakError, whose name soak.py looks for in
the server's log to tell the expected tracebacks from any other.
"""

import asyncio
from urllib.parse import parse_qsl

from bench_common import TEXT, lifespan
from bench_hello import BODY as HELLO, HEADERS as HELLO_HEADERS

OCTETS = [(b"content-type", b"application/octet-stream")]


class SoakError(RuntimeError):
    """A failure the soak test asked for."""


def piece(i: int, size: int) -> bytes:
    """The i-th piece of a streamed download; soak.py rebuilds it to compare."""
    return bytes([65 + i % 26]) * size


def _query(scope) -> dict:
    return dict(parse_qsl(scope["query_string"].decode("latin-1")))


async def _read_body(receive) -> bytes | None:
    """The whole request body, or None when the client left first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def hello(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": HELLO_HEADERS})
    await send({"type": "http.response.body", "body": HELLO})


async def echo(scope, receive, send):
    body = await _read_body(receive)
    if body is None:
        return
    headers = OCTETS + [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def echo_stream(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": OCTETS})
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client left: the response stays unfinished
        more = message.get("more_body", False)
        await send({"type": "http.response.body", "body": message.get("body", b""), "more_body": more})
        if not more:
            return


async def stream(scope, receive, send):
    query = _query(scope)
    pieces = int(query.get("pieces", 8))
    size = int(query.get("size", 1024))
    pause = float(query.get("pause", 0)) / 1000
    await send({"type": "http.response.start", "status": 200, "headers": OCTETS})
    for i in range(pieces):
        if pause and i:
            await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": piece(i, size), "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def raise_before_start(scope, receive, send):
    raise SoakError("raised before http.response.start")


async def raise_after_start(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": TEXT})
    raise SoakError("raised after http.response.start")


async def raise_mid_body(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": TEXT})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise SoakError("raised in the middle of a chunked body")


async def raise_mid_body_length(scope, receive, send):
    headers = TEXT + [(b"content-length", b"1000")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"x" * 100, "more_body": True})
    raise SoakError("raised in the middle of a Content-Length body")


async def raise_in_receive(scope, receive, send):
    await receive()
    raise SoakError("raised while receiving the request body")


HTTP_ROUTES = {
    "/": hello,
    "/echo": echo,
    "/echo-stream": echo_stream,
    "/stream": stream,
    "/raise/before-start": raise_before_start,
    "/raise/after-start": raise_after_start,
    "/raise/mid-body": raise_mid_body,
    "/raise/mid-body-length": raise_mid_body_length,
    "/raise/in-receive": raise_in_receive,
}


async def websocket(scope, receive, send):
    path = scope["path"]
    await receive()  # websocket.connect
    if path == "/raise/before-accept":
        raise SoakError("raised before websocket.accept")
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return  # websocket.disconnect
        await send({"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")})
        if path == "/raise/after-accept":
            raise SoakError("raised after websocket.accept")


async def not_found(scope, receive, send):
    await send({"type": "http.response.start", "status": 404, "headers": TEXT})
    await send({"type": "http.response.body", "body": b"no such route"})


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "http":
        await HTTP_ROUTES.get(scope["path"], not_found)(scope, receive, send)
    elif kind == "websocket":
        await websocket(scope, receive, send)
    elif kind == "lifespan":
        await lifespan(receive, send)
