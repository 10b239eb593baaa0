"""Choosing and running the event loop (stdlib asyncio or uvloop)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Callable, Coroutine, TypeVar

from .errors import StartupError

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(name: str) -> LoopFactory:
    """``auto`` prefers uvloop when it is installed; ``uvloop`` requires it."""
    if name in ("auto", "uvloop"):
        try:
            import uvloop  # type: ignore[import-not-found]  # optional dependency
        except ImportError:
            if name == "uvloop":
                raise StartupError("--loop uvloop needs the uvloop package (pip install uvloop).") from None
        else:
            return uvloop.new_event_loop  # type: ignore[no-any-return]
    return asyncio.new_event_loop


def run_on_new_loop(main: Coroutine[Any, Any, T], factory: LoopFactory) -> T:
    """Run ``main`` to completion on a fresh loop from ``factory``, then clean up."""
    # asyncio.Runner (3.11+) takes a loop factory and does the whole cleanup;
    # 3.10 gets the same steps written out.
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    return _run_without_runner(main, factory)


def _run_without_runner(main: Coroutine[Any, Any, T], factory: LoopFactory) -> T:
    # Python 3.10: what asyncio.Runner does, for a loop we choose ourselves.
    loop = factory()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_remaining_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_remaining_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
