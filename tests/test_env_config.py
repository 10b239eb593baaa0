"""PYRE_HTTP_<NAME> variables and --env-file; the command line wins.

Precedence is checked in-process on the parser; one server run shows an env
file applied end to end."""

import json
import os

import pytest
from test_front_support import write_module  # noqa: F401  (puts python/ on sys.path)

# isort: split

from pyre_http import cli

from conftest import ServerFactory
from rawhttp import request


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """A private copy of the environment: --env-file writes into it."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not (name.startswith("PYRE_HTTP_") or name == "FORWARDED_ALLOW_IPS")
    }
    monkeypatch.setattr(os, "environ", environ)


def test_variables_set_options_and_the_command_line_wins(monkeypatch):
    monkeypatch.setenv("PYRE_HTTP_APP", "main:app")
    monkeypatch.setenv("PYRE_HTTP_PORT", "9000")
    monkeypatch.setenv("PYRE_HTTP_PROXY_HEADERS", "false")
    monkeypatch.setenv("PYRE_HTTP_TIMEOUT_KEEP_ALIVE", "7.5")
    monkeypatch.setenv("PYRE_HTTP_FACTORY", "yes")
    monkeypatch.setenv("PYRE_HTTP_LOOP", "asyncio")
    monkeypatch.setenv("PYRE_HTTP_BIND", "127.0.0.1:9001\nunix:/tmp/x.sock")
    monkeypatch.setenv("PYRE_HTTP_UDS_PERMISSIONS", "660")
    config = cli.parse_args([])
    assert (config.app, config.port, config.proxy_headers) == ("main:app", 9000, False)
    assert (config.timeout_keep_alive, config.factory, config.loop) == (7.5, True, "asyncio")
    assert config.bind == ["127.0.0.1:9001", "unix:/tmp/x.sock"]
    assert config.uds_permissions == 0o660
    config = cli.parse_args(["other:app", "--port", "9100", "--proxy-headers", "--bind", "127.0.0.1:1"])
    assert (config.app, config.port, config.proxy_headers) == ("other:app", 9100, True)
    assert config.bind == ["127.0.0.1:1"]


def test_bad_variables_are_usage_errors(monkeypatch, capsys):
    for name, value, message in [
        ("PYRE_HTTP_PORT", "x", "environment variable PYRE_HTTP_PORT='x'"),
        ("PYRE_HTTP_LOOP", "tokio", "choose from 'auto', 'asyncio', 'uvloop'"),
        ("PYRE_HTTP_ACCESS_LOG", "maybe", "'maybe' is not a valid boolean"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(SystemExit) as exc:
            cli.parse_args(["main:app"])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
        monkeypatch.delenv(name)
    with pytest.raises(SystemExit):
        cli.parse_args([])
    assert "the following arguments are required: APP (or PYRE_HTTP_APP)" in capsys.readouterr().err


def test_forwarded_allow_ips_from_its_own_variable(monkeypatch):
    assert cli.parse_args(["main:app"]).trusted_proxies == ["127.0.0.1", "::1"]
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8, unix:")
    assert cli.parse_args(["main:app"]).trusted_proxies == ["10.0.0.0/8", "unix:"]
    assert cli.parse_args(["main:app", "--forwarded-allow-ips", "*"]).trusted_proxies == ["*"]


def test_env_file_feeds_variables_but_not_over_the_environment(monkeypatch, tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text("PYRE_HTTP_PORT=9200\nPYRE_HTTP_ROOT_PATH=/from-file\nPYRE_HTTP_LOG_LEVEL=debug\n")
    monkeypatch.setenv("PYRE_HTTP_ROOT_PATH", "/from-env")
    config = cli.parse_args(["main:app", "--env-file", str(env_file), "--log-level", "warning"])
    assert (config.port, config.root_path, config.log_level) == (9200, "/from-env", "warning")
    with pytest.raises(SystemExit):
        cli.parse_args(["main:app", "--env-file", str(tmp_path / "missing.env")])


def test_help_says_so(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    out = capsys.readouterr().out
    assert "PYRE_HTTP_PORT=9000" in out
    assert "The command line wins" in out


def test_env_file_end_to_end(server_kind, tmp_path):
    env_file = tmp_path / "server.env"
    env_file.write_text("PYRE_HTTP_ROOT_PATH=/mounted\nPYRE_HTTP_PROXY_HEADERS=false\n")
    factory = ServerFactory(server_kind, None, tmp_path)
    try:
        server = factory("edge_app:app", "--env-file", str(env_file))
        with server.client() as c:
            c.send(request("GET", "/", [("X-Forwarded-For", "203.0.113.1")]))
            scope = json.loads(c.read_response().body)
    finally:
        factory.stop_all()
    assert scope["root_path"] == "/mounted"
    assert scope["client"][0] == "127.0.0.1"
