"""``--env-file``: environment variables from a dotenv file (python-dotenv)."""

from __future__ import annotations

import os

from .errors import StartupError


def load_env_file(path: str) -> None:
    """Load ``path`` into ``os.environ``; variables already set are kept."""
    if not os.path.isfile(path):
        raise StartupError(f"--env-file {path}: no such file")
    try:
        from dotenv import load_dotenv  # type: ignore[import-not-found, unused-ignore]  # optional extra
    except ImportError as exc:
        raise StartupError(f"--env-file {path}: reading it needs python-dotenv (pip install python-dotenv)") from exc
    load_dotenv(path, override=False)
