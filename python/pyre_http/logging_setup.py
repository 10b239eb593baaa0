"""Logging for pyre-http: ``pyre_http.error`` and ``pyre_http.access``.

Both are children of ``pyre_http``, which owns the one stderr handler. Lines
look like uvicorn's (``INFO:     message``) so existing log habits carry over.
The native core logs through these same logger names.
"""

from __future__ import annotations

import importlib
import json
import logging
import logging.config
import sys
from typing import Any, TextIO

from .config import TRACE_LEVEL
from .errors import StartupError

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


class ColourizedFormatter(LevelPrefixFormatter):
    """The level prefix in colour, as uvicorn's ``--use-colors`` shows it."""

    COLOURS = {
        TRACE_LEVEL: "\033[34m",  # blue
        logging.DEBUG: "\033[36m",  # cyan
        logging.INFO: "\033[32m",  # green
        logging.WARNING: "\033[33m",  # yellow
        logging.ERROR: "\033[31m",  # red
        logging.CRITICAL: "\033[91m",  # bright red
    }

    def formatMessage(self, record: logging.LogRecord) -> str:
        colour = self.COLOURS.get(record.levelno, "")
        name = record.levelname
        pad = " " * max(0, 8 - len(name))
        record.levelprefix = f"{colour}{name}\033[0m:{pad}" if colour else f"{name}:{pad}"
        return logging.Formatter.formatMessage(self, record)


class _PyreHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler we installed, so reconfiguring replaces it instead of stacking."""


def load_log_config(log_config: str | dict[str, Any]) -> None:
    """``--log-config``: dictConfig from a dict, a .json or .yaml file; fileConfig from .ini.

    Raises StartupError when the file cannot be read or applied.
    """
    try:
        if isinstance(log_config, dict):
            logging.config.dictConfig(log_config)
        elif log_config.endswith(".json"):
            with open(log_config, encoding="utf-8") as f:
                logging.config.dictConfig(json.load(f))
        elif log_config.endswith((".yaml", ".yml")):
            try:
                yaml: Any = importlib.import_module("yaml")
            except ImportError as exc:
                raise StartupError(f"--log-config {log_config}: reading YAML needs PyYAML (pip install PyYAML)") from exc
            with open(log_config, encoding="utf-8") as f:
                logging.config.dictConfig(yaml.safe_load(f))
        else:
            logging.config.fileConfig(log_config, disable_existing_loggers=False)
    except StartupError:
        raise
    except (OSError, ValueError, TypeError, AttributeError, ImportError, KeyError) as exc:
        raise StartupError(f"--log-config {log_config}: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError, configparser errors
        raise StartupError(f"--log-config {log_config}: {exc}") from exc


def configure_logging(
    level: int,
    access_log: bool,
    stream: TextIO | None = None,
    *,
    log_config: str | dict[str, Any] | None = None,
    use_colors: bool | None = None,
    access_log_format: str | None = None,
) -> None:
    """Set up ``pyre_http.error`` and ``pyre_http.access``.

    With ``log_config`` the file (or dict) decides handlers, formats and
    levels; otherwise one stderr handler prints uvicorn-style lines at
    ``level``. ``access_log=False`` silences the access logger either way.
    """
    parent = logging.getLogger(PARENT_LOGGER)
    access = logging.getLogger(ACCESS_LOGGER)
    for logger in (parent, access):
        for old in [h for h in logger.handlers if isinstance(h, _PyreHandler)]:
            logger.removeHandler(old)
    if log_config is not None:
        load_log_config(log_config)
    else:
        stream = stream if stream is not None else sys.stderr
        if use_colors is None:
            use_colors = hasattr(stream, "isatty") and stream.isatty()
        handler = _PyreHandler(stream)
        formatter_class = ColourizedFormatter if use_colors else LevelPrefixFormatter
        handler.setFormatter(formatter_class("%(levelprefix)s %(message)s"))
        parent.addHandler(handler)
        parent.setLevel(level)
        # Our handler prints the line; passing it on to the root logger as well
        # would print it twice whenever the application configures root logging.
        parent.propagate = False
        logging.getLogger(ERROR_LOGGER).setLevel(logging.NOTSET)  # follow the parent's level
        access.setLevel(logging.NOTSET)
        access.propagate = True
        if access_log_format == "json":
            # One JSON object per line, nothing around it.
            json_handler = _PyreHandler(stream)
            json_handler.setFormatter(logging.Formatter("%(message)s"))
            access.addHandler(json_handler)
            access.propagate = False
    enable_loggers()
    if not access_log:
        # With --no-access-log the core is told not to log requests at all; the
        # level is raised too so nothing slips through from elsewhere.
        access.setLevel(logging.CRITICAL + 1)


def enable_loggers() -> None:
    """Undo ``disable_existing_loggers``: an application that ran dictConfig()
    at import time (it defaults to True) may have disabled our loggers."""
    for name in (PARENT_LOGGER, ERROR_LOGGER, ACCESS_LOGGER):
        logging.getLogger(name).disabled = False
