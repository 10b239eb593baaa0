"""The ``pyre-http`` command (also ``python -m pyre_http``).

Option names and defaults follow uvicorn's so that a uvicorn command line
works after renaming the program, plus pyre-http's own request limits.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence

from . import config as defaults
from ._version import version_line
from .config import LIFESPAN_CHOICES, LOG_LEVELS, LOOP_CHOICES, WS_CHOICES, Config, parse_header
from .envfile import load_env_file
from .errors import StartupError
from .sockets import parse_bind
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


def _octal_mode(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal file mode such as 660") from None
    if not 0 <= value <= 0o7777:
        raise argparse.ArgumentTypeError(f"{text!r} is not a file mode")
    return value


def _bind(text: str) -> str:
    try:
        parse_bind(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class _FromEnvironment(list):  # type: ignore[type-arg]
    """A repeatable option's values taken from the environment."""


class _Append(argparse._AppendAction):
    """``append``, except that the command line replaces values from the environment."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if isinstance(getattr(namespace, self.dest, None), _FromEnvironment):
            setattr(namespace, self.dest, [])
        super().__call__(parser, namespace, values, option_string)


ENV_PREFIX = "PYRE_HTTP_"
EPILOG = f"""\
Every option can also be set by an environment variable named {ENV_PREFIX} and the
option's name in capitals with dashes as underscores: {ENV_PREFIX}PORT=9000,
{ENV_PREFIX}PROXY_HEADERS=false, {ENV_PREFIX}APP=main:app. The command line wins
over the environment. Repeatable options (--bind, --header) take one value per
line. --env-file (or {ENV_PREFIX}ENV_FILE) is read first, so it can set them too.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyre-http",
        description="Serve an ASGI 3 application with pyre-http.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    flag = argparse.BooleanOptionalAction  # --x / --no-x pairs, as in uvicorn
    parser.add_argument("app", metavar="APP", nargs="?", help='the ASGI application, as "module:attribute"')
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
        "--uds", metavar="PATH", default=None, help="listen on this Unix socket instead (a stale socket file is replaced)"
    )
    parser.add_argument(
        "--uds-permissions",
        type=_octal_mode,
        default=None,
        metavar="MODE",
        help="octal file mode of the Unix socket, e.g. 660 (default: as the umask leaves it)",
    )
    parser.add_argument(
        "--fd", type=_non_negative_int, default=None, help="serve the listening socket inherited as this descriptor"
    )
    parser.add_argument(
        "--bind",
        action=_Append,
        type=_bind,
        default=[],
        metavar="ADDRESS",
        help="HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N; repeatable, one process serves them all; "
        "replaces --host/--port. systemd's LISTEN_FDS sockets are served too",
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
    parser.add_argument(
        "--access-log-format",
        default=None,
        metavar="FORMAT",
        help="gunicorn's atoms (%%(h)s %%(r)s %%(s)s %%(b)s %%(D)s %%({name}i)s...), or json for one JSON "
        "object per line (default: uvicorn's line)",
    )
    parser.add_argument(
        "--log-config",
        default=None,
        metavar="FILE",
        help="logging configuration: dictConfig from .json or .yaml, fileConfig from .ini; applied before "
        "the app is imported",
    )
    parser.add_argument(
        "--use-colors", action=flag, default=None, help="colour the log level (default: when stderr is a terminal)"
    )
    parser.add_argument(
        "--env-file", default=None, metavar="PATH", help="load environment variables from this dotenv file"
    )
    proxy = parser.add_argument_group("behind a proxy")
    proxy.add_argument(
        "--proxy-headers",
        action=flag,
        default=True,
        help="take the client address and scheme from X-Forwarded-For/-Proto and Forwarded sent by a trusted peer",
    )
    proxy.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="LIST",
        help="comma-separated trusted peers: addresses, CIDR networks, * (all), unix: (Unix socket peers) "
        "(default: $FORWARDED_ALLOW_IPS, else 127.0.0.1,::1)",
    )
    proxy.add_argument(
        "--proxy-protocol",
        action=flag,
        default=False,
        help="expect a PROXY protocol v1/v2 header (HAProxy, AWS NLB) first on connections from trusted peers; "
        "a missing or malformed one closes the connection",
    )
    tls = parser.add_argument_group("TLS (rustls: TLS 1.2 and 1.3; ALPN http/1.1)")
    tls.add_argument("--ssl-certfile", default=None, metavar="PATH", help="PEM certificate chain; serves https/wss")
    tls.add_argument(
        "--ssl-keyfile",
        default=None,
        metavar="PATH",
        help="PEM private key: PKCS#8, PKCS#1 or SEC1, possibly encrypted (default: in --ssl-certfile)",
    )
    tls.add_argument("--ssl-keyfile-password", default=None, metavar="TEXT", help="password of an encrypted key")
    tls.add_argument(
        "--ssl-ca-certs", default=None, metavar="PATH", help="PEM CA certificates that client certificates must chain to"
    )
    tls.add_argument(
        "--ssl-cert-reqs",
        type=int,
        choices=defaults.SSL_CERT_REQS_CHOICES,
        default=0,
        help="client certificates: 0 not asked for, 1 optional, 2 required (default: %(default)s)",
    )
    tls.add_argument(
        "--ssl-ciphers",
        default=defaults.DEFAULT_SSL_CIPHERS,
        metavar="LIST",
        help="OpenSSL cipher string mapped onto rustls' suites; an unknown name is an error (default: %(default)s)",
    )
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
        action=_Append,
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


def _env_file_from(argv: Sequence[str]) -> str | None:
    """--env-file from the command line (or the environment), before the real parse."""
    found = os.environ.get(ENV_PREFIX + "ENV_FILE")
    for i, arg in enumerate(argv):
        if arg == "--env-file" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith("--env-file="):
            found = arg.split("=", 1)[1]
    return found


def _apply_environment(parser: argparse.ArgumentParser, environ: Any) -> None:
    """PYRE_HTTP_<NAME> variables become the defaults the command line overrides."""
    for action in parser._actions:
        if action.dest in ("help", "version"):
            continue
        name = ENV_PREFIX + action.dest.upper()
        text = environ.get(name)
        if text is None:
            continue
        try:
            value = _env_value(action, text)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            parser.error(f"environment variable {name}={text!r}: {exc}")
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(repr, action.choices))
            parser.error(f"environment variable {name}={text!r}: choose from {choices}")
        action.default = value


def _env_value(action: argparse.Action, text: str) -> Any:
    if isinstance(action, (argparse.BooleanOptionalAction, argparse._StoreTrueAction)):
        return _bool(text)
    convert = action.type if callable(action.type) else str
    if isinstance(action, argparse._AppendAction):
        return _FromEnvironment(convert(line.strip()) for line in text.splitlines() if line.strip())
    return convert(text)


def parse_args(argv: Sequence[str] | None = None) -> Config:
    """Command line (and PYRE_HTTP_* variables) to Config. Usage errors exit with status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    env_file = _env_file_from(argv)
    if env_file is not None:
        try:
            load_env_file(env_file)
        except StartupError as exc:
            parser.error(str(exc))
    _apply_environment(parser, os.environ)
    args = vars(parser.parse_args(argv))
    if args["app"] is None:
        parser.error(f"the following arguments are required: APP (or {ENV_PREFIX}APP)")
    if args["workers"] is None and os.environ.get("WEB_CONCURRENCY", "").strip():
        try:
            args["workers"] = _positive_int(os.environ["WEB_CONCURRENCY"])
        except (ValueError, argparse.ArgumentTypeError):
            parser.error(f"$WEB_CONCURRENCY must be a positive integer, not {os.environ['WEB_CONCURRENCY']!r}")
    try:
        return Config(**args)
    except ValueError as exc:
        parser.error(str(exc))


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
