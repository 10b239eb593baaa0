"""One worker: a normal single-loop server on listening sockets it inherited.

Two ways in, one path (:func:`serve_worker`):

* ``python -m pyre_http.worker_process FD``, started by the supervisor
  (``supervisor.py``). FD is one end of a socket pair, the *channel*; the
  supervisor writes one JSON line on it (the config, the descriptors of the
  inherited listening sockets, the request limit) and then pings. The lines
  the worker writes back:

  ``ready``
      the core is accepting connections;
  ``pong``
      the answer to ``ping``, written by a reader on the worker's event
      loop, so a loop that the application blocks answers nothing;
  ``retire``
      the request limit is reached: the worker wants a replacement and keeps
      serving until the supervisor, once the replacement accepts, stops it
      with SIGTERM;
  ``error CODE MESSAGE``
      the worker cannot start (import error, lifespan startup failure); the
      supervisor prints MESSAGE and exits with CODE.

  End of file on the channel means the supervisor is gone: the worker shuts
  down gracefully instead of living on as an orphan.

* ``pyre_http.workers.PyreWorker``, gunicorn's worker class, which gunicorn
  forks after binding; it passes gunicorn's sockets and its own hooks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import sys
import traceback
from typing import Any, Sequence

from .config import ASGIApp, Config
from .errors import EXIT_ERROR, StartupError
from .importer import load_app
from .logging_setup import configure_logging
from .loops import loop_factory, run_on_new_loop
from .server import CoreFactory, CoreServer, Server, load_tls, native_core_factory

logger = logging.getLogger("pyre_http.error")

# How often a worker with a request limit compares it with the core's
# count: a worker may take a few requests more than its limit before it
# asks to be replaced (it keeps serving until the replacement accepts
# anyway).
LIMIT_CHECK_INTERVAL = 0.1
IDLE_CHECK_INTERVAL = 1.0


class WorkerHooks:
    """What a process manager adds to a single-loop server: a periodic
    check on the worker's own event loop, and the request limit."""

    def __init__(self, max_requests: int | None, interval: float | None = None) -> None:
        self.max_requests = max_requests
        if interval is None:
            interval = LIMIT_CHECK_INTERVAL if max_requests else IDLE_CHECK_INTERVAL
        self.interval = interval
        self.server: Server | None = None
        self.core: CoreServer | None = None
        self._limit_reached = False
        self._handle: asyncio.TimerHandle | None = None

    def started(self, server: Server, loop: asyncio.AbstractEventLoop, core: CoreServer) -> None:
        """The core accepts connections (called from Server's on_started)."""
        self.server = server
        self.core = core
        self._handle = loop.call_later(self.interval, self._periodic, loop)

    def _periodic(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self.check()
        except Exception:
            logger.exception("Error in the worker's periodic check")
        self._handle = loop.call_later(self.interval, self._periodic, loop)

    def check(self) -> None:
        if self.max_requests is None or self._limit_reached or self.core is None:
            return
        served = self.core.request_count()
        if served >= self.max_requests:
            self._limit_reached = True
            self.limit_reached(served)

    def limit_reached(self, served: int) -> None:
        """The request limit is reached; by default, shut down gracefully."""
        logger.info("Maximum request limit of %d reached (%d served). Shutting down.", self.max_requests, served)
        self.stop()

    def stop(self) -> None:
        if self.server is not None:
            self.server.handle_exit()


def serve_worker(
    config: Config,
    sockets: list[socket.socket],
    hooks: WorkerHooks,
    *,
    app: ASGIApp | None = None,
    core_factory: CoreFactory | None = None,
) -> int:
    """Load the app (unless given), serve it on ``sockets`` until stopped.

    Returns the exit status; raises StartupError. Logging is the caller's.
    """
    loaded = app if app is not None else load_app(config.app, factory=config.factory, app_dir=config.app_dir)
    factory = core_factory if core_factory is not None else native_core_factory()
    new_loop = loop_factory(config.loop)
    server: Server

    def on_started(loop: asyncio.AbstractEventLoop, core: CoreServer) -> None:
        hooks.started(server, loop, core)

    tls = load_tls(config) if core_factory is None else None
    server = Server(config, loaded, factory, sockets=sockets, on_started=on_started, tls=tls)
    return run_on_new_loop(server.serve(), new_loop)


class SupervisedHooks(WorkerHooks):
    """The worker's side of the channel to the supervisor."""

    def __init__(self, channel: socket.socket, max_requests: int | None) -> None:
        super().__init__(max_requests)
        self.channel = channel
        self._buffer = b""

    def send(self, line: str) -> None:
        try:
            self.channel.sendall(line.encode("utf-8", "replace") + b"\n")
        except OSError:
            pass  # the supervisor is gone; the reader below sees it

    def started(self, server: Server, loop: asyncio.AbstractEventLoop, core: CoreServer) -> None:
        super().started(server, loop, core)
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._on_channel)
        self.send("ready")

    def _on_channel(self) -> None:
        try:
            data = self.channel.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
            logger.warning("The supervisor is gone; shutting down.")
            self.stop()
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line == b"ping":
                self.send("pong")

    def limit_reached(self, served: int) -> None:
        logger.info(
            "Maximum request limit of %d reached (%d served); asking for a replacement.",
            self.max_requests,
            served,
        )
        self.send("retire")

    def report_error(self, exc: StartupError) -> None:
        message = " ".join(str(exc).split())
        self.send(f"error {exc.exit_code} {message}")


def config_to_json(config: Config) -> dict[str, Any]:
    """The config as the supervisor sends it (the app is an import string)."""
    return dataclasses.asdict(config)


def config_from_json(data: dict[str, Any]) -> Config:
    fields = {f.name for f in dataclasses.fields(Config)}
    return Config(**{name: value for name, value in data.items() if name in fields})


def _read_setup(channel: socket.socket) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = channel.recv(65536)
        if not chunk:
            raise StartupError("the supervisor closed the channel before sending the worker's setup")
        data += chunk
    setup: dict[str, Any] = json.loads(data)
    return setup


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m pyre_http.worker_process CHANNEL_FD (started by the supervisor)", file=sys.stderr)
        return 2
    channel = socket.socket(fileno=int(args[0]))
    channel.setblocking(True)
    setup = _read_setup(channel)
    config = config_from_json(setup["config"])
    sockets = [socket.socket(fileno=fd) for fd in setup["sockets"]]
    configure_logging(config.log_level_number, config.access_log)
    hooks = SupervisedHooks(channel, setup.get("max_requests"))
    try:
        return serve_worker(config, sockets, hooks)
    except StartupError as exc:
        hooks.report_error(exc)
        if config.log_level_number <= logging.DEBUG and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours: say it on the channel too
        hooks.send(f"error {EXIT_ERROR} {type(exc).__name__}: {' '.join(str(exc).split())}")
        raise


if __name__ == "__main__":
    sys.exit(main())
