"""Logging for pyre-http: ``pyre_http.error`` and ``pyre_http.access``.

Both are children of ``pyre_http``, which owns the one stderr handler. Lines
look like uvicorn's (``INFO:     message``) so existing log habits carry over.
The native core logs through these same logger names.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from .config import TRACE_LEVEL

PARENT_LOGGER = "pyre_http"
ERROR_LOGGER = "pyre_http.error"
ACCESS_LOGGER = "pyre_http.access"

logging.addLevelName(TRACE_LEVEL, "TRACE")

error_logger = logging.getLogger(ERROR_LOGGER)


class LevelPrefixFormatter(logging.Formatter):
    """Adds ``%(levelprefix)s``: ``"INFO:"`` padded to 9 columns, as uvicorn does."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.levelprefix = f"{record.levelname}:".ljust(9)
        return super().formatMessage(record)


class _PyreHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler we installed, so reconfiguring replaces it instead of stacking."""


def configure_logging(level: int, access_log: bool, stream: TextIO | None = None) -> None:
    handler = _PyreHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(LevelPrefixFormatter("%(levelprefix)s %(message)s"))

    parent = logging.getLogger(PARENT_LOGGER)
    for old in [h for h in parent.handlers if isinstance(h, _PyreHandler)]:
        parent.removeHandler(old)
    parent.addHandler(handler)
    parent.setLevel(level)
    # Our handler prints the line; passing it on to the root logger as well
    # would print it twice whenever the application configures root logging.
    parent.propagate = False

    for name in (PARENT_LOGGER, ERROR_LOGGER, ACCESS_LOGGER):
        # An application that ran logging.config.dictConfig() at import time
        # (disable_existing_loggers defaults to True) may have disabled these.
        logging.getLogger(name).disabled = False

    error = logging.getLogger(ERROR_LOGGER)
    error.setLevel(logging.NOTSET)  # follow the parent's level
    access = logging.getLogger(ACCESS_LOGGER)
    # With --no-access-log the core is told not to log requests at all; the
    # level is raised too so nothing slips through from elsewhere.
    access.setLevel(logging.NOTSET if access_log else logging.CRITICAL + 1)
