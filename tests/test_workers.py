"""The supervisor and its workers, with real processes, signals and sockets.

Each test starts ``python -m pyre_http ... --workers N`` (or an option that
implies a supervisor) and ends on its own. Worker pids come from the app
(``/pid``) and from the supervisor's log lines.
"""

import os
import re
import signal
import sys
import time

import pytest
from conftest import APPS, ROOT, ServerFactory
from rawhttp import Closed, RawClient, request
from workers_load import LoadClients, run_wrk

APP = "workers_app:app"
READY = re.compile(r"Worker \[(\d+)\] is accepting connections")


@pytest.fixture
def supervisor(server_kind, tmp_path):
    """Starts supervised servers (no --loop: the worker picks its loop);
    each is stopped after the test."""
    factory = ServerFactory(server_kind, None, tmp_path)
    yield factory
    factory.stop_all()


def ready_pids(srv):
    return [int(pid) for pid in READY.findall(srv.stderr_text())]


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def wait_ready(srv, count, timeout=10.0):
    """Until `count` workers in all have said they accept; returns their pids."""
    return wait_for(lambda: len(ready_pids(srv)) >= count and ready_pids(srv), timeout, f"{count} ready workers")


def wait_log(srv, text, timeout=10.0, count=1):
    wait_for(lambda: srv.stderr_text().count(text) >= count, timeout, f"{text!r} in the log:\n{srv.stderr_text()}")


def get(srv, path="/pid", timeout=5.0):
    with RawClient(srv.host, srv.port, timeout) as c:
        c.send(request("GET", path))
        return c.read_response()


def pid_of(srv):
    return int(get(srv).body)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gone(pids):
    """True once none of `pids` runs any more (zombies count as gone: their
    parent, the supervisor, may not have reaped them yet)."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[-1].startswith("Z"):
                    continue
        except FileNotFoundError:
            continue
        return False
    return True


def test_workers_serve_and_sigterm_stops_them_all(supervisor):
    srv = supervisor(APP, env={"WEB_CONCURRENCY": "2"})  # as --workers 2
    pids = wait_ready(srv, 2)
    assert len(set(pids)) == 2 and srv.pid not in pids
    # The supervisor never imports the app: two workers, two imports.
    with open(srv.side_file("imports")) as f:
        assert sorted(int(line) for line in f) == sorted(pids)
    seen = set()
    wait_for(lambda: seen.add(pid_of(srv)) or seen == set(pids), 10, "both workers answering")
    srv.signal(signal.SIGTERM)
    assert srv.wait(timeout=10) == 0, srv.stderr_text()
    assert gone(pids)
    log = srv.stderr_text()
    for pid in pids:
        assert f"Worker [{pid}] stopped (status 0)." in log


def test_sigint_lets_an_in_flight_request_finish(supervisor):
    srv = supervisor(APP, "--workers", "1")
    (pid,) = wait_ready(srv, 1)
    with srv.client() as busy:
        busy.send(request("GET", "/sleep?s=1"))
        time.sleep(0.3)
        srv.signal(signal.SIGINT)
        r = busy.read_response()
        assert (r.status, r.body) == (200, b"slept")
        assert r.has_token("connection", "close")
    assert srv.wait(timeout=10) == 0, srv.stderr_text()
    assert gone([pid])


def test_the_graceful_timeout_bounds_the_stop(supervisor):
    srv = supervisor(APP, "--workers", "1", "--timeout-graceful-shutdown", "1")
    (pid,) = wait_ready(srv, 1)
    with srv.client(timeout=10) as busy:
        busy.send(request("GET", "/sleep?s=30"))
        time.sleep(0.3)
        start = time.monotonic()
        srv.signal(signal.SIGTERM)
        assert srv.wait(timeout=10) == 0, srv.stderr_text()
        assert time.monotonic() - start < 4
        with pytest.raises(Closed):
            busy.read_response()  # cancelled: the connection closes without an answer
    assert "Graceful shutdown timeout exceeded" in srv.stderr_text()
    assert gone([pid])


def test_a_killed_worker_is_replaced_within_a_second(supervisor):
    srv = supervisor(APP, "--workers", "2")
    first, second = wait_ready(srv, 2)
    os.kill(first, signal.SIGKILL)
    start = time.monotonic()
    wait_log(srv, f"Worker [{first}] died (signal SIGKILL); starting a new one.", timeout=5)
    wait_for(lambda: "Started worker" in srv.stderr_text().split(f"Worker [{first}] died")[-1], 5, "a new worker")
    assert time.monotonic() - start < 1.0
    pids = wait_ready(srv, 3)
    assert pids[2] not in (first, second)
    # The new worker serves (and the old one is not among those who answer).
    seen = set()
    wait_for(lambda: seen.add(pid_of(srv)) or {second, pids[2]} <= seen, 10, "the new worker answering")
    assert first not in seen


@pytest.mark.parametrize(
    ("failure", "status", "line"),
    [
        (
            "import",
            1,
            'pyre-http: error: Error loading ASGI app. Importing module "workers_app" failed: '
            "RuntimeError: boom (tests/apps/workers_app.py, line 23)",
        ),
        ("startup", 3, "pyre-http: error: Application startup failed. Exiting."),
    ],
)
def test_a_worker_that_cannot_start_stops_everything_without_a_restart_loop(supervisor, failure, status, line):
    srv = supervisor(APP, "--workers", "2", env={"WORKERS_APP_FAIL": failure}, wait=False)
    assert srv.wait(timeout=15) == status, srv.stderr_text()
    log = srv.stderr_text()
    assert log.count(line) == 1, log
    # The two first workers, nothing restarted (the second may have been
    # stopped before it got as far as importing the app).
    assert log.count("Started worker") == 2, log
    with open(srv.side_file("imports")) as f:
        assert 1 <= len(f.readlines()) <= 2


def test_a_worker_whose_loop_is_blocked_is_killed_and_replaced(supervisor):
    srv = supervisor(APP, "--workers", "1", "--timeout-worker-healthcheck", "1")
    (blocked,) = wait_ready(srv, 1)
    with srv.client() as c:
        c.send(request("GET", "/block"))
        wait_log(srv, f"Worker [{blocked}] did not answer the health check within 1.0 s", timeout=5)
        with pytest.raises((Closed, OSError)):
            c.read_response()  # killed with the worker
    wait_log(srv, f"Worker [{blocked}] is gone (signal SIGKILL); starting a new one.")
    new = wait_ready(srv, 2)[1]
    assert new != blocked
    assert pid_of(srv) == new


def test_sigttin_adds_and_sigttou_removes_a_worker(supervisor):
    srv = supervisor(APP, "--workers", "1")
    (first,) = wait_ready(srv, 1)
    srv.signal(signal.SIGTTIN)
    second = wait_ready(srv, 2)[1]
    seen = set()
    wait_for(lambda: seen.add(pid_of(srv)) or seen == {first, second}, 10, "both workers answering")
    srv.signal(signal.SIGTTOU)
    wait_log(srv, f"Worker [{second}] stopped (status 0).", timeout=10)
    assert alive(first)
    for _ in range(20):
        assert pid_of(srv) == first
    srv.signal(signal.SIGTTOU)  # the last worker stays
    wait_log(srv, "SIGTTOU: keeping the last worker.")
    assert pid_of(srv) == first


def test_an_orphaned_worker_stops_by_itself(supervisor):
    srv = supervisor(APP, "--workers", "1")
    (pid,) = wait_ready(srv, 1)
    srv.proc.kill()
    srv.proc.wait(timeout=5)
    wait_for(lambda: gone([pid]), 10, "the orphan to stop")


def test_the_app_must_be_an_import_string(tmp_path):
    sys.path.insert(0, str(ROOT / "python"))
    try:
        from pyre_http.config import Config
        from pyre_http.runner import serve_and_report
    finally:
        sys.path.pop(0)

    async def app(scope, receive, send):
        pass

    assert serve_and_report(Config(app=app, workers=2, port=0)) == 1


def test_web_concurrency_is_the_default_worker_count(monkeypatch, capsys):
    sys.path.insert(0, str(ROOT / "python"))
    try:
        from pyre_http.cli import parse_args
    finally:
        sys.path.pop(0)
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert parse_args([APP]).workers == 3
    assert parse_args([APP, "--workers", "2"]).workers == 2
    monkeypatch.setenv("WEB_CONCURRENCY", "many")
    with pytest.raises(SystemExit) as exit_info:
        parse_args([APP])
    assert exit_info.value.code == 2
    assert "$WEB_CONCURRENCY must be a positive integer, not 'many'" in capsys.readouterr().err
    monkeypatch.delenv("WEB_CONCURRENCY")
    config = parse_args([APP])
    assert config.workers is None and not config.supervised  # one process, as before


def test_sighup_under_load_replaces_every_worker_and_fails_no_request(supervisor):
    """wrk and exact keep-alive clients run while SIGHUP replaces both
    workers one by one. The listening socket never closes, so nothing may
    fail: every response is a 200, no read or connect error, no timeout."""
    srv = supervisor(APP, "--workers", "2", "--no-access-log")
    old = set(wait_ready(srv, 2))
    with LoadClients(srv, 4) as clients, run_wrk(srv, "/hello", seconds=4) as wrk:
        time.sleep(1.0)
        srv.signal(signal.SIGHUP)
        wait_for(lambda: len(ready_pids(srv)) >= 4, 10, "two new workers")
        for pid in old:
            wait_log(srv, f"Worker [{pid}] stopped (status 0).", timeout=10)
        time.sleep(0.5)  # the new workers serve under load for a while
    clients.assert_no_failure(minimum=20)
    wrk.assert_no_failure(minimum=1000)
    new = set(ready_pids(srv)) - old
    assert len(new) == 2 and gone(old)
    assert {pid_of(srv) for _ in range(20)} <= new
    # One by one, each new worker accepting before its old one stops.
    log = srv.stderr_text()
    took_over = re.findall(r"Stopping worker \[(\d+)\]: \[(\d+)\] took over", log)
    assert {int(o) for o, _ in took_over} == old and {int(n) for _, n in took_over} == new
    first_stop = log.index("Stopping worker [")
    second_start = log.index(f"Started worker [{took_over[1][1]}]")
    assert log.index(f"Worker [{took_over[0][1]}] is accepting") < first_stop < second_start


def test_sighup_with_code_that_cannot_start_keeps_the_old_workers(supervisor, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    module = code / "deployed.py"
    template = (
        "import os\n"
        "async def app(scope, receive, send):\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'%s ' + str(os.getpid()).encode()})\n"
    )
    module.write_text(template % "v1")
    srv = supervisor("deployed:app", "--workers", "2", "--lifespan", "off", app_dir=code)
    old = wait_ready(srv, 2)
    module.write_text("raise ImportError('half-deployed')\n")
    srv.signal(signal.SIGHUP)
    wait_log(srv, "The new worker could not start; worker [", timeout=10)
    log = srv.stderr_text()
    assert "ImportError: half-deployed" in log
    assert log.count("Started worker") == 3  # one try, no loop, no second old worker touched
    assert srv.proc.poll() is None and all(alive(pid) for pid in old)
    for _ in range(10):
        assert get(srv, "/").body.startswith(b"v1 ")
    module.write_text(template % "v2")
    srv.signal(signal.SIGHUP)
    for pid in old:
        wait_log(srv, f"Worker [{pid}] stopped (status 0).", timeout=10)
    for _ in range(10):
        assert get(srv, "/").body.startswith(b"v2 ")


def test_limit_max_requests_recycles_under_load_without_failures(supervisor):
    """With --reuse-port: a replacement inherits its slot's socket, so the
    connections queued on it are served too (SIGHUP above covers the
    shared socket)."""
    srv = supervisor(
        APP, "--workers", "2", "--no-access-log", "--reuse-port",
        "--limit-max-requests", "400", "--limit-max-requests-jitter", "100",
    )
    wait_ready(srv, 2)
    with LoadClients(srv, 4) as clients, run_wrk(srv, "/hello", seconds=3) as wrk:
        pass
    clients.assert_no_failure(minimum=20)
    wrk.assert_no_failure(minimum=1000)
    log = srv.stderr_text()
    retired = log.count("request limit reached")
    assert retired >= 2, log
    assert len(ready_pids(srv)) >= 2 + retired - 2  # replacements started (the last ones may still be starting)


def test_workers_lifetime_replaces_a_worker(supervisor):
    srv = supervisor(APP, "--workers", "1", "--workers-lifetime", "1")
    (first,) = wait_ready(srv, 1)
    wait_log(srv, f"Replacing worker [{first}]: its lifetime of 1 s is over.", timeout=5)
    second = wait_ready(srv, 2)[1]
    wait_log(srv, f"Stopping worker [{first}]: [{second}] took over.")
    wait_for(lambda: gone([first]), 10, "the old worker to exit")
    assert pid_of(srv) in ready_pids(srv)[1:]


def test_workers_max_rss_replaces_a_worker(supervisor):
    srv = supervisor(APP, "--workers", "1", "--workers-max-rss", "100", "--timeout-worker-healthcheck", "1")
    (first,) = wait_ready(srv, 1)
    time.sleep(0.6)
    assert "above the limit" not in srv.stderr_text()
    assert get(srv, "/grow?mib=120").status == 200
    wait_log(srv, f"Replacing worker [{first}]: it uses", timeout=5)
    second = wait_ready(srv, 2)[1]
    wait_for(lambda: gone([first]), 10, "the old worker to exit")
    assert pid_of(srv) == second


def test_reuse_port_gives_each_worker_its_own_socket(supervisor):
    srv = supervisor(APP, "--workers", "2", "--reuse-port")
    pids = wait_ready(srv, 2)
    for pid in pids:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert len([i for i in inodes if i.startswith("socket:")]) >= 2  # its listener and the channel
    seen = set()
    wait_for(lambda: seen.add(pid_of(srv)) or seen == set(pids), 10, "both workers answering")
    first = pids[0]
    os.kill(first, signal.SIGKILL)  # its socket stays open in the supervisor and is handed on
    wait_ready(srv, 3)
    for _ in range(30):
        assert get(srv).status == 200


def test_reload_restarts_on_an_edit_and_survives_a_syntax_error(supervisor, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    module = code / "reloaded.py"
    template = (
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n"
        "        return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'%s'})\n"
    )
    module.write_text(template % "one")
    srv = supervisor(
        "reloaded:app", "--reload", "--reload-dir", str(code), "--reload-delay", "0.1", "--lifespan", "off",
        app_dir=code,
    )
    wait_ready(srv, 1)
    wait_log(srv, "Will watch for changes in these directories")
    assert get(srv, "/").body == b"one"

    def edit_until(text, done):
        # A change made before the watcher is set up is not seen: edit
        # again until it is.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            module.write_text(text)
            for _ in range(25):
                if done():
                    return
                time.sleep(0.04)
        raise AssertionError(srv.stderr_text())

    edit_until(template % "two", lambda: len(ready_pids(srv)) >= 2)
    assert get(srv, "/").body == b"two"
    edit_until("def app(:\n", lambda: "Waiting for a file change to start again." in srv.stderr_text())
    assert "SyntaxError" in srv.stderr_text()
    assert srv.proc.poll() is None
    edit_until(template % "three", lambda: len(ready_pids(srv)) >= 3)
    assert get(srv, "/").body == b"three"
    srv.signal(signal.SIGTERM)
    assert srv.wait(timeout=10) == 0


def test_reload_filter_follows_uvicorns_defaults(tmp_path):
    sys.path.insert(0, str(ROOT / "python"))
    try:
        from pyre_http.supervisor import ReloadFilter
    finally:
        sys.path.pop(0)
    (tmp_path / "static").mkdir()
    root = str(tmp_path)
    default = ReloadFilter([root], [], [])
    assert default(None, f"{root}/app.py")
    assert default(None, f"{root}/pkg/models.py")
    for ignored in ("app.pyc", ".app.py.swp", "~app.py", ".hidden.py", "notes.txt", "__pycache__/app.py",
                    ".venv/lib/x.py", ".git/hooks/x.py"):
        assert not default(None, f"{root}/{ignored}"), ignored
    custom = ReloadFilter([root], ["*.py", "*.html"], ["test_*.py", str(tmp_path / "static")])
    assert custom(None, f"{root}/templates/index.html")
    assert not custom(None, f"{root}/test_app.py")
    assert not custom(None, f"{root}/static/page.html")


def test_a_missing_reload_dir_is_a_startup_error(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "python"))
    try:
        from pyre_http.config import Config
        from pyre_http.runner import serve_and_report
    finally:
        sys.path.pop(0)
    missing = str(tmp_path / "nowhere")
    assert serve_and_report(Config(app=APP, reload=True, reload_dirs=[missing], port=0)) == 1
    assert f"pyre-http: error: --reload-dir {missing!r} is not a directory" in capsys.readouterr().err
