"""Shared helpers for the front-end tests: path setup, a fake native core, small apps.

Nothing here needs the Rust module: FakeCore stands in for pyre_http._core.Server
and records how the front end drives it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
PYTHON_DIR = REPO / "python"
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

SUBPROCESS_TIMEOUT = 20  # seconds; no test may hang


class FakeCore:
    """Records calls in order; fileno() is a pipe so add_reader really works."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop, sockets: list[Any], **kwargs: Any) -> None:
        self.app = app
        self.loop = loop
        self.sockets = sockets
        self.socket_fds = [s.fileno() for s in sockets]
        self.kwargs = kwargs
        self.calls: list[str] = []
        self.ready_calls = 0
        self.ticks = 0
        self.connections = 0
        self.tasks = 0
        self.closed = False
        self._read_fd, self.write_fd = os.pipe()

    def fileno(self) -> int:
        return self._read_fd

    def on_ready(self) -> None:
        os.read(self._read_fd, 4096)
        self.ready_calls += 1

    def tick(self) -> None:
        self.ticks += 1

    def stop_accepting(self) -> None:
        self.calls.append("stop_accepting")

    def shutdown(self) -> None:
        self.calls.append("shutdown")

    def connection_count(self) -> int:
        return self.connections

    def task_count(self) -> int:
        return self.tasks

    def request_count(self) -> int:
        return 0

    def cancel_tasks(self) -> None:
        self.calls.append("cancel_tasks")
        self.tasks = 0

    def close(self) -> None:
        self.calls.append("close")
        self.closed = True
        os.close(self._read_fd)
        os.close(self.write_fd)


class FakeCoreFactory:
    """Callable like _core.Server; keeps the instances and runs a hook on creation."""

    def __init__(self, on_create: Callable[[FakeCore], None] | None = None) -> None:
        self.instances: list[FakeCore] = []
        self.on_create = on_create

    def __call__(self, app: Any, loop: Any, sockets: Any, **kwargs: Any) -> FakeCore:
        core = FakeCore(app, loop, sockets, **kwargs)
        self.instances.append(core)
        if self.on_create is not None:
            self.on_create(core)
        return core

    @property
    def core(self) -> FakeCore:
        assert len(self.instances) == 1, self.instances
        return self.instances[0]


def write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pyre_http ARGS`` from a source checkout, bounded in time."""
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    return subprocess.run(
        [sys.executable, "-m", "pyre_http", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )


# A lifespan-aware app used by several tests; ``events`` records what it saw.
def lifespan_app(events: list[Any], *, fail_startup: str | None = None, fail_shutdown: str | None = None) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        events.append(("scope", scope))
        message = await receive()
        events.append(message["type"])
        if fail_startup is not None:
            await send({"type": "lifespan.startup.failed", "message": fail_startup})
            return
        scope["state"]["db"] = "connected"
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        events.append(message["type"])
        if fail_shutdown is not None:
            await send({"type": "lifespan.shutdown.failed", "message": fail_shutdown})
        else:
            await send({"type": "lifespan.shutdown.complete"})

    return app


async def http_only_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Does not support lifespan: raises for anything but HTTP, as many apps do."""
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope type {scope['type']}")
