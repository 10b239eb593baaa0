"""Apps for the response extensions: pathsend, zerocopysend, trailers and
early hints, plain ASGI; and a Starlette app whose FileResponse is watched
by a middleware that records the message types it sends.

Outcomes the tests check from outside (what ``send`` raised) are written
as files into ``PYRE_TEST_DIR``.
"""

import json
import os
from urllib.parse import parse_qs

from testapp import side_write


def query(scope):
    return {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}


async def start(send, headers=(), **extra):
    await send({"type": "http.response.start", "status": 200, "headers": list(headers), **extra})


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    q = query(scope)
    path = scope["path"]
    if path == "/extensions":
        body = json.dumps(sorted(scope["extensions"])).encode()
        await start(send)
        await send({"type": "http.response.body", "body": body})
    elif path == "/pathsend":
        headers = []
        if q.get("cl") == "1":
            headers.append((b"content-length", str(os.path.getsize(q["path"])).encode()))
        await start(send, headers)
        try:
            await send({"type": "http.response.pathsend", "path": q["path"]})
        except Exception as exc:
            side_write(q.get("mark", "pathsend-error"), f"{type(exc).__name__}: {exc}")
            raise
        else:
            side_write(q.get("mark", "pathsend-done"), "returned")
    elif path == "/pathsend-declared":
        # Declares more bytes than the file has.
        await start(send, [(b"content-length", q["length"].encode())])
        await send({"type": "http.response.pathsend", "path": q["path"]})
    elif path == "/zerocopy":
        f = open(q["path"], "rb")
        message = {"type": "http.response.zerocopysend", "file": f}
        if "offset" in q:
            message["offset"] = int(q["offset"])
        if "count" in q:
            message["count"] = int(q["count"])
        if "seek" in q:
            f.seek(int(q["seek"]))
        await start(send)
        await send({**message, "more_body": True})
        if "mark" in q:
            side_write(q["mark"], "returned")
        f.close()  # the server holds its own descriptor
        if "again" in q:
            # Without an offset the file's position moved past the first part.
            with open(q["path"], "rb") as g:
                g.seek(int(q["seek"]) + int(q["count"]))
                await send({"type": "http.response.zerocopysend", "file": g, "count": int(q["again"]), "more_body": True})
        await send({"type": "http.response.body", "body": b"<tail>"})
    elif path == "/trailers":
        await start(send, trailers=True)
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"123")], "more_trailers": True})
        await send({"type": "http.response.trailers", "headers": [(b"server-timing", b"db;dur=5")]})
    elif path == "/trailers-forbidden":
        await start(send, trailers=True)
        await send({"type": "http.response.body", "body": b"abc"})
        try:
            await send({"type": "http.response.trailers", "headers": [(b"content-length", b"3")]})
        except ValueError as exc:
            side_write("trailer-error", str(exc))
        await send({"type": "http.response.trailers", "headers": []})
    elif path == "/early":
        await send({"type": "http.response.early_hint", "links": [b"</style.css>; rel=preload; as=style", b"</app.js>; rel=preload; as=script"]})
        await start(send)
        await send({"type": "http.response.body", "body": b"page"})
    elif path == "/early-late":
        await start(send)
        try:
            await send({"type": "http.response.early_hint", "links": [b"</a.css>; rel=preload"]})
        except RuntimeError as exc:
            await send({"type": "http.response.body", "body": str(exc).encode()})


def _starlette_app():
    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Route

    async def file(request):
        return FileResponse(request.query_params["path"])

    return Starlette(routes=[Route("/file", file, methods=["GET", "HEAD"])])


class Recorder:
    """Records the message types the app sends; GET /types returns the
    last response's list."""

    def __init__(self, inner):
        self.inner = inner
        self.last = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/types":
            body = json.dumps(self.last).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        types = []

        async def recording_send(message):
            types.append(message["type"])
            await send(message)

        await self.inner(scope, receive, recording_send)
        if scope["type"] == "http":
            self.last = types


starlette_app = Recorder(_starlette_app())
