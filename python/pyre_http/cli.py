"""The ``pyre-http`` command (also ``python -m pyre_http``).

Option names and defaults follow uvicorn's so that a uvicorn command line
works after renaming the program, plus pyre-http's own request limits.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from . import config as defaults
from ._version import version_line
from .config import LIFESPAN_CHOICES, LOG_LEVELS, LOOP_CHOICES, WS_CHOICES, Config, parse_header
from .runner import serve_and_report
from .server import CoreFactory


def _header(text: str) -> tuple[str, str]:
    try:
        return parse_header(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


_TRUE = frozenset(("1", "true", "t", "yes", "y", "on"))
_FALSE = frozenset(("0", "false", "f", "no", "n", "off"))


def _bool(text: str) -> bool:
    """A boolean option value, spelled as click (hence uvicorn) accepts it."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a valid boolean (true/false, yes/no, on/off, 1/0)")


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyre-http",
        description="Serve an ASGI 3 application with pyre-http.",
    )
    flag = argparse.BooleanOptionalAction  # --x / --no-x pairs, as in uvicorn
    parser.add_argument("app", metavar="APP", help='the ASGI application, as "module:attribute"')
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument(
        "--host", default=defaults.DEFAULT_HOST, help="bind to this address; IPv6 works, e.g. :: (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=defaults.DEFAULT_PORT,
        help="bind to this port, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--backlog",
        type=_positive_int,
        default=defaults.DEFAULT_BACKLOG,
        help="listen() backlog (default: %(default)s)",
    )
    parser.add_argument(
        "--factory", action="store_true", help="APP is a factory: call it with no arguments to get the app"
    )
    parser.add_argument(
        "--app-dir", default=".", help="directory put first on sys.path before importing APP (default: %(default)s)"
    )
    parser.add_argument(
        "--loop",
        choices=LOOP_CHOICES,
        default="auto",
        help="event loop; auto means uvloop if installed (default: %(default)s)",
    )
    parser.add_argument(
        "--lifespan", choices=LIFESPAN_CHOICES, default="auto", help="ASGI lifespan protocol (default: %(default)s)"
    )
    parser.add_argument("--log-level", choices=tuple(LOG_LEVELS), default="info", help="(default: %(default)s)")
    parser.add_argument("--access-log", action=flag, default=True, help="log every request")
    parser.add_argument("--root-path", default="", help="ASGI root_path, for an app mounted below a URL prefix")
    parser.add_argument(
        "--timeout-keep-alive",
        type=_non_negative_float,
        default=defaults.DEFAULT_TIMEOUT_KEEP_ALIVE,
        help="close idle keep-alive connections after this many seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout-request-header",
        type=_non_negative_float,
        default=defaults.DEFAULT_TIMEOUT_REQUEST_HEADER,
        help="seconds a started request head may take to arrive (408 after), 0 for no limit (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout-request-body",
        type=_non_negative_float,
        default=defaults.DEFAULT_TIMEOUT_REQUEST_BODY,
        help="longest gap in seconds between two reads of a request body (408 after), 0 for no limit "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--timeout-send",
        type=_non_negative_float,
        default=defaults.DEFAULT_TIMEOUT_SEND,
        help="seconds unsent output may wait with the client reading none of it before the connection "
        "closes, 0 for no limit (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout-graceful-shutdown",
        type=_non_negative_float,
        default=None,
        help="seconds to wait for requests to finish on shutdown before cancelling them (default: forever)",
    )
    parser.add_argument("--server-header", action=flag, default=True, help="send a Server header")
    parser.add_argument("--date-header", action=flag, default=True, help="send a Date header")
    parser.add_argument(
        "--header",
        dest="headers",
        type=_header,
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="extra default response header (repeatable)",
    )
    limits = parser.add_argument_group("request limits (a request over a limit gets a 4xx answer)")
    limits.add_argument(
        "--limit-concurrency",
        type=_positive_int,
        default=None,
        help="most connections and application tasks at once; new requests beyond it get 503 "
        "(default: no limit)",
    )
    limits.add_argument(
        "--limit-request-line",
        type=_positive_int,
        default=defaults.DEFAULT_LIMIT_REQUEST_LINE,
        help="maximum request line length in bytes (414 above; default: %(default)s)",
    )
    limits.add_argument(
        "--limit-request-headers",
        type=_positive_int,
        default=defaults.DEFAULT_LIMIT_REQUEST_HEADERS,
        help="maximum number of header fields (431 above; default: %(default)s)",
    )
    limits.add_argument(
        "--limit-request-header-size",
        type=_positive_int,
        default=defaults.DEFAULT_LIMIT_REQUEST_HEADER_SIZE,
        help="maximum size of the request head in bytes (431 above; default: %(default)s)",
    )
    limits.add_argument(
        "--limit-request-body",
        type=_non_negative_int,
        default=defaults.DEFAULT_LIMIT_REQUEST_BODY,
        help="maximum request body in bytes, 0 for unlimited (413 above; default: %(default)s)",
    )
    ws = parser.add_argument_group("WebSockets")
    ws.add_argument(
        "--ws",
        choices=WS_CHOICES,
        default="auto",
        help="WebSocket support; every choice but none selects the built-in implementation (uvicorn's names are "
        "accepted); none serves upgrade requests as plain HTTP (default: %(default)s)",
    )
    ws.add_argument(
        "--ws-max-size",
        type=_positive_int,
        default=defaults.DEFAULT_WS_MAX_SIZE,
        help="largest incoming WebSocket message in bytes; larger ones close with 1009 (default: %(default)s)",
    )
    ws.add_argument(
        "--ws-max-queue",
        type=_positive_int,
        default=defaults.DEFAULT_WS_MAX_QUEUE,
        help="received messages waiting for the app before reading pauses (default: %(default)s)",
    )
    ws.add_argument(
        "--ws-ping-interval",
        type=_non_negative_float,
        default=defaults.DEFAULT_WS_PING_INTERVAL,
        help="seconds between keep-alive pings, 0 to send none (default: %(default)s)",
    )
    ws.add_argument(
        "--ws-ping-timeout",
        type=_non_negative_float,
        default=defaults.DEFAULT_WS_PING_TIMEOUT,
        help="seconds to wait for a pong before closing, 0 to wait forever (default: %(default)s)",
    )
    ws.add_argument(
        "--ws-per-message-deflate",
        type=_bool,
        default=True,
        metavar="BOOLEAN",
        help="negotiate permessage-deflate compression: true or false (default: true)",
    )
    procs = parser.add_argument_group("processes (a supervisor runs the workers; it never imports the app)")
    procs.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="run this many worker processes under a supervisor (default: $WEB_CONCURRENCY if set, "
        "else one process and no supervisor)",
    )
    procs.add_argument(
        "--timeout-worker-healthcheck",
        type=_positive_float,
        default=defaults.DEFAULT_TIMEOUT_WORKER_HEALTHCHECK,
        metavar="SECONDS",
        help="seconds a worker's event loop may leave the supervisor's ping unanswered before the worker is "
        "killed and replaced (default: %(default)s)",
    )
    procs.add_argument(
        "--limit-max-requests",
        type=_positive_int,
        default=None,
        metavar="N",
        help="replace a worker after it has served this many requests (default: never)",
    )
    procs.add_argument(
        "--limit-max-requests-jitter",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="add a random 0..N to each worker's --limit-max-requests, so they are not replaced together "
        "(default: %(default)s)",
    )
    procs.add_argument(
        "--workers-max-rss",
        type=_positive_int,
        default=None,
        metavar="MIB",
        help="replace a worker whose resident memory exceeds this many MiB, checked every health check "
        "(default: no limit)",
    )
    procs.add_argument(
        "--workers-lifetime",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="replace a worker after it has run this long (default: forever)",
    )
    procs.add_argument(
        "--reuse-port",
        action="store_true",
        help="give each worker its own listening socket with SO_REUSEPORT instead of one shared socket",
    )
    dev = parser.add_argument_group("reload (development)")
    dev.add_argument("--reload", action="store_true", help="restart the worker when a watched file changes")
    dev.add_argument(
        "--reload-dir",
        dest="reload_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help="watch this directory (repeatable; default: the current directory)",
    )
    dev.add_argument(
        "--reload-include",
        dest="reload_includes",
        action="append",
        default=[],
        metavar="GLOB",
        help="watch files whose name matches (repeatable; default: *.py)",
    )
    dev.add_argument(
        "--reload-exclude",
        dest="reload_excludes",
        action="append",
        default=[],
        metavar="GLOB",
        help="ignore files whose name matches, or a directory (repeatable; always: .* .py[cod] .sw.* ~*)",
    )
    dev.add_argument(
        "--reload-delay",
        type=_non_negative_float,
        default=defaults.DEFAULT_RELOAD_DELAY,
        metavar="SECONDS",
        help="seconds to wait after a change before restarting (default: %(default)s)",
    )
    return parser


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> Config:
    """Command line to Config. Usage errors exit with status 2, as argparse does."""
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    if args["workers"] is None and os.environ.get("WEB_CONCURRENCY", "").strip():
        try:
            args["workers"] = _positive_int(os.environ["WEB_CONCURRENCY"])
        except (ValueError, argparse.ArgumentTypeError):
            parser.error(f"$WEB_CONCURRENCY must be a positive integer, not {os.environ['WEB_CONCURRENCY']!r}")
    return Config(**args)


def main(argv: Sequence[str] | None = None, *, core_factory: CoreFactory | None = None) -> int:
    config = parse_args(argv)
    try:
        return serve_and_report(config, core_factory)
    except KeyboardInterrupt:
        # Ctrl+C before the signal handlers were installed (e.g. while the
        # app module was still importing): stop quietly.
        return 130


if __name__ == "__main__":
    sys.exit(main())
