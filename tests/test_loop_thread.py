"""The per-request objects belong to the server's event loop: a call from
another thread is an exception, not a crash; and the core refuses to serve
on a free-threaded Python whose GIL was turned off."""

import subprocess
import sys

import httpx

from conftest import APPS, ROOT


def test_send_from_another_thread_raises_and_the_request_goes_on(server):
    r = httpx.get(f"{server.url}/send-from-thread", timeout=5)
    assert r.status_code == 200
    assert r.text == "RuntimeError: called from a thread other than the server's event loop; use loop.call_soon_threadsafe"


def test_serving_without_the_gil_is_a_one_line_startup_error():
    program = (
        "import sys; sys._is_gil_enabled = lambda: False\n"
        "import pyre_http; pyre_http.run('testapp:app', port=0, app_dir=sys.argv[1], lifespan='off')"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, str(APPS)], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1, result.stderr
    assert "pyre-http: error: pyre-http needs the GIL" in result.stderr
    assert "Traceback" not in result.stderr
