"""pyre-http: an ASGI server whose HTTP machinery is written in Rust."""

from ._version import __version__
from .config import Config
from .runner import run

__all__ = ["Config", "__version__", "run"]
