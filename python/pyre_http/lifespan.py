"""The ASGI lifespan protocol, version 2.0, as the asgiref specification says.

The application runs as one task for the server's whole life. It receives
``lifespan.startup`` and later ``lifespan.shutdown`` and answers each with
``.complete`` or ``.failed``.

Modes (``--lifespan``):

* ``on``: lifespan is required. The app failing startup, raising, or
  returning before it completes startup stops the server (status 3).
* ``auto``: an app that raises or returns before completing startup is taken
  not to support lifespan (the spec says the server must then carry on
  without lifespan events); this is logged at INFO, its traceback at DEBUG.
  An explicit ``lifespan.startup.failed`` still stops the server.
* ``off``: the app is never called with a lifespan scope.

A failed *shutdown* is logged but does not change the exit status, like
uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .config import ASGIApp
from .errors import EXIT_STARTUP_FAILURE, StartupError

logger = logging.getLogger("pyre_http.error")

UNSUPPORTED_MESSAGE = "ASGI 'lifespan' protocol appears unsupported."


class LifespanStartupFailed(StartupError):
    def __init__(self) -> None:
        super().__init__("Application startup failed. Exiting.", EXIT_STARTUP_FAILURE)


class Lifespan:
    def __init__(self, app: ASGIApp, mode: str) -> None:
        self._app = app
        self._mode = mode
        self._state: dict[str, Any] = {}
        self._receive_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._supported = False  # set once the app completed startup
        self._startup_complete = False
        self._startup_failed_message: str | None = None
        self._shutdown_complete = False
        self._shutdown_failed_message: str | None = None
        self._error: Exception | None = None

    async def startup(self) -> dict[str, Any] | None:
        """Run startup; return the state dict for requests, or None without lifespan.

        Raises :class:`LifespanStartupFailed` when the server must not start.
        """
        if self._mode == "off":
            return None
        logger.info("Waiting for application startup.")
        self._task = asyncio.get_running_loop().create_task(self._run_app())
        await self._receive_queue.put({"type": "lifespan.startup"})
        await self._startup_done.wait()

        if self._startup_failed_message is not None:
            if self._startup_failed_message:
                logger.error(self._startup_failed_message)
            raise LifespanStartupFailed()
        if self._startup_complete:
            self._supported = True
            logger.info("Application startup complete.")
            return self._state

        # The app raised or returned without answering: no lifespan support.
        if self._mode == "auto":
            logger.info(UNSUPPORTED_MESSAGE)
            if self._error is not None:
                logger.debug("The lifespan call raised:", exc_info=self._error)
            return None
        if self._error is not None:
            logger.error("Exception in 'lifespan' protocol", exc_info=self._error)
        else:
            logger.error("The application returned from the lifespan call without completing startup.")
        raise LifespanStartupFailed()

    async def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the answer (only if startup completed)."""
        if not self._supported:
            return
        logger.info("Waiting for application shutdown.")
        await self._receive_queue.put({"type": "lifespan.shutdown"})
        await self._shutdown_done.wait()

        if self._shutdown_failed_message is not None:
            if self._shutdown_failed_message:
                logger.error(self._shutdown_failed_message)
            logger.error("Application shutdown failed.")
        elif self._error is not None:
            logger.error("Exception in 'lifespan' protocol", exc_info=self._error)
            logger.error("Application shutdown failed.")
        elif self._shutdown_complete:
            logger.info("Application shutdown complete.")
        else:
            # Returning instead of answering: allowed by nothing, harmless here.
            logger.info("Application shutdown complete (the lifespan call returned).")

    def cancel(self) -> None:
        """Stop the lifespan task without ceremony (forced exit)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run_app(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self._state,
        }
        try:
            await self._app(scope, self._receive, self._send)
        except Exception as exc:
            self._error = exc
        finally:
            # Whatever happened, nobody may wait forever for an answer that
            # can no longer come.
            self._startup_done.set()
            self._shutdown_done.set()

    async def _receive(self) -> dict[str, Any]:
        return await self._receive_queue.get()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            if self._startup_done.is_set():
                raise RuntimeError(f"Unexpected ASGI message {kind!r}: startup has already been answered.")
            if kind == "lifespan.startup.complete":
                self._startup_complete = True
            else:
                self._startup_failed_message = str(message.get("message", ""))
            self._startup_done.set()
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if not self._startup_done.is_set() or self._shutdown_done.is_set():
                raise RuntimeError(f"Unexpected ASGI message {kind!r} at this point of the lifespan.")
            if kind == "lifespan.shutdown.complete":
                self._shutdown_complete = True
            else:
                self._shutdown_failed_message = str(message.get("message", ""))
            self._shutdown_done.set()
        else:
            raise RuntimeError(f"Unexpected ASGI message type {kind!r} in the lifespan protocol.")
