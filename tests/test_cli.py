"""Command-line errors are one clear line, not a traceback."""

import importlib.metadata
import socket

from conftest import APPS, free_port


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.strip()]


def test_wrong_app_path(run_cli):
    p = run_cli("nope:app", "--port", str(free_port()), "--app-dir", str(APPS))
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = error_lines(p.stderr)
    assert len(lines) == 1, p.stderr
    assert "nope" in lines[0]


def test_missing_attribute(run_cli):
    p = run_cli("testapp:no_such_app", "--port", str(free_port()), "--app-dir", str(APPS))
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = error_lines(p.stderr)
    assert len(lines) == 1, p.stderr
    assert "no_such_app" in lines[0]


def test_port_in_use(run_cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run_cli(
            "testapp:app", "--host", "127.0.0.1", "--port", str(port), "--app-dir", str(APPS), timeout=15
        )
    assert p.returncode != 0
    assert "Traceback" not in p.stderr, p.stderr
    about_bind = [line for line in error_lines(p.stderr) if str(port) in line or "in use" in line.lower()]
    assert len(about_bind) == 1, p.stderr


def test_version(run_cli, server_kind):
    p = run_cli("--version")
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert server_kind.dist.split("-")[0] in out.lower()
    try:
        version = importlib.metadata.version(server_kind.dist)
    except importlib.metadata.PackageNotFoundError:  # not installed as a distribution
        return
    assert version in out
