"""From a Config to a served application: the one path both the CLI and run() take."""

from __future__ import annotations

import sys
import traceback
from typing import Any

from .config import DEFAULT_HOST, DEFAULT_PORT, ASGIApp, Config
from .errors import StartupError
from .importer import load_app
from .envfile import load_env_file
from .logging_setup import configure_logging, enable_loggers
from .loops import loop_factory, run_on_new_loop
from .server import CoreFactory, Server, load_tls, native_core_factory


def serve_config(config: Config, core_factory: CoreFactory | None = None, tls: Any = None) -> int:
    """Load the app, serve it, return the exit status. Raises StartupError.

    ``core_factory`` replaces ``pyre_http._core.Server`` (tests use a fake).
    """
    if config.env_file is not None:
        load_env_file(config.env_file)
    # Before the application is imported, so that its loggers and ours
    # share the handlers a --log-config sets up.
    configure_logging(
        config.log_level_number,
        config.access_log,
        log_config=config.log_config,
        use_colors=config.use_colors,
        access_log_format=config.access_log_format,
    )
    app = load_app(config.app, factory=config.factory, app_dir=config.app_dir)
    enable_loggers()
    # Resolved before the loop starts, so a missing native module is
    # reported before the application's lifespan startup runs.
    factory = core_factory if core_factory is not None else native_core_factory()
    new_loop = loop_factory(config.loop)
    server = Server(config, app, factory, tls=tls)
    return run_on_new_loop(server.serve(), new_loop)


def serve_and_report(config: Config, core_factory: CoreFactory | None = None) -> int:
    """serve_config (or the supervisor, see Config.supervised), with a
    startup error turned into one stderr line and a status."""
    try:
        # Before the app is imported: in a supervisor only to check (each
        # worker loads its own), in a single process once for the server.
        tls = load_tls(config) if core_factory is None else None
        if config.supervised:
            # Imported here: a single server never needs it.
            from .supervisor import run_supervisor

            configure_logging(config.log_level_number, config.access_log)
            return run_supervisor(config)
        return serve_config(config, core_factory, tls)
    except StartupError as exc:
        print(f"pyre-http: error: {exc}", file=sys.stderr)
        if config.log_level_number <= 10 and exc.__cause__ is not None:
            # --log-level debug/trace: the full story, for the app's own bugs.
            traceback.print_exception(exc.__cause__)
        return exc.exit_code


def run(app: str | ASGIApp, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **options: Any) -> None:
    """Serve ``app`` (an ASGI 3 callable or ``"module:attr"``) until SIGINT/SIGTERM.

    ``options`` are the other :class:`Config` fields (``lifespan="on"``,
    ``log_level="debug"``, ``timeout_graceful_shutdown=10``, ``workers=4``...);
    workers and ``reload`` need ``app`` as an import string. Like uvicorn,
    a failure to start prints one line on stderr and exits the process with
    a non-zero status (SystemExit).
    """
    config = Config(app=app, host=host, port=port, **options)
    status = serve_and_report(config)
    if status:
        sys.exit(status)
