"""Errors that stop pyre-http before (or while) it starts serving.

Each carries the process exit status, so the CLI and ``run()`` can turn any of
them into one line on stderr and a meaningful status without a traceback.
"""

from __future__ import annotations

# Exit statuses, the same numbers uvicorn uses so that scripts and process
# supervisors written for it keep working.
EXIT_ERROR = 1  # bad app string, import failure, port in use, missing core...
EXIT_STARTUP_FAILURE = 3  # the application's lifespan startup failed


class StartupError(Exception):
    """pyre-http cannot start; ``str(error)`` is the one line to show."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class AppLoadError(StartupError):
    """The ASGI application could not be imported, built or validated."""
