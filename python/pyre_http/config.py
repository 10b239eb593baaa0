"""Server settings: one dataclass filled by both the CLI and ``run()``."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
from typing import Any, Awaitable, Callable, MutableMapping

from .sockets import BindSpec, parse_bind, systemd_fds

# The ASGI 3 callable: app(scope, receive, send) -> awaitable.
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

TRACE_LEVEL = 5  # below DEBUG, as in uvicorn: per-request protocol chatter

LOOP_CHOICES = ("auto", "asyncio", "uvloop")
LIFESPAN_CHOICES = ("auto", "on", "off")
# uvicorn's names. Every choice but "none" selects the one built-in (Rust)
# implementation; "none" serves upgrade requests as plain HTTP.
WS_CHOICES = ("auto", "none", "websockets", "wsproto", "websockets-sansio")
LOG_CONFIG_SUFFIXES = (".json", ".yaml", ".yml", ".ini")
LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE_LEVEL,
}

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_BACKLOG = 2048
DEFAULT_TIMEOUT_KEEP_ALIVE = 5.0
# Slow-client timeouts in seconds (0 or None disables one). nginx's
# client_header_timeout, client_body_timeout and send_timeout are 60 s each;
# the head gets 30 s here because nothing legitimate takes long to send one.
DEFAULT_TIMEOUT_REQUEST_HEADER = 30.0  # a started request head must be complete in time (408)
DEFAULT_TIMEOUT_REQUEST_BODY = 60.0  # longest gap between two reads of a request body (408)
DEFAULT_TIMEOUT_SEND = 60.0  # longest time unsent output may wait with the client taking none
DEFAULT_LIMIT_REQUEST_LINE = 8190
DEFAULT_LIMIT_REQUEST_HEADERS = 100
DEFAULT_LIMIT_REQUEST_HEADER_SIZE = 16384
DEFAULT_LIMIT_REQUEST_BODY = 1024 * 1024 * 1024  # 1 GiB; 0 means unlimited
DEFAULT_WS_MAX_SIZE = 16 * 1024 * 1024  # largest incoming message, bytes (1009 above)
DEFAULT_WS_MAX_QUEUE = 32  # received messages waiting for the app before reading pauses
DEFAULT_WS_PING_INTERVAL = 20.0  # seconds; 0 or None: no keep-alive pings
DEFAULT_WS_PING_TIMEOUT = 20.0  # seconds to wait for the pong; 0 or None: wait forever
# Peers whose proxy headers count, when neither --forwarded-allow-ips nor
# $FORWARDED_ALLOW_IPS says otherwise (uvicorn's default).
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1,::1"
DEFAULT_TIMEOUT_WORKER_HEALTHCHECK = 5.0  # seconds a worker's loop may leave a ping unanswered
# uvicorn's --reload defaults.
DEFAULT_RELOAD_INCLUDES = ("*.py",)
DEFAULT_RELOAD_EXCLUDES = (".*", ".py[cod]", ".sw.*", "~*")
DEFAULT_RELOAD_DELAY = 0.25
# uvicorn's default. rustls has none of the CBC suites OpenSSL means by it,
# so it selects every suite rustls offers (TLS 1.2 and 1.3, AEAD only).
DEFAULT_SSL_CIPHERS = "TLSv1"
SSL_CERT_REQS_CHOICES = (0, 1, 2)  # ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED


_SLOW_CLIENT_TIMEOUTS = ("timeout_request_header", "timeout_request_body", "timeout_send")


@dataclasses.dataclass
class Config:
    """Everything the server needs to start.

    ``app`` is either an ASGI 3 callable or an import string
    ``"module:attribute"`` (the attribute may be dotted).
    """

    app: str | ASGIApp
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    factory: bool = False
    app_dir: str | None = "."
    loop: str = "auto"
    lifespan: str = "auto"
    log_level: str | int = "info"
    access_log: bool = True
    root_path: str = ""
    timeout_keep_alive: float = DEFAULT_TIMEOUT_KEEP_ALIVE
    timeout_request_header: float | None = DEFAULT_TIMEOUT_REQUEST_HEADER
    timeout_request_body: float | None = DEFAULT_TIMEOUT_REQUEST_BODY
    timeout_send: float | None = DEFAULT_TIMEOUT_SEND
    # None: no limit. Beyond it new requests get 503 without reaching the app.
    limit_concurrency: int | None = None
    # None waits for connections and tasks forever, as uvicorn does.
    timeout_graceful_shutdown: float | None = None
    server_header: bool = True
    date_header: bool = True
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    backlog: int = DEFAULT_BACKLOG
    limit_request_line: int = DEFAULT_LIMIT_REQUEST_LINE
    limit_request_headers: int = DEFAULT_LIMIT_REQUEST_HEADERS
    limit_request_header_size: int = DEFAULT_LIMIT_REQUEST_HEADER_SIZE
    limit_request_body: int = DEFAULT_LIMIT_REQUEST_BODY
    ws: str = "auto"
    ws_max_size: int = DEFAULT_WS_MAX_SIZE
    ws_max_queue: int = DEFAULT_WS_MAX_QUEUE
    ws_ping_interval: float | None = DEFAULT_WS_PING_INTERVAL
    ws_ping_timeout: float | None = DEFAULT_WS_PING_TIMEOUT
    ws_per_message_deflate: bool = True
    # Listening: any of these replaces host/port.
    uds: str | None = None
    uds_permissions: int | None = None
    fd: int | None = None
    bind: list[str] = dataclasses.field(default_factory=list)
    # Proxies.
    proxy_headers: bool = True
    # None: $FORWARDED_ALLOW_IPS, else DEFAULT_FORWARDED_ALLOW_IPS. A comma-separated
    # string or a list of addresses, CIDR networks, "*" and "unix:".
    forwarded_allow_ips: str | list[str] | None = None
    proxy_protocol: bool = False
    # TLS, with uvicorn's names. None: plain HTTP.
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None  # None: the key is in ssl_certfile
    ssl_keyfile_password: str | None = None
    ssl_ca_certs: str | None = None
    ssl_cert_reqs: int = 0
    ssl_ciphers: str = DEFAULT_SSL_CIPHERS
    # Logging.
    log_config: str | dict[str, Any] | None = None
    use_colors: bool | None = None  # None: when stderr is a terminal
    access_log_format: str | None = None  # None: uvicorn's line; "json"; or gunicorn atoms
    env_file: str | None = None
    # Processes. None: one process, no supervisor (unless reload or a
    # recycling option asks for one). A number, even 1: a supervisor and
    # that many workers. The CLI fills it from $WEB_CONCURRENCY.
    workers: int | None = None
    timeout_worker_healthcheck: float = DEFAULT_TIMEOUT_WORKER_HEALTHCHECK
    limit_max_requests: int | None = None
    limit_max_requests_jitter: int = 0
    workers_max_rss: int | None = None  # MiB
    workers_lifetime: float | None = None  # seconds
    reuse_port: bool = False
    reload: bool = False
    reload_dirs: list[str] = dataclasses.field(default_factory=list)
    reload_includes: list[str] = dataclasses.field(default_factory=list)
    reload_excludes: list[str] = dataclasses.field(default_factory=list)
    reload_delay: float = DEFAULT_RELOAD_DELAY

    def __post_init__(self) -> None:
        # Programming mistakes in run(...) arguments fail here, early and
        # plainly, instead of deep inside the native core.
        if self.loop not in LOOP_CHOICES:
            raise ValueError(f"loop must be one of {LOOP_CHOICES}, not {self.loop!r}")
        if self.lifespan not in LIFESPAN_CHOICES:
            raise ValueError(f"lifespan must be one of {LIFESPAN_CHOICES}, not {self.lifespan!r}")
        if isinstance(self.log_level, str) and self.log_level.lower() not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {tuple(LOG_LEVELS)}, not {self.log_level!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {self.port}")
        for name in ("limit_request_line", "limit_request_headers", "limit_request_header_size", "backlog"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.ws not in WS_CHOICES:
            raise ValueError(f"ws must be one of {WS_CHOICES}, not {self.ws!r}")
        for name in ("ws_max_size", "ws_max_queue"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        for name in ("ws_ping_interval", "ws_ping_timeout", *_SLOW_CLIENT_TIMEOUTS):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None (0 and None disable it), not {value}")
        if self.limit_concurrency is not None and self.limit_concurrency <= 0:
            raise ValueError(f"limit_concurrency must be positive or None, not {self.limit_concurrency}")
        if self.limit_request_body < 0:
            raise ValueError("limit_request_body must be >= 0 (0 means unlimited)")
        if self.timeout_keep_alive < 0:
            raise ValueError("timeout_keep_alive must be >= 0")
        if self.timeout_graceful_shutdown is not None and self.timeout_graceful_shutdown < 0:
            raise ValueError("timeout_graceful_shutdown must be >= 0 or None")
        for name in ("workers", "limit_max_requests", "workers_max_rss"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None, not {value}")
        if self.limit_max_requests_jitter < 0:
            raise ValueError("limit_max_requests_jitter must be >= 0")
        if self.workers_lifetime is not None and self.workers_lifetime <= 0:
            raise ValueError("workers_lifetime must be positive or None")
        if self.timeout_worker_healthcheck <= 0:
            raise ValueError("timeout_worker_healthcheck must be positive")
        if self.reload_delay < 0:
            raise ValueError("reload_delay must be >= 0")
        self.headers = [validate_header(name, value) for name, value in self.headers]
        _ = self.trusted_proxies  # validates forwarded_allow_ips
        _ = self.bind_specs()  # validates bind, uds and fd
        if self.uds_permissions is not None and not 0 <= self.uds_permissions <= 0o7777:
            raise ValueError(f"uds_permissions must be a file mode such as 0o660, not {self.uds_permissions!r}")
        if self.ssl_cert_reqs not in SSL_CERT_REQS_CHOICES:
            raise ValueError(f"ssl_cert_reqs must be 0 (none), 1 (optional) or 2 (required), not {self.ssl_cert_reqs!r}")
        if self.ssl_certfile is None:
            for name in ("ssl_keyfile", "ssl_keyfile_password", "ssl_ca_certs"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} needs ssl_certfile")
        if isinstance(self.log_config, str) and not self.log_config.endswith(LOG_CONFIG_SUFFIXES):
            raise ValueError(f"log_config must be a {', '.join(LOG_CONFIG_SUFFIXES)} file, not {self.log_config!r}")

    @property
    def trusted_proxies(self) -> list[str]:
        """The ``forwarded_allow_ips`` entries, checked."""
        value = self.forwarded_allow_ips
        if value is None:
            value = os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_FORWARDED_ALLOW_IPS)
        entries = value.split(",") if isinstance(value, str) else list(value)
        entries = [entry.strip() for entry in entries if entry.strip()]
        for entry in entries:
            if entry in ("*", "unix:"):
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"forwarded_allow_ips: {entry!r} is not an IP address, a network, '*' or 'unix:'"
                ) from None
        return entries

    def bind_specs(self) -> list[BindSpec]:
        """Where to listen: --bind, --uds, --fd and systemd's sockets, else host:port."""
        specs = [parse_bind(text) for text in self.bind]
        if self.uds is not None:
            specs.append(BindSpec("unix", path=self.uds))
        if self.fd is not None:
            if self.fd < 0:
                raise ValueError(f"fd must be a descriptor number, not {self.fd}")
            specs.append(BindSpec("fd", fd=self.fd))
        return specs

    def listen_specs(self) -> list[BindSpec]:
        """Every socket to serve: bind_specs() and systemd's, else host:port."""
        specs = self.bind_specs() + [BindSpec("fd", fd=fd) for fd in systemd_fds()]
        return specs or [BindSpec("tcp", host=self.host, port=self.port)]

    @property
    def supervised(self) -> bool:
        """Whether a supervisor runs the workers (see ``workers``)."""
        return (
            self.workers is not None
            or self.reload
            or self.limit_max_requests is not None
            or self.workers_max_rss is not None
            or self.workers_lifetime is not None
        )

    @property
    def tls_options(self) -> dict[str, Any]:
        """The ssl_* settings, as the core's load_tls takes them."""
        return dict(
            ssl_certfile=self.ssl_certfile,
            ssl_keyfile=self.ssl_keyfile,
            ssl_keyfile_password=self.ssl_keyfile_password,
            ssl_ca_certs=self.ssl_ca_certs,
            ssl_cert_reqs=self.ssl_cert_reqs,
            ssl_ciphers=self.ssl_ciphers,
        )

    @property
    def log_level_number(self) -> int:
        if isinstance(self.log_level, int):
            return self.log_level
        return LOG_LEVELS[self.log_level.lower()]

    @property
    def body_limit_or_none(self) -> int | None:
        """The body limit in the form the core takes: None for unlimited."""
        return self.limit_request_body or None

    def seconds_or_none(self, name: str) -> float | None:
        """A duration setting for the core: None (disabled) for 0 or None."""
        value = getattr(self, name)
        return float(value) if value else None

    @property
    def ws_core(self) -> str:
        """The ``ws`` value the core takes: ``"none"`` or ``"auto"`` (the built-in one)."""
        return "none" if self.ws == "none" else "auto"



# RFC 9110 token characters: what a header field name may contain.
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def validate_header(name: str, value: str) -> tuple[str, str]:
    """Check one extra default response header; return it with the name lowercased.

    A CR or LF in either part would let a header value inject new headers or
    split the response, so both are refused here rather than in every response.
    """
    if not name or not set(name) <= _TOKEN_CHARS:
        raise ValueError(f"invalid header name {name!r}")
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"invalid header value for {name!r}: contains CR, LF or NUL")
    return name.lower(), value


def parse_header(text: str) -> tuple[str, str]:
    """Parse ``"Name: value"`` from the command line: split at the first colon, strip."""
    name, sep, value = text.partition(":")
    if not sep:
        raise ValueError(f"header {text!r} must be in the form NAME:VALUE")
    return validate_header(name.strip(), value.strip())
