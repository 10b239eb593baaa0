"""The lifespan protocol: startup before serving, failure, shutdown, off."""

import os
import subprocess

import httpx

from apps.lifespan_apps import FAILURE_MESSAGE


def test_startup_completes_before_serving(make_server):
    srv = make_server("lifespan_apps:slow_startup")
    # The first request, sent as soon as the port accepts, sees the state
    # that startup set after its half-second pause.
    r = httpx.get(f"{srv.url}/", timeout=5)
    assert r.json() == {"ready": True}


def test_startup_failure_exits_non_zero_with_message(make_server):
    srv = make_server("lifespan_apps:failing_startup", wait=False)
    try:
        code = srv.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"server kept running after startup failed:\n{srv.stderr_text()}") from None
    assert code != 0
    assert FAILURE_MESSAGE in srv.stderr_text()


def test_shutdown_runs_on_sigterm(make_server):
    srv = make_server("testapp:app")
    assert os.path.exists(srv.side_file("startup"))
    assert httpx.get(f"{srv.url}/hello", timeout=5).status_code == 200
    assert not os.path.exists(srv.side_file("shutdown"))
    code = srv.stop()
    assert code == 0, srv.stderr_text()
    assert os.path.exists(srv.side_file("shutdown")), "shutdown handler did not run"


def test_lifespan_off(make_server):
    srv = make_server("testapp:app", "--lifespan", "off")
    r = httpx.get(f"{srv.url}/hello", timeout=5)
    assert r.status_code == 200
    assert srv.stop() == 0
    assert not os.path.exists(srv.side_file("startup"))
    assert not os.path.exists(srv.side_file("shutdown"))
