"""How an application uses pyre-http's public API, as a type checker sees it.

Never run: tests/test_typing.py passes it to ``mypy --strict`` together with
the package. Each ``# type: ignore[...]`` marks a call that must stay a type
error; mypy --strict reports an ignore that is no longer needed, so a stub
that became too loose fails the check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pyre_http
from pyre_http import _core
from pyre_http._core import ClientDisconnected

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    event = await receive()
    body: bytes = event.get("body", b"")
    try:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
    except ClientDisconnected as exc:
        errno: int | None = exc.errno  # an OSError
        del errno


async def uses_core_objects(receive: _core.Receive, send: _core.Send) -> None:
    message: dict[str, Any] = await receive()
    await send({"type": "http.response.body", "body": message.get("body", b"")})
    await send()  # type: ignore[call-arg]


def main() -> None:
    pyre_http.run(app, host="127.0.0.1", port=8000, log_level="warning")
    pyre_http.run("examples.hello:app")
    pyre_http.run(app, port="8000")  # type: ignore[arg-type]
    version: str = pyre_http.__version__ + _core.__version__
    del version
