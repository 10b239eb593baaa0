"""The lifespan protocol (asgiref lifespan 2.0) on its own, without a server."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, TypeVar

import pytest
from test_front_support import http_only_app, lifespan_app  # first: it puts python/ on sys.path

# isort: split

from pyre_http.errors import EXIT_STARTUP_FAILURE
from pyre_http.lifespan import UNSUPPORTED_MESSAGE, Lifespan, LifespanStartupFailed

T = TypeVar("T")
TIMEOUT = 5.0


def run(awaitable: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(awaitable, TIMEOUT)

    return asyncio.run(bounded())


@pytest.fixture(autouse=True)
def capture_pyre_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pyre_http")


def test_startup_and_shutdown_complete(caplog: pytest.LogCaptureFixture) -> None:
    events: list[Any] = []

    async def scenario() -> Any:
        lifespan = Lifespan(lifespan_app(events), "auto")
        state = await lifespan.startup()
        await lifespan.shutdown()
        return state

    state = run(scenario())
    scope = events[0][1]
    assert scope["type"] == "lifespan"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.0"}
    # The state the app filled during startup is what requests will see.
    assert state == {"db": "connected"}
    assert scope["state"] is state
    assert events[1:] == ["lifespan.startup", "lifespan.shutdown"]
    assert "Application startup complete." in caplog.messages
    assert "Application shutdown complete." in caplog.messages


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_failed_surfaces_the_message_and_exits_3(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    events: list[Any] = []

    async def scenario() -> None:
        await Lifespan(lifespan_app(events, fail_startup="cannot reach the database"), mode).startup()

    with pytest.raises(LifespanStartupFailed) as info:
        run(scenario())
    assert info.value.exit_code == EXIT_STARTUP_FAILURE == 3
    assert str(info.value) == "Application startup failed. Exiting."
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["cannot reach the database"]


def test_auto_with_an_app_without_lifespan_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> Any:
        lifespan = Lifespan(http_only_app, "auto")
        state = await lifespan.startup()
        await lifespan.shutdown()  # nothing to do, must not hang
        return state

    assert run(scenario()) is None  # no "state" key for requests
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert UNSUPPORTED_MESSAGE in infos
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Waiting for application shutdown." not in caplog.messages


def test_auto_with_an_app_that_just_returns(caplog: pytest.LogCaptureFixture) -> None:
    async def returns_at_once(scope: Any, receive: Any, send: Any) -> None:
        return None

    assert run(Lifespan(returns_at_once, "auto").startup()) is None
    assert UNSUPPORTED_MESSAGE in caplog.messages


def test_on_with_an_app_without_lifespan_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(LifespanStartupFailed) as info:
        run(Lifespan(http_only_app, "on").startup())
    assert info.value.exit_code == 3
    error = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert error.getMessage() == "Exception in 'lifespan' protocol"
    assert error.exc_info is not None and "unsupported scope type lifespan" in str(error.exc_info[1])


def test_off_never_calls_the_app() -> None:
    called = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope)

    async def scenario() -> Any:
        lifespan = Lifespan(app, "off")
        state = await lifespan.startup()
        await lifespan.shutdown()
        return state

    assert run(scenario()) is None
    assert called == []


def test_shutdown_failed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        lifespan = Lifespan(lifespan_app([], fail_shutdown="could not flush"), "on")
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario())
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["could not flush", "Application shutdown failed."]


def test_exception_during_shutdown_is_logged_with_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise RuntimeError("shutdown exploded")

    async def scenario() -> None:
        lifespan = Lifespan(app, "auto")
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario())
    error = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert error.exc_info is not None and str(error.exc_info[1]) == "shutdown exploded"


def test_out_of_order_messages_raise_in_the_app() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        try:
            await send({"type": "lifespan.shutdown.complete"})
        except RuntimeError as exc:
            seen.append(str(exc))
        try:
            await send({"type": "http.response.start"})
        except RuntimeError as exc:
            seen.append(str(exc))
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    async def scenario() -> None:
        lifespan = Lifespan(app, "on")
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario())
    assert len(seen) == 2
    assert "lifespan.shutdown.complete" in seen[0]
    assert "http.response.start" in seen[1]
