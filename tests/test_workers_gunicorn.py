"""gunicorn's arbiter with pyre-http's worker class (the real gunicorn from PyPI)."""

import os
import re
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from conftest import APPS, ROOT, free_port
from rawhttp import Closed, RawClient, request
from test_workers import APP, wait_for
from workers_load import LoadClients


class Gunicorn:
    """`gunicorn -k pyre_http.workers.PyreWorker ... APP` on a free loopback
    port, its output in `log`."""

    def __init__(self, tmp_path, *options):
        self.port = free_port()
        self.log = tmp_path / "gunicorn.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "gunicorn", "-k", "pyre_http.workers.PyreWorker",
                    "-b", f"127.0.0.1:{self.port}", "--chdir", str(APPS), *options, APP,
                ],
                cwd=ROOT,
                # HOME: gunicorn 27 puts its control socket in ~/.gunicorn.
                env=dict(os.environ, PYRE_TEST_DIR=str(tmp_path), HOME=str(tmp_path)),
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def gunicorn(tmp_path):
    """Starts gunicorn with the given options; killed after the test if still running."""
    started = []

    def start(*options):
        started.append(Gunicorn(tmp_path, *options))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def test_gunicorn_worker_class(gunicorn):
    """gunicorn forks and supervises; pyre-http serves in each worker.
    --max-requests recycles workers and HUP replaces them while exact
    clients keep sending (no request fails); TERM stops all."""
    server = gunicorn("-w", "2", "--max-requests", "150", "--graceful-timeout", "5", "--timeout", "5")
    proc, port, log = server.proc, server.port, server.log

    def pid():
        with RawClient("127.0.0.1", port, 5) as c:
            c.send(request("GET", "/pid"))
            return int(c.read_response().body)

    def serving():
        try:
            return pid()
        except OSError:
            return None

    wait_for(serving, 15, "gunicorn to serve")

    def booted():
        return [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", log.read_text())]

    with LoadClients(SimpleNamespace(host="127.0.0.1", port=port), 3) as clients:
        # --max-requests 150 per worker: one that served 150 requests
        # stops and gunicorn starts another.
        wait_for(lambda: len(booted()) >= 4, 15, f"recycled workers:\n{log.read_text()}")
        assert "Maximum request limit of 150 reached" in log.read_text()
        # HUP: gunicorn starts new workers and stops the old ones.
        before = set(booted())
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(set(booted()) - before) >= 2, 15, f"new workers after HUP:\n{log.read_text()}")
    clients.assert_no_failure(minimum=20)
    assert pid() in booted()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0, log.read_text()


def test_gunicorn_kills_a_worker_whose_loop_is_blocked(gunicorn):
    server = gunicorn("-w", "1", "--timeout", "2")
    proc, port, log = server.proc, server.port, server.log
    wait_for(lambda: _answers(port), 15, "gunicorn to serve")
    with RawClient("127.0.0.1", port, 10) as c:
        c.send(request("GET", "/block"))
        wait_for(lambda: "WORKER TIMEOUT" in log.read_text(), 10, "gunicorn's heartbeat timeout")
    wait_for(lambda: _answers(port), 15, "a new worker")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0, log.read_text()


def _answers(port):
    try:
        with RawClient("127.0.0.1", port, 2) as c:
            c.send(request("GET", "/pid"))
            return c.read_response().status == 200
    except (OSError, Closed):
        return False


def test_gunicorn_graceful_timeout_bounds_a_term(gunicorn):
    server = gunicorn("-w", "1", "--graceful-timeout", "2")
    proc, port, log = server.proc, server.port, server.log
    wait_for(lambda: _answers(port), 15, "gunicorn to serve")
    with RawClient("127.0.0.1", port, 10) as c:
        c.send(request("GET", "/sleep?s=30"))
        time.sleep(0.3)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()
        assert time.monotonic() - start < 5, log.read_text()
    text = log.read_text()
    # pyre-http's own deadline (1.6 s) came before gunicorn's SIGKILL (2 s).
    assert "Graceful shutdown timeout exceeded" in text and "Application shutdown complete." in text, text
