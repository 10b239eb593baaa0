"""gunicorn worker class: ``gunicorn -k pyre_http.workers.PyreWorker app:app``.

gunicorn's arbiter binds the sockets, forks the workers and supervises them
(HUP, TERM, TTIN/TTOU, ``--max-requests``, ``--graceful-timeout``,
``--timeout``); in each worker this class runs pyre-http's own worker entry
point (:func:`pyre_http.worker_process.serve_worker`) on gunicorn's sockets:

* TERM: graceful shutdown as on a single pyre-http server, bounded by
  ``--graceful-timeout`` (less up to a second, so that the worker cancels
  what is left and runs the lifespan shutdown before the arbiter's SIGKILL); INT and QUIT: immediate exit, as gunicorn's own
  workers do;
* ``--max-requests`` (with gunicorn's jitter): the worker stops accepting,
  finishes what it has and exits; gunicorn starts the next one;
* ``--timeout``: the heartbeat is written from a timer on the worker's
  event loop, so a loop that the application blocks stops it and gunicorn
  kills the worker;
* ``--keep-alive`` sets pyre-http's keep-alive timeout; the log level
  follows ``--log-level``, access logging is on when ``--access-logfile``
  is given.

Other pyre-http settings keep their defaults; set them with
``PyreWorker.CONFIG_KWARGS`` in a subclass (as uvicorn's worker allows).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any

from gunicorn.arbiter import Arbiter  # type: ignore[import-not-found,import-untyped,unused-ignore]
from gunicorn.workers.base import Worker  # type: ignore[import-not-found,import-untyped,unused-ignore]

from .config import Config
from .errors import StartupError
from .logging_setup import configure_logging
from .server import CoreServer, Server
from .worker_process import IDLE_CHECK_INTERVAL, LIMIT_CHECK_INTERVAL, WorkerHooks, serve_worker

logger = logging.getLogger("pyre_http.error")

_GUNICORN_LEVELS = {"debug": "debug", "info": "info", "warning": "warning", "error": "error", "critical": "critical"}


class _GunicornHooks(WorkerHooks):
    def __init__(self, worker: PyreWorker) -> None:
        max_requests = worker.max_requests if 0 < worker.max_requests < sys.maxsize else None
        # gunicorn's arbiter kills a worker whose heartbeat is older than
        # --timeout; worker.timeout is half of it.
        interval = LIMIT_CHECK_INTERVAL if max_requests else IDLE_CHECK_INTERVAL
        if worker.timeout:
            interval = max(0.05, min(interval, worker.timeout / 2))
        super().__init__(max_requests, interval)
        self.worker = worker

    def started(self, server: Server, loop: asyncio.AbstractEventLoop, core: CoreServer) -> None:
        super().started(server, loop, core)
        self.worker.notify()
        # SIGQUIT and SIGINT: gunicorn's quick exit (a second handle_exit
        # call is the forced exit).
        for sig in (signal.SIGQUIT, signal.SIGINT):
            loop.add_signal_handler(sig, self._quit)

    def _quit(self) -> None:
        if self.server is not None:
            self.server.handle_exit()
            self.server.handle_exit()

    def check(self) -> None:
        self.worker.notify()
        if self.worker.ppid != os.getppid():
            logger.info("Parent changed, shutting down: %s", self.worker)
            self.stop()
            return
        super().check()

    def limit_reached(self, served: int) -> None:
        logger.info("Maximum request limit of %d reached (%d served). Shutting down.", self.max_requests, served)
        self.worker.alive = False
        self.stop()


def _before(graceful_timeout: float) -> float:
    """pyre-http's graceful timeout for gunicorn's: up to a second earlier."""
    return max(0.0, graceful_timeout - min(1.0, graceful_timeout * 0.2))


class PyreWorker(Worker):  # type: ignore[misc]
    """A gunicorn worker that serves through pyre-http."""

    CONFIG_KWARGS: dict[str, Any] = {}

    def init_signals(self) -> None:
        # The pyre-http server installs its own handlers on its event loop;
        # gunicorn's (set here by the base class) would swallow them.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.siginterrupt(signal.SIGUSR1, False)

    def _config(self) -> Config:
        cfg = self.cfg
        level = _GUNICORN_LEVELS.get(str(cfg.loglevel).lower(), "info")
        options: dict[str, Any] = {
            "app": "gunicorn:app",  # not imported: gunicorn already loaded self.wsgi
            "timeout_keep_alive": float(cfg.keepalive),
            # The arbiter sends SIGKILL at --graceful-timeout: end a little
            # earlier, so that tasks are cancelled and the lifespan
            # shutdown runs.
            "timeout_graceful_shutdown": _before(float(cfg.graceful_timeout)),
            "log_level": level,
            "access_log": cfg.accesslog is not None,
            "lifespan": "auto",
        }
        if cfg.is_ssl:
            # gunicorn's --certfile/--keyfile/--ca-certs/--cert-reqs/--ciphers,
            # terminated by the core as for --ssl-* (as uvicorn's worker does).
            options.update(
                ssl_certfile=cfg.certfile,
                ssl_keyfile=cfg.keyfile,
                ssl_ca_certs=cfg.ca_certs,
                ssl_cert_reqs=int(cfg.cert_reqs),
            )
            if cfg.ciphers:
                options["ssl_ciphers"] = cfg.ciphers
        options.update(self.CONFIG_KWARGS)
        return Config(**options)

    def run(self) -> None:
        config = self._config()
        configure_logging(config.log_level_number, config.access_log)
        hooks = _GunicornHooks(self)
        sockets = [listener.sock for listener in self.sockets]
        try:
            serve_worker(config, sockets, hooks, app=self.wsgi)
        except StartupError as exc:
            self.log.error("pyre-http: error: %s", exc)
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        if hooks.server is None or not hooks.server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        sys.exit(0)
