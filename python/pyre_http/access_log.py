"""``--access-log-format``: gunicorn's atoms, as hypercorn takes them, or ``json``.

Without a format the native core writes uvicorn's line itself (the cheapest
path). With one, it keeps what the format needs of each request (only the
request and response headers the format names, the start time only when a
duration is shown) and calls the hook made here once per response, which
fills the atoms and logs through ``pyre_http.access``.

Atoms: ``h`` client address, ``l`` ``-``, ``u`` ``-``, ``t`` time,
``r`` request line, ``m`` method, ``U`` path, ``q`` query string,
``H`` protocol, ``s`` status, ``st`` status phrase, ``S`` scheme,
``B`` response body bytes, ``b`` the same or ``-`` for none,
``f`` referer, ``a`` user agent, ``T`` seconds, ``M`` milliseconds,
``D`` microseconds, ``L`` seconds as a decimal, ``p`` process id,
``{name}i`` a request header, ``{name}o`` a response header,
``{name}e`` an environment variable. An unknown atom shows ``-``.
"""

from __future__ import annotations

import base64
import dataclasses
import http
import json
import logging
import os
import re
import time
from typing import Any, Callable

JSON = "json"
_ATOM = re.compile(r"%\(([^)]*)\)")
_TIMED = frozenset(("T", "M", "D", "L"))


class _Atoms(dict):  # type: ignore[type-arg]
    """A dict that shows ``-`` for atoms it does not know, as gunicorn does."""

    def __missing__(self, key: str) -> str:
        return "-"


@dataclasses.dataclass
class AccessLogPlan:
    """What the core is told to keep, and the hook it calls."""

    hook: Callable[..., None]
    request_headers: list[str]
    response_headers: list[str]
    timing: bool


# What each JSON field is made of, by atom.
_JSON_FIELDS = (
    ("time", "iso"),
    ("client", "h"),
    ("request", "r"),
    ("method", "m"),
    ("path", "U"),
    ("query", "q"),
    ("protocol", "H"),
    ("scheme", "S"),
    ("status", "s"),
    ("bytes", "B"),
    ("duration_us", "D"),
    ("referer", "f"),
    ("user_agent", "a"),
)


def plan(fmt: str, logger: logging.Logger) -> AccessLogPlan:
    """Parse ``fmt`` once; the hook fills only the atoms it names."""
    as_json = fmt == JSON
    keys = [atom for _, atom in _JSON_FIELDS] if as_json else _ATOM.findall(fmt)
    request_headers: list[str] = []
    response_headers: list[str] = []

    def request_header(name: str) -> int:
        name = name.lower()
        if name not in request_headers:
            request_headers.append(name)
        return request_headers.index(name)

    def response_header(name: str) -> int:
        name = name.lower()
        if name not in response_headers:
            response_headers.append(name)
        return response_headers.index(name)

    fillers: list[tuple[str, Callable[[_Entry], Any]]] = []
    for key in dict.fromkeys(keys):
        filler = _filler(key, request_header, response_header, as_json)
        if filler is not None:
            fillers.append((key, filler))
    info = logger.info

    if as_json:

        def hook(*fields: Any) -> None:
            entry = _Entry(*fields)
            atoms = {key: fill(entry) for key, fill in fillers}
            record = {name: atoms.get(atom) for name, atom in _JSON_FIELDS}
            info("%s", json.dumps(record, separators=(",", ":")))

    else:

        def hook(*fields: Any) -> None:
            entry = _Entry(*fields)
            atoms = _Atoms()
            for key, fill in fillers:
                atoms[key] = fill(entry)
            info(fmt, atoms)

    return AccessLogPlan(hook, request_headers, response_headers, timing=bool(_TIMED & set(keys)))


@dataclasses.dataclass
class _Entry:
    """One response, as the core reports it."""

    host: str
    port: int | None
    request_line: str
    status: int
    bytes: int
    duration_us: int
    scheme: str
    request_headers: tuple[str | None, ...]
    response_headers: tuple[str | None, ...]

    def part(self, index: int) -> str:
        """Method, target or protocol, from the request line."""
        parts = self.request_line.split(" ")
        return parts[index] if len(parts) == 3 else "-"


def _dash(value: str | None) -> str:
    return value if value else "-"


def _filler(
    key: str,
    request_header: Callable[[str], int],
    response_header: Callable[[str], int],
    as_json: bool,
) -> Callable[[_Entry], Any] | None:
    none: Any = None if as_json else "-"
    if key.startswith("{") and len(key) > 3 and key[-2] == "}":
        name, kind = key[1:-2], key[-1]
        if kind == "i":
            i = request_header(name)
            return lambda e: e.request_headers[i] or none
        if kind == "o":
            j = response_header(name)
            return lambda e: e.response_headers[j] or none
        if kind == "e":
            return lambda e: os.environ.get(name, none)
        return None
    if key == "a":
        i = request_header("user-agent")
        return lambda e: e.request_headers[i] or none
    if key == "f":
        i = request_header("referer")
        return lambda e: e.request_headers[i] or none
    if key == "u":
        i = request_header("authorization")
        return lambda e: _basic_auth_user(e.request_headers[i]) or none
    simple: dict[str, Callable[[_Entry], Any]] = {
        "h": lambda e: e.host if e.port is None else (f"[{e.host}]:{e.port}" if ":" in e.host else f"{e.host}:{e.port}"),
        "l": lambda e: "-",
        "t": lambda e: time.strftime("[%d/%b/%Y:%H:%M:%S %z]"),
        "iso": lambda e: time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "r": lambda e: e.request_line,
        "m": lambda e: e.part(0),
        "U": lambda e: e.part(1).partition("?")[0],
        "q": lambda e: e.part(1).partition("?")[2],
        "H": lambda e: e.part(2),
        "s": lambda e: e.status if as_json else str(e.status),
        "st": lambda e: _phrase(e.status),
        "S": lambda e: e.scheme,
        "B": lambda e: e.bytes if as_json else str(e.bytes),
        "b": lambda e: str(e.bytes) if e.bytes else "-",
        "T": lambda e: str(e.duration_us // 1_000_000),
        "M": lambda e: str(e.duration_us // 1000),
        "D": lambda e: e.duration_us if as_json else str(e.duration_us),
        "L": lambda e: f"{e.duration_us / 1_000_000:.6f}",
        "p": lambda e: f"<{os.getpid()}>",
    }
    return simple.get(key)


def _basic_auth_user(authorization: str | None) -> str | None:
    """The user name of ``Authorization: Basic ...`` (as gunicorn's ``%(u)s``)."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, _ = decoded.partition(":")
    return user if sep else None


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "-"
