"""Types of the native module ``pyre_http._core`` (Rust, built by maturin).

``Server`` is used by the front (``pyre_http.server``); ``ClientDisconnected``
is what an application may catch. The other classes are what an application
meets without naming them: its ``receive`` and ``send`` callables, the
awaitables they return, and the coroutine of its asyncio task. None of them
can be created from Python.

``tests/test_typing.py`` checks this file against the built module with
mypy's stubtest.
"""

import asyncio
import socket
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, final

__all__ = [
    "__version__",
    "Server",
    "load_tls",
    "TlsSettings",
    "Receive",
    "Send",
    "WsReceive",
    "WsSend",
    "Ready",
    "Done",
    "AppRunner",
    "ClientDisconnected",
]

__version__: str

# An ASGI event or message: ``{"type": "http.request", "body": b"...", ...}``.
_Message = dict[str, Any]
_ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[_Message]], Callable[[Mapping[str, Any]], Awaitable[None]]],
    Awaitable[None],
]

class ClientDisconnected(OSError):
    """The client closed the connection; nothing more can be sent to it.

    Raised by ``send()`` (HTTP and WebSocket) after the client has gone.
    """

@final
class TlsSettings:
    """A loaded certificate, key and client-certificate policy (from load_tls)."""

def load_tls(
    *,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    ssl_keyfile_password: str | None,
    ssl_ca_certs: str | None,
    ssl_cert_reqs: int,
    ssl_ciphers: str,
) -> TlsSettings | None:
    """The TLS settings for Server(tls=...); None without a certificate,
    ValueError with one line if unusable."""

@final
class Server:
    """One driver: the listening sockets, their connections, the app's tasks."""

    def __new__(
        cls,
        app: _ASGIApp,
        event_loop: asyncio.AbstractEventLoop,
        sockets: Sequence[socket.socket],
        *,
        # Every setting is required: the defaults live in pyre_http.config.
        state: dict[str, Any] | None,
        root_path: str,
        server_header: bool,
        date_header: bool,
        headers: Sequence[tuple[str, str]],
        access_log: bool,
        timeout_keep_alive: float,
        timeout_request_header: float | None,
        timeout_request_body: float | None,
        timeout_send: float | None,
        limit_concurrency: int | None,
        limit_request_line: int,
        limit_request_headers: int,
        limit_request_header_size: int,
        limit_request_body: int | None,
        ws: Literal["auto", "none"],
        ws_max_size: int,
        ws_max_queue: int,
        ws_ping_interval: float | None,
        ws_ping_timeout: float | None,
        ws_per_message_deflate: bool,
        proxy_headers: bool,
        forwarded_allow_ips: Sequence[str],
        proxy_protocol: bool,
        access_log_hook: Callable[..., Any] | None,
        access_log_request_headers: Sequence[str],
        access_log_response_headers: Sequence[str],
        access_log_timing: bool,
        tls: TlsSettings | None,
    ) -> Server: ...
    def fileno(self) -> int:
        """The descriptor for ``loop.add_reader(fd, server.on_ready)``."""
    def on_ready(self) -> None: ...
    def tick(self) -> None:
        """Timers; call about once a second."""
    def stop_accepting(self) -> None: ...
    def shutdown(self) -> None: ...
    def connection_count(self) -> int: ...
    def task_count(self) -> int: ...
    def cancel_tasks(self) -> None: ...
    def request_count(self) -> int:
        """Requests handed to the application so far (worker recycling reads it)."""
    def close(self) -> None: ...

@final
class Receive:
    """The ``receive`` of an ``http`` scope."""

    def __call__(self) -> Awaitable[_Message]: ...

@final
class Send:
    """The ``send`` of an ``http`` scope; raises ClientDisconnected once the client is gone."""

    def __call__(self, message: Mapping[str, Any], /) -> Awaitable[None]: ...

@final
class WsReceive:
    """The ``receive`` of a ``websocket`` scope."""

    def __call__(self) -> Awaitable[_Message]: ...

@final
class WsSend:
    """The ``send`` of a ``websocket`` scope; raises ClientDisconnected once the connection is closed."""

    def __call__(self, message: Mapping[str, Any], /) -> Awaitable[None]: ...

@final
class Ready:
    """What ``receive()`` returns when an event is already there: awaiting it gives the event."""

    def __await__(self) -> Generator[Any, None, _Message]: ...
    def __iter__(self) -> Ready: ...
    def __next__(self) -> Any: ...

@final
class Done:
    """What ``send()`` returns when nothing needs waiting for: awaiting it gives None."""

    def __await__(self) -> Generator[Any, None, None]: ...
    def __iter__(self) -> Done: ...
    def __next__(self) -> Any: ...

@final
class AppRunner:
    """The coroutine of the asyncio task that runs the application for one request."""

    def __await__(self) -> Generator[Any, Any, None]: ...
    def __iter__(self) -> AppRunner: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any: ...
    def throw(
        self,
        kind: type[BaseException] | BaseException,
        value: BaseException | object = None,
        traceback: TracebackType | None = None,
    ) -> Any: ...
    def close(self) -> None: ...
