"""The serve loop against a fake native core: how _core.Server is created and driven."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from test_front_support import (  # first: it puts python/ on sys.path
    FakeCore,
    FakeCoreFactory,
    http_only_app,
    lifespan_app,
    write_module,
)

# isort: split

import pyre_http
from pyre_http import cli, runner
from pyre_http import server as server_module
from pyre_http.config import Config
from pyre_http.loops import run_on_new_loop
from pyre_http.server import Server

TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def isolate_process_state(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Undo what a run leaves behind: sys.path entries, our log handler, signal handlers."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    caplog.set_level(logging.DEBUG, logger="pyre_http")
    yield
    parent = logging.getLogger("pyre_http")
    for handler in list(parent.handlers):
        if type(handler).__name__ == "_PyreHandler":
            parent.removeHandler(handler)
    parent.propagate = True
    parent.setLevel(logging.NOTSET)
    logging.getLogger("pyre_http.access").setLevel(logging.NOTSET)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def serve(config: Config, app: Any, factory: FakeCoreFactory) -> tuple[int, Server]:
    server = Server(config, app, factory)

    async def bounded() -> int:
        return await asyncio.wait_for(server.serve(), TIMEOUT)

    return run_on_new_loop(bounded(), asyncio.new_event_loop), server


def later(core: FakeCore, delay: float, action: Callable[[], Any]) -> None:
    core.loop.call_later(delay, action)


def test_core_is_created_and_driven_as_the_interface_says(caplog: pytest.LogCaptureFixture) -> None:
    events: list[Any] = []
    app = lifespan_app(events)
    holder: dict[str, Server] = {}
    seen: dict[str, Any] = {}

    def on_create(core: FakeCore) -> None:
        sock = core.sockets[0]
        seen["running_loop"] = asyncio.get_running_loop()
        seen["port"] = sock.getsockname()[1]
        seen["blocking"] = sock.getblocking()
        seen["reuseaddr"] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        seen["listening"] = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        os.write(core.write_fd, b"!")  # the registered reader must call on_ready
        later(core, 0.1, lambda: holder["server"].handle_exit())

    factory = FakeCoreFactory(on_create)
    config = Config(
        app=app,
        port=0,
        lifespan="on",
        root_path="/api",
        server_header=False,
        headers=[("X-Served-By", "pyre")],
        access_log=False,
        timeout_keep_alive=3,
        timeout_request_header=0,  # 0 disables a timeout: None for the core
        timeout_request_body=7,
        timeout_send=None,
        limit_concurrency=50,
        limit_request_line=100,
        limit_request_headers=10,
        limit_request_header_size=1000,
        limit_request_body=0,
        ws="wsproto",  # uvicorn's name for an implementation: the built-in one
        ws_max_size=1000,
        ws_max_queue=4,
        ws_ping_interval=0,  # 0 disables the pings: None for the core
        ws_ping_timeout=2.5,
        ws_per_message_deflate=False,
    )
    server = Server(config, app, factory)
    holder["server"] = server
    status = run_on_new_loop(asyncio.wait_for(server.serve(), TIMEOUT), asyncio.new_event_loop)

    core = factory.core
    assert status == 0
    assert core.app is app
    assert core.loop is seen["running_loop"]
    assert len(core.sockets) == 1
    assert seen == {**seen, "blocking": False, "listening": 1}
    assert seen["reuseaddr"] != 0
    assert core.kwargs == {
        "state": {"db": "connected"},
        "root_path": "/api",
        "server_header": False,
        "date_header": True,
        "headers": [("x-served-by", "pyre")],
        "access_log": False,
        "timeout_keep_alive": 3.0,
        "timeout_request_header": None,
        "timeout_request_body": 7.0,
        "timeout_send": None,
        "limit_concurrency": 50,
        "limit_request_line": 100,
        "limit_request_headers": 10,
        "limit_request_header_size": 1000,
        "limit_request_body": None,
        "ws": "auto",
        "ws_max_size": 1000,
        "ws_max_queue": 4,
        "ws_ping_interval": None,
        "ws_ping_timeout": 2.5,
        "ws_per_message_deflate": False,
        "proxy_headers": True,
        "forwarded_allow_ips": ["127.0.0.1", "::1"],
        "proxy_protocol": False,
        "tls": None,
        "access_log_hook": None,
        "access_log_request_headers": [],
        "access_log_response_headers": [],
        "access_log_timing": False,
    }
    # The very dict the app filled in startup (the core copies it per request).
    assert core.kwargs["state"] is events[0][1]["state"]
    assert core.ready_calls >= 1
    assert core.calls == ["stop_accepting", "shutdown", "close"]
    assert core.sockets[0].fileno() == -1  # our socket objects are closed
    assert events[1:] == ["lifespan.startup", "lifespan.shutdown"]

    messages = caplog.messages
    running = [m for m in messages if m.startswith("pyre-http running on")]
    # The real port, not the 0 that was asked for.
    assert running == [f"pyre-http running on http://127.0.0.1:{seen['port']} (Press CTRL+C to quit)"]
    order = ["Application startup complete.", running[0], "Shutting down", "Waiting for application shutdown.",
             "Application shutdown complete."]  # fmt: skip
    assert [m for m in messages if m in order] == order


def test_state_is_none_without_lifespan() -> None:
    for mode, app in (("off", lifespan_app([])), ("auto", http_only_app)):
        factory = FakeCoreFactory(lambda core: os.kill(os.getpid(), signal.SIGTERM))
        status, _ = serve(Config(app=app, port=0, lifespan=mode), app, factory)
        assert status == 0
        assert factory.core.kwargs["state"] is None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_real_signal_shuts_down_gracefully(signum: int) -> None:
    events: list[Any] = []
    app = lifespan_app(events)
    factory = FakeCoreFactory(lambda core: later(core, 0.05, lambda: os.kill(os.getpid(), signum)))
    status, _ = serve(Config(app=app, port=0), app, factory)
    assert status == 0
    assert factory.core.calls == ["stop_accepting", "shutdown", "close"]
    assert events[-1] == "lifespan.shutdown"


def test_graceful_shutdown_waits_for_connections_and_tasks() -> None:
    holder: dict[str, Any] = {}

    def on_create(core: FakeCore) -> None:
        core.connections, core.tasks = 2, 1

        def finish() -> None:
            holder["finished_at"] = time.monotonic()
            core.connections = core.tasks = 0

        later(core, 0.05, lambda: holder["server"].handle_exit())
        later(core, 0.4, finish)

    factory = FakeCoreFactory(on_create)
    app = lifespan_app([])
    server = Server(Config(app=app, port=0), app, factory)  # timeout None: wait forever
    holder["server"] = server
    assert run_on_new_loop(asyncio.wait_for(server.serve(), TIMEOUT), asyncio.new_event_loop) == 0
    assert factory.core.calls == ["stop_accepting", "shutdown", "close"]  # nothing cancelled


def test_graceful_shutdown_timeout_cancels_tasks(caplog: pytest.LogCaptureFixture) -> None:
    holder: dict[str, Any] = {}

    def on_create(core: FakeCore) -> None:
        core.connections, core.tasks = 1, 1  # never finish on their own
        later(core, 0.05, lambda: holder.__setitem__("stop", time.monotonic()) or holder["server"].handle_exit())

    factory = FakeCoreFactory(on_create)
    events: list[Any] = []
    app = lifespan_app(events)
    server = Server(Config(app=app, port=0, timeout_graceful_shutdown=0.3), app, factory)
    holder["server"] = server
    assert run_on_new_loop(asyncio.wait_for(server.serve(), TIMEOUT), asyncio.new_event_loop) == 0
    elapsed = time.monotonic() - holder["stop"]
    assert 0.3 <= elapsed < 3
    assert factory.core.calls == ["stop_accepting", "shutdown", "cancel_tasks", "close"]
    assert any("Graceful shutdown timeout exceeded" in m for m in caplog.messages)
    assert events[-1] == "lifespan.shutdown"  # the app still gets its shutdown


def test_second_signal_forces_exit() -> None:
    def on_create(core: FakeCore) -> None:
        core.connections = 1  # would block a graceful shutdown forever
        later(core, 0.05, lambda: os.kill(os.getpid(), signal.SIGINT))
        later(core, 0.3, lambda: os.kill(os.getpid(), signal.SIGINT))

    factory = FakeCoreFactory(on_create)
    events: list[Any] = []
    app = lifespan_app(events)
    started = time.monotonic()
    status, _ = serve(Config(app=app, port=0), app, factory)
    assert status == 0
    assert time.monotonic() - started < 3
    assert factory.core.calls[:2] == ["stop_accepting", "shutdown"]
    assert factory.core.calls[-1] == "close"
    assert "lifespan.shutdown" not in events  # forced: no application shutdown


def test_tick_runs_periodically(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "TICK_INTERVAL", 0.01)
    factory = FakeCoreFactory(lambda core: later(core, 0.2, lambda: os.kill(os.getpid(), signal.SIGTERM)))
    app = lifespan_app([])
    serve(Config(app=app, port=0), app, factory)
    assert factory.core.ticks >= 5


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_ipv6_host(caplog: pytest.LogCaptureFixture) -> None:
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("::1 not available")
    factory = FakeCoreFactory(lambda core: os.kill(os.getpid(), signal.SIGTERM))
    app = lifespan_app([])
    status, _ = serve(Config(app=app, host="::1", port=0), app, factory)
    assert status == 0
    assert factory.core.sockets[0].family == socket.AF_INET6
    assert any(m.startswith("pyre-http running on http://[::1]:") for m in caplog.messages)


# --- through the CLI entry point, in-process so that the fake core can be injected


LIFESPAN_MODULE = """
import os, signal

events = []

async def app(scope, receive, send):
    if scope["type"] != "lifespan":
        return
    while True:
        message = await receive()
        events.append(message["type"])
        if message["type"] == "lifespan.startup":
            if os.environ.get("FAIL_STARTUP"):
                await send({"type": "lifespan.startup.failed", "message": "cannot reach the database"})
                return
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return

async def no_lifespan(scope, receive, send):
    assert scope["type"] == "http"
"""


@pytest.fixture()
def app_module(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    name = f"lifespan_app_{request.node.name.replace('[', '_').replace(']', '_').replace('-', '_')}"
    write_module(tmp_path, name, LIFESPAN_MODULE)
    sys.path.insert(0, str(tmp_path))
    return name


def stop_soon(core: FakeCore) -> None:
    later(core, 0.05, lambda: os.kill(os.getpid(), signal.SIGTERM))


def test_cli_serves_and_logs_like_uvicorn(app_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    factory = FakeCoreFactory(stop_soon)
    status = cli.main([f"{app_module}:app", "--port", "0"], core_factory=factory)
    assert status == 0
    err = capsys.readouterr().err
    assert "INFO:     Waiting for application startup.\n" in err
    assert "INFO:     Application startup complete.\n" in err
    assert "INFO:     pyre-http running on http://127.0.0.1:" in err
    assert "INFO:     Application shutdown complete.\n" in err
    assert sys.modules[app_module].events == ["lifespan.startup", "lifespan.shutdown"]


def test_cli_startup_failure_exits_3_with_the_app_message(
    app_module: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_STARTUP", "1")
    factory = FakeCoreFactory(stop_soon)
    assert cli.main([f"{app_module}:app", "--port", "0"], core_factory=factory) == 3
    err = capsys.readouterr().err
    assert "ERROR:    cannot reach the database\n" in err
    assert err.rstrip().splitlines()[-1] == "pyre-http: error: Application startup failed. Exiting."
    assert factory.instances == []  # never got as far as serving


def test_cli_lifespan_on_with_an_app_without_lifespan(app_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    factory = FakeCoreFactory(stop_soon)
    assert cli.main([f"{app_module}:no_lifespan", "--port", "0", "--lifespan", "on"], core_factory=factory) == 3
    assert "Exception in 'lifespan' protocol" in capsys.readouterr().err
    assert factory.instances == []


def test_cli_lifespan_auto_with_an_app_without_lifespan(app_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    factory = FakeCoreFactory(stop_soon)
    assert cli.main([f"{app_module}:no_lifespan", "--port", "0"], core_factory=factory) == 0
    err = capsys.readouterr().err
    assert "INFO:     ASGI 'lifespan' protocol appears unsupported.\n" in err
    assert "ERROR" not in err and "Traceback" not in err
    assert factory.core.kwargs["state"] is None


def test_cli_port_in_use_is_one_line_and_status_1(app_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        factory = FakeCoreFactory(stop_soon)
        status = cli.main([f"{app_module}:app", "--port", str(port), "--log-level", "warning"], core_factory=factory)
    assert status == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"pyre-http: error: could not listen on 127.0.0.1:{port}: [Errno 98] Address already in use"]
    assert factory.instances == []
    # The app completed startup, so it is also given its shutdown.
    assert sys.modules[app_module].events == ["lifespan.startup", "lifespan.shutdown"]


def test_cli_without_the_native_core(
    app_module: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyre_http._core", None)  # makes the import fail
    assert cli.main([f"{app_module}:app", "--port", "0"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("pyre-http: error: the native module pyre_http._core is not available")
    assert sys.modules[app_module].events == []  # failed before lifespan startup


def test_run_with_a_callable(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[Any] = []
    app = lifespan_app(events)
    factory = FakeCoreFactory(stop_soon)
    monkeypatch.setattr(runner, "native_core_factory", lambda: factory)
    assert pyre_http.run(app, port=0, lifespan="on", log_level="warning") is None
    assert factory.core.app is app
    assert events[1:] == ["lifespan.startup", "lifespan.shutdown"]


def test_run_exits_with_the_startup_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "native_core_factory", lambda: FakeCoreFactory(stop_soon))
    with pytest.raises(SystemExit) as info:
        pyre_http.run(lifespan_app([], fail_startup="nope"), port=0)
    assert info.value.code == 3
    with pytest.raises(TypeError):
        pyre_http.run(http_only_app, no_such_option=True)


def test_package_exports() -> None:
    assert set(pyre_http.__all__) == {"run", "Config", "__version__"}
    assert isinstance(pyre_http.__version__, str) and pyre_http.__version__
