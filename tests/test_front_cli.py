"""Command-line parsing: every option, its default, and header parsing."""

from __future__ import annotations

import platform

import pytest
from test_front_support import REPO, run_cli  # first: it puts python/ on sys.path

# isort: split

from pyre_http.cli import parse_args
from pyre_http.config import Config, parse_header


def test_defaults_match_uvicorn_and_our_limits() -> None:
    config = parse_args(["main:app"])
    assert config == Config(app="main:app")
    assert config.app == "main:app"
    assert config.host == "127.0.0.1"
    assert config.port == 8000
    assert config.factory is False
    assert config.app_dir == "."
    assert config.loop == "auto"
    assert config.lifespan == "auto"
    assert config.log_level == "info"
    assert config.access_log is True
    assert config.root_path == ""
    assert config.timeout_keep_alive == 5
    assert config.timeout_graceful_shutdown is None
    assert config.server_header is True
    assert config.date_header is True
    assert config.headers == []
    assert config.backlog == 2048
    assert config.limit_request_line == 8190
    assert config.limit_request_headers == 100
    assert config.limit_request_header_size == 16384
    assert config.limit_request_body == 1073741824
    assert config.body_limit_or_none == 1073741824
    assert config.ws == "auto"
    assert config.ws_core == "auto"
    assert config.ws_max_size == 16777216
    assert config.ws_max_queue == 32
    assert config.ws_ping_interval == 20.0
    assert config.ws_ping_timeout == 20.0
    assert config.seconds_or_none("ws_ping_interval") == 20.0
    assert config.seconds_or_none("ws_ping_timeout") == 20.0
    assert config.ws_per_message_deflate is True


def test_every_option() -> None:
    config = parse_args(
        [
            "pkg.mod:make.app",
            "--host", "::",
            "--port", "9001",
            "--backlog", "64",
            "--factory",
            "--app-dir", "src",
            "--loop", "asyncio",
            "--lifespan", "on",
            "--log-level", "trace",
            "--no-access-log",
            "--root-path", "/api",
            "--timeout-keep-alive", "2.5",
            "--timeout-graceful-shutdown", "7",
            "--no-server-header",
            "--no-date-header",
            "--header", "X-One: 1",
            "--header", "x-two:two",
            "--limit-request-line", "100",
            "--limit-request-headers", "10",
            "--limit-request-header-size", "2000",
            "--limit-request-body", "0",
            "--ws", "none",
            "--ws-max-size", "1000",
            "--ws-max-queue", "4",
            "--ws-ping-interval", "0.5",
            "--ws-ping-timeout", "0",
            "--ws-per-message-deflate", "false",
        ]
    )  # fmt: skip
    assert config.app == "pkg.mod:make.app"
    assert config.host == "::"
    assert config.port == 9001
    assert config.backlog == 64
    assert config.factory is True
    assert config.app_dir == "src"
    assert config.loop == "asyncio"
    assert config.lifespan == "on"
    assert config.log_level == "trace"
    assert config.log_level_number == 5
    assert config.access_log is False
    assert config.root_path == "/api"
    assert config.timeout_keep_alive == 2.5
    assert config.timeout_graceful_shutdown == 7
    assert config.server_header is False
    assert config.date_header is False
    assert config.headers == [("x-one", "1"), ("x-two", "two")]
    assert config.limit_request_line == 100
    assert config.limit_request_headers == 10
    assert config.limit_request_header_size == 2000
    assert config.limit_request_body == 0
    assert config.body_limit_or_none is None  # 0 means unlimited for the core
    assert config.ws == "none"
    assert config.ws_core == "none"
    assert config.ws_max_size == 1000
    assert config.ws_max_queue == 4
    assert config.ws_ping_interval == 0.5
    assert config.ws_ping_timeout == 0
    assert config.seconds_or_none("ws_ping_timeout") is None  # 0 disables the timeout
    assert config.ws_per_message_deflate is False


@pytest.mark.parametrize("name", ["auto", "websockets", "wsproto", "websockets-sansio"])
def test_every_ws_implementation_name_selects_the_built_in_one(name: str) -> None:
    config = parse_args(["m:a", "--ws", name])
    assert config.ws == name
    assert config.ws_core == "auto"


@pytest.mark.parametrize(
    "text, expected",
    [("true", True), ("True", True), ("1", True), ("yes", True), ("on", True), ("t", True), ("y", True),
     ("false", False), ("FALSE", False), ("0", False), ("no", False), ("off", False), ("f", False), ("n", False)],
)  # fmt: skip
def test_ws_per_message_deflate_takes_a_boolean_like_uvicorn(text: str, expected: bool) -> None:
    assert parse_args(["m:a", "--ws-per-message-deflate", text]).ws_per_message_deflate is expected


def test_ws_ping_zero_or_none_disables() -> None:
    config = parse_args(["m:a", "--ws-ping-interval", "0", "--ws-ping-timeout", "0"])
    assert (config.seconds_or_none("ws_ping_interval"), config.seconds_or_none("ws_ping_timeout")) == (None, None)
    config = Config(app="m:a", ws_ping_interval=None, ws_ping_timeout=None)
    assert (config.seconds_or_none("ws_ping_interval"), config.seconds_or_none("ws_ping_timeout")) == (None, None)
    config = Config(app="m:a", ws_ping_interval=1, ws_ping_timeout=3)
    assert (config.seconds_or_none("ws_ping_interval"), config.seconds_or_none("ws_ping_timeout")) == (1.0, 3.0)
    assert isinstance(config.seconds_or_none("ws_ping_interval"), float)


def test_positive_flags_can_be_given_explicitly() -> None:
    config = parse_args(["m:a", "--access-log", "--server-header", "--date-header"])
    assert (config.access_log, config.server_header, config.date_header) == (True, True, True)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("X-Frame-Options: DENY", ("x-frame-options", "DENY")),
        ("x-a:b", ("x-a", "b")),
        ("  X-Spaced  :   value with spaces  ", ("x-spaced", "value with spaces")),
        ("X-Colons: a:b:c", ("x-colons", "a:b:c")),  # split at the first colon only
        ("X-Empty:", ("x-empty", "")),
    ],
)
def test_header_parsing(text: str, expected: tuple[str, str]) -> None:
    assert parse_header(text) == expected


@pytest.mark.parametrize("text", ["no-colon", ": value", "Bad Name: x", "X-Inject: a\r\nSet-Cookie: x"])
def test_bad_headers_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_header(text)


@pytest.mark.parametrize(
    "argv",
    [
        [],  # APP is required
        ["m:a", "--loop", "trio"],
        ["m:a", "--lifespan", "maybe"],
        ["m:a", "--log-level", "loud"],
        ["m:a", "--port", "70000"],
        ["m:a", "--port", "http"],
        ["m:a", "--header", "no-colon"],
        ["m:a", "--limit-request-body", "-1"],
        ["m:a", "--limit-request-line", "0"],
        ["m:a", "--timeout-graceful-shutdown", "-3"],
        ["m:a", "--ws", "trio-websocket"],
        ["m:a", "--ws-max-size", "0"],
        ["m:a", "--ws-max-queue", "-1"],
        ["m:a", "--ws-ping-interval", "-1"],
        ["m:a", "--ws-ping-timeout", "soon"],
        ["m:a", "--ws-per-message-deflate", "maybe"],
        ["m:a", "--ws-per-message-deflate"],  # a value is required, as in uvicorn
    ],
)
def test_usage_errors_exit_with_status_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert "pyre-http: error:" in capsys.readouterr().err


def test_config_validates_run_arguments() -> None:
    with pytest.raises(ValueError, match="lifespan"):
        Config(app="m:a", lifespan="sometimes")
    with pytest.raises(ValueError, match="header"):
        Config(app="m:a", headers=[("x-a", "b\r\nc")])
    assert Config(app="m:a", headers=[("X-A", "b")]).headers == [("x-a", "b")]
    with pytest.raises(ValueError, match="ws must be"):
        Config(app="m:a", ws="tornado")
    with pytest.raises(ValueError, match="ws_max_size"):
        Config(app="m:a", ws_max_size=0)
    with pytest.raises(ValueError, match="ws_max_queue"):
        Config(app="m:a", ws_max_queue=0)
    with pytest.raises(ValueError, match="ws_ping_interval"):
        Config(app="m:a", ws_ping_interval=-1)
    with pytest.raises(ValueError, match="ws_ping_timeout"):
        Config(app="m:a", ws_ping_timeout=-0.5)


def test_version_and_help(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(["--version"], cwd=tmp_path)
    assert result.returncode == 0
    line = result.stdout.strip()
    assert line.startswith("pyre-http ")
    assert f"with {platform.python_implementation()} {platform.python_version()} on {platform.system()}" in line

    result = run_cli(["--help"], cwd=REPO)
    assert result.returncode == 0
    for option in (
        "--host",
        "--port",
        "--factory",
        "--app-dir",
        "--lifespan",
        "--limit-request-body",
        "--no-access-log",
        "--ws",
        "--ws-max-size",
        "--ws-max-queue",
        "--ws-ping-interval",
        "--ws-ping-timeout",
        "--ws-per-message-deflate",
    ):
        assert option in result.stdout
