"""--log-config (json, yaml, ini), --use-colors, --access-log-format with
gunicorn's atoms and json. Logging does not depend on the event loop: these
servers run on the default one only."""

import base64
import json
import os
import re
import time

import pytest

from conftest import ServerFactory
from rawhttp import request

APP = "edge_app:app"

DICT_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(name)s|%(levelname)s|%(message)s"}},
    "handlers": {"file": {"class": "logging.FileHandler", "filename": "LOGFILE", "formatter": "plain"}},
    "root": {"handlers": ["file"], "level": "INFO"},
}

INI_CONFIG = """\
[loggers]
keys=root

[handlers]
keys=file

[formatters]
keys=plain

[logger_root]
level=INFO
handlers=file

[handler_file]
class=FileHandler
args=('LOGFILE',)
formatter=plain

[formatter_plain]
format=%(name)s|%(levelname)s|%(message)s
"""


@pytest.fixture
def start(server_kind, tmp_path):
    factory = ServerFactory(server_kind, None, tmp_path)
    yield factory
    factory.stop_all()


def get(server, target="/", headers=()):
    with server.client() as c:
        c.send(request("GET", target, headers))
        return c.read_response()


def wait_for(read, needle, timeout=3.0):
    deadline = time.monotonic() + timeout
    while needle not in read() and time.monotonic() < deadline:
        time.sleep(0.05)
    return read()


@pytest.mark.parametrize("kind", ["json", "yaml", "ini"])
def test_log_config_in_three_formats(start, tmp_path, kind):
    logfile = str(tmp_path / "server.log")
    path = tmp_path / f"logging.{kind}"
    if kind == "json":
        path.write_text(json.dumps(DICT_CONFIG).replace("LOGFILE", logfile))
    elif kind == "yaml":
        yaml = pytest.importorskip("yaml")
        path.write_text(yaml.safe_dump(DICT_CONFIG).replace("LOGFILE", logfile))
    else:
        path.write_text(INI_CONFIG.replace("LOGFILE", logfile))
    server = start(APP, "--log-config", str(path))
    assert get(server, "/configured").status == 200

    def read():
        with open(logfile) as f:
            return f.read()

    text = wait_for(read, "/configured")
    lines = text.splitlines()
    # Applied before the app was imported: its logger shares the handler.
    assert "edge_app|WARNING|edge_app imported" in lines
    assert "pyre_http.error|INFO|Application startup complete." in lines
    access = [line for line in lines if "/configured" in line]
    assert len(access) == 1
    assert re.fullmatch(r'pyre_http\.access\|INFO\|127\.0\.0\.1:\d+ - "GET /configured HTTP/1\.1" 200', access[0])
    assert "Application startup complete." not in server.stderr_text()


def test_bad_log_config_is_a_startup_error(run_cli, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    result = run_cli(APP, "--app-dir", "tests/apps", "--log-config", str(path))
    assert result.returncode == 1
    assert f"pyre-http: error: --log-config {path}:" in result.stderr
    result = run_cli(APP, "--log-config", "logging.toml")
    assert result.returncode == 2
    assert "log_config must be a .json, .yaml, .yml, .ini file" in result.stderr


def test_use_colors(start):
    server = start(APP, "--use-colors")
    get(server)
    assert "\x1b[32mINFO\x1b[0m:     Application startup complete." in server.stderr_text()
    server = start(APP, "--no-use-colors")
    get(server)
    assert "\x1b[" not in server.stderr_text()


def test_access_log_format_with_gunicorn_atoms(start):
    fmt = (
        '%(h)s "%(r)s" %(s)s %(st)s %(b)s %(B)s %(m)s %(U)s %(q)s %(H)s %(S)s '
        "%({X-Test}i)s %({x-answer}o)s %({x-absent}o)s %(a)s %(f)s %(p)s %(zz)s %(D)s %(M)s %(T)s %(L)s %(t)s"
    )
    server = start(APP, "--access-log-format", fmt)
    response = get(
        server,
        "/atoms?x=1",
        [("X-Test", "hello"), ("User-Agent", "pytest-agent"), ("X-Forwarded-Proto", "https")],
    )
    size = len(response.body)
    text = wait_for(server.stderr_text, "/atoms")
    [line] = [line for line in text.splitlines() if "/atoms" in line]
    pattern = (
        rf'INFO:     127\.0\.0\.1:\d+ "GET /atoms\?x=1 HTTP/1\.1" 200 OK {size} {size} GET /atoms x=1 HTTP/1\.1 https '
        rf"hello 42 - pytest-agent - <{server.pid}> - (\d+) (\d+) 0 0\.\d{{6}} \[\d\d/\w\w\w/\d{{4}}:\d\d:\d\d:\d\d [+-]\d{{4}}\]"
    )
    match = re.fullmatch(pattern, line)
    assert match, line
    assert int(match.group(2)) == int(match.group(1)) // 1000


def test_access_log_user_from_basic_authorization(start):
    server = start(APP, "--access-log-format", "[%(u)s] %(U)s")
    get(server, "/first", [("Authorization", "Basic " + base64.b64encode(b"alice:secret").decode())])
    get(server, "/second", [("Authorization", "Bearer token")])
    get(server, "/third")
    text = wait_for(server.stderr_text, "/third")
    lines = [line for line in text.splitlines() if line.startswith("INFO:     [")]
    assert lines == ["INFO:     [alice] /first", "INFO:     [-] /second", "INFO:     [-] /third"], text


def test_access_log_format_json(start):
    server = start(APP, "--access-log-format", "json")
    response = get(server, "/j?k=v", [("User-Agent", "ua"), ("Referer", "http://r/"), ("X-Forwarded-For", "192.0.2.5")])
    text = wait_for(server.stderr_text, "/j?k=v")
    [line] = [line for line in text.splitlines() if "/j?k=v" in line]
    record = json.loads(line)
    assert isinstance(record.pop("duration_us"), int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", record.pop("time"))
    assert record == {
        "client": "192.0.2.5:0",
        "request": "GET /j?k=v HTTP/1.1",
        "method": "GET",
        "path": "/j",
        "query": "k=v",
        "protocol": "HTTP/1.1",
        "scheme": "http",
        "status": 200,
        "bytes": len(response.body),
        "referer": "http://r/",
        "user_agent": "ua",
    }
    # The other log lines keep their usual form.
    assert "INFO:     Application startup complete." in text.splitlines()


def test_access_log_off_with_a_format(start):
    server = start(APP, "--access-log-format", "json", "--no-access-log")
    get(server, "/quiet")
    time.sleep(0.2)
    assert "/quiet" not in server.stderr_text()
    assert os.path.exists(server.side_dir)
