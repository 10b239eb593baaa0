"""file-50k, file-10m: Starlette's FileResponse for one file of 50 KB or
10 MB (10,000,000 bytes). Starlette sends `http.response.pathsend` when the
server advertises it (pyre-http, granian), else reads the file in 64 KiB
pieces in a thread and sends them as body messages (uvicorn, hypercorn).

The files are written once under the temporary directory (named by size and
reused across runs), so every server serves the same bytes from the page
cache."""

import os
import tempfile

from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

DIRECTORY = os.path.join(tempfile.gettempdir(), "pyre-bench-files")


def ensure(size):
    path = os.path.join(DIRECTORY, f"file-{size}.bin")
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    os.makedirs(DIRECTORY, exist_ok=True)
    block = bytes(range(256)) * 256  # 64 KiB
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        left = size
        while left:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    os.replace(tmp, path)
    return path


def serving(size):
    path = ensure(size)

    async def file(request):
        return FileResponse(path, media_type="application/octet-stream")

    return Starlette(routes=[Route("/", file)])


app_50k = serving(50_000)
app_10m = serving(10_000_000)
