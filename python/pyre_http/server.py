"""The serving loop: listening sockets, the native core, signals, graceful shutdown.

Everything HTTP happens in ``pyre_http._core.Server``; this module only
starts it, feeds it event-loop callbacks and stops it in order:

1. lifespan startup, bind, create the core, register its epoll fd;
2. serve until SIGINT/SIGTERM;
3. stop accepting, let busy connections finish (bounded by
   ``timeout_graceful_shutdown``), cancel what is left, close;
4. lifespan shutdown.

A second signal during any of this forces an immediate exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Any, Callable, Protocol

from .config import ASGIApp, Config
from .errors import EXIT_ERROR, StartupError
from .lifespan import Lifespan
from .access_log import plan as access_log_plan
from .sockets import BindSpec, Listener, open_listeners

logger = logging.getLogger("pyre_http.error")

TICK_INTERVAL = 1.0  # seconds between core.tick() calls (keep-alive timeouts)
SHUTDOWN_POLL_INTERVAL = 0.05  # how often graceful shutdown checks for idleness
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class CoreServer(Protocol):
    """What this module needs from ``pyre_http._core.Server``."""

    def fileno(self) -> int: ...
    def on_ready(self) -> None: ...
    def tick(self) -> None: ...
    def stop_accepting(self) -> None: ...
    def shutdown(self) -> None: ...
    def connection_count(self) -> int: ...
    def task_count(self) -> int: ...
    def request_count(self) -> int: ...
    def cancel_tasks(self) -> None: ...
    def close(self) -> None: ...


CoreFactory = Callable[..., CoreServer]
# Called once the core accepts connections: a worker's hook into its loop
# (health pings, request counting) without this module knowing about workers.
StartedHook = Callable[[asyncio.AbstractEventLoop, CoreServer], None]


def native_core_factory() -> CoreFactory:
    """Import the Rust core only when serving, so config and app errors never need it."""
    try:
        from . import _core  # built by maturin; typed by _core.pyi
    except ImportError as exc:
        raise StartupError(
            f"the native module pyre_http._core is not available ({exc}); build it with `maturin develop`."
        ) from exc
    return _core.Server


def load_tls(config: Config) -> Any:
    """The core's loaded TLS settings (None without --ssl-certfile), read
    before the app is imported or any worker starts: a wrong password or a
    mismatched key is one line."""
    if config.ssl_certfile is None:
        return None
    native_core_factory()  # a missing native module is one line too
    from . import _core

    try:
        return _core.load_tls(**config.tls_options)
    except ValueError as exc:
        raise StartupError(str(exc)) from None


class Server:
    def __init__(
        self,
        config: Config,
        app: ASGIApp,
        core_factory: CoreFactory,
        *,
        sockets: list[socket.socket] | None = None,
        on_started: StartedHook | None = None,
        tls: Any = None,
    ) -> None:
        """``sockets``: listening sockets bound elsewhere (a worker inherits
        its supervisor's); they are closed once the server stops accepting.
        Without them the server binds ``config.host:config.port`` itself.
        ``tls``: what ``load_tls(config)`` returned."""
        self.config = config
        self.app = app
        self._core_factory = core_factory
        self._tls = tls
        self._given_sockets = sockets
        self._on_started = on_started
        self.started = False  # True once the core is accepting connections
        self._should_exit = asyncio.Event()
        self._force_exit = False
        self._main_task: asyncio.Task[Any] | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._installed_signals: list[int] = []

    async def serve(self) -> int:
        """Serve until told to stop; return the exit status. Raises StartupError."""
        loop = asyncio.get_running_loop()
        self._main_task = asyncio.current_task()
        self._install_signal_handlers(loop)
        lifespan = Lifespan(self.app, self.config.lifespan)
        logger.info("Started server process [%d]", os.getpid())
        try:
            await self._serve(loop, lifespan)
        except asyncio.CancelledError:
            if not self._force_exit:
                raise
            # We cancelled ourselves; undo the request so that an enclosing
            # asyncio.timeout() or TaskGroup does not take it for its own.
            task = asyncio.current_task()
            if task is not None and hasattr(task, "uncancel"):  # Python 3.11+
                task.uncancel()
            # Forced exit: the core has already been closed by the finally
            # blocks below; the lifespan gets no further say.
            lifespan.cancel()
            logger.info("Forced exit.")
            return 0 if self.started else EXIT_ERROR
        finally:
            self._remove_signal_handlers(loop)
        logger.info("Finished server process [%d]", os.getpid())
        return 0

    def handle_exit(self, sig: int | None = None) -> None:
        """First call: graceful shutdown. Second call: stop now."""
        if not self._should_exit.is_set():
            self._should_exit.set()
            return
        if not self._force_exit:
            self._force_exit = True
            if self._main_task is not None:
                self._main_task.cancel()

    async def _serve(self, loop: asyncio.AbstractEventLoop, lifespan: Lifespan) -> None:
        state = await lifespan.startup()
        if self._should_exit.is_set():  # a signal arrived during startup
            await lifespan.shutdown()
            return
        if self._given_sockets is not None:
            # A supervisor bound them and owns them: this worker only serves.
            listeners = [Listener(sock, BindSpec("fd", fd=sock.fileno())) for sock in self._given_sockets]
        else:
            try:
                listeners = self._open_listeners()
            except StartupError:
                await lifespan.shutdown()
                raise
        sockets = [listener.sock for listener in listeners]
        try:
            core = self._create_core(loop, sockets, state)
        except (RuntimeError, ValueError) as exc:
            # The core refuses this interpreter or a setting: one line.
            _close_all(listeners)
            await lifespan.shutdown()
            raise StartupError(str(exc)) from exc
        except BaseException:
            _close_all(listeners)
            await lifespan.shutdown()
            raise

        fd = core.fileno()
        try:
            loop.add_reader(fd, core.on_ready)
            self._schedule_tick(loop, core)
            self.started = True
            if self._given_sockets is None:  # a supervisor announces its own addresses
                for listener in listeners:
                    logger.info("pyre-http running on %s (Press CTRL+C to quit)", listener.describe(self.config.ssl_certfile is not None))
            if self._on_started is not None:
                self._on_started(loop, core)
            await self._should_exit.wait()
            logger.info("Shutting down")
            core.stop_accepting()
            _close_all(listeners)  # the core holds its own dup()s of the fds
            core.shutdown()
            await self._wait_until_idle(loop, core)
        finally:
            # Reached on a normal stop, a graceful timeout and a forced exit.
            self._stop_core(loop, fd, core)
            _close_all(listeners)
        await lifespan.shutdown()

    def _open_listeners(self) -> list[Listener]:
        """--bind, --uds, --fd and systemd's sockets; --host/--port when there are none."""
        config = self.config
        return open_listeners(config.listen_specs(), config.backlog, config.uds_permissions)

    def _create_core(
        self, loop: asyncio.AbstractEventLoop, sockets: list[socket.socket], state: dict[str, Any] | None
    ) -> CoreServer:
        config = self.config
        return self._core_factory(
            self.app,
            loop,
            sockets,
            state=state,
            root_path=config.root_path,
            server_header=config.server_header,
            date_header=config.date_header,
            headers=list(config.headers),
            access_log=config.access_log,
            timeout_keep_alive=float(config.timeout_keep_alive),
            timeout_request_header=config.seconds_or_none("timeout_request_header"),
            timeout_request_body=config.seconds_or_none("timeout_request_body"),
            timeout_send=config.seconds_or_none("timeout_send"),
            limit_concurrency=config.limit_concurrency,
            limit_request_line=config.limit_request_line,
            limit_request_headers=config.limit_request_headers,
            limit_request_header_size=config.limit_request_header_size,
            limit_request_body=config.body_limit_or_none,
            ws=config.ws_core,
            ws_max_size=config.ws_max_size,
            ws_max_queue=config.ws_max_queue,
            ws_ping_interval=config.seconds_or_none("ws_ping_interval"),
            ws_ping_timeout=config.seconds_or_none("ws_ping_timeout"),
            ws_per_message_deflate=config.ws_per_message_deflate,
            proxy_headers=config.proxy_headers,
            forwarded_allow_ips=config.trusted_proxies,
            proxy_protocol=config.proxy_protocol,
            tls=self._tls,
            **self._access_log_options(),
        )

    def _access_log_options(self) -> dict[str, Any]:
        """What the core needs for --access-log-format (nothing special without one)."""
        fmt = self.config.access_log_format
        if not fmt:
            return dict(
                access_log_hook=None,
                access_log_request_headers=[],
                access_log_response_headers=[],
                access_log_timing=False,
            )
        plan = access_log_plan(fmt, logging.getLogger("pyre_http.access"))
        return dict(
            access_log_hook=plan.hook,
            access_log_request_headers=plan.request_headers,
            access_log_response_headers=plan.response_headers,
            access_log_timing=plan.timing,
        )

    async def _wait_until_idle(self, loop: asyncio.AbstractEventLoop, core: CoreServer) -> None:
        """Poll until no connection or app task is left, or the graceful timeout ends."""
        timeout = self.config.timeout_graceful_shutdown
        deadline = None if timeout is None else loop.time() + timeout
        said_connections = said_tasks = False
        while True:
            # The core's timers at the poll's pace: the short waits of a
            # shutdown (the grace for a just-answered connection) end on time.
            core.tick()
            connections, tasks = core.connection_count(), core.task_count()
            if not connections and not tasks:
                return
            if connections and not said_connections:
                said_connections = True
                logger.info("Waiting for connections to close. (CTRL+C to force quit)")
            if tasks and not said_tasks:
                said_tasks = True
                logger.info("Waiting for application tasks to complete. (CTRL+C to force quit)")
            if deadline is not None and loop.time() >= deadline:
                logger.error(
                    "Graceful shutdown timeout exceeded: closing %d connection(s), cancelling %d task(s).",
                    connections,
                    tasks,
                )
                return
            await asyncio.sleep(SHUTDOWN_POLL_INTERVAL)

    def _stop_core(self, loop: asyncio.AbstractEventLoop, fd: int, core: CoreServer) -> None:
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        # No more on_ready callbacks once the core starts closing things.
        loop.remove_reader(fd)
        if core.task_count():
            core.cancel_tasks()
        core.close()

    def _schedule_tick(self, loop: asyncio.AbstractEventLoop, core: CoreServer) -> None:
        def tick() -> None:
            try:
                core.tick()
            except Exception:
                logger.exception("Error in the core's periodic tick")
            self._tick_handle = loop.call_later(TICK_INTERVAL, tick)

        self._tick_handle = loop.call_later(TICK_INTERVAL, tick)

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in HANDLED_SIGNALS:
            try:
                loop.add_signal_handler(sig, self.handle_exit, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                # Not the main thread (or no signal support): the embedder
                # has to call handle_exit() itself.
                return
            self._installed_signals.append(sig)

    def _remove_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in self._installed_signals:
            loop.remove_signal_handler(sig)
        self._installed_signals.clear()


def _close_all(listeners: list[Listener]) -> None:
    for listener in listeners:
        listener.close()
