"""The installed distribution's version, without importing anything heavy."""

from __future__ import annotations

import platform
from importlib import metadata

try:
    __version__ = metadata.version("pyre-http")
except metadata.PackageNotFoundError:  # running from a source checkout
    __version__ = "0.0.0"


def version_line() -> str:
    """E.g. ``pyre-http 0.1.0 with CPython 3.12.1 on Linux``."""
    return (
        f"pyre-http {__version__} with {platform.python_implementation()} "
        f"{platform.python_version()} on {platform.system()}"
    )
