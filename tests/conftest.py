"""End-to-end harness: runs the real server as a subprocess.

``make_server(app, *args)`` starts ``python -m pyre_http APP --port N --host
127.0.0.1 --app-dir tests/apps --loop LOOP *args`` from the repository root,
waits until the port accepts connections and returns a handle; every server a
test started is stopped (SIGTERM, bounded wait, kill) at teardown. The whole
server suite runs once with ``--loop asyncio`` and once with ``--loop uvloop``.

To debug the tests themselves against another server, ``--server uvicorn``
(or ``PYRE_TEST_SERVER=uvicorn``) swaps the command for ``python -m uvicorn
... --http httptools``. uvicorn is not a dependency of the default run.
Against uvicorn 0.54 these fail by design (the spec here is stricter):
HTTP/1.0 keep-alive and close-delimited bodies, asgi spec_version "2.5",
trimmed header values, most of test_strict (414/431/505/missing Host/TE
gzip/--limit-request-body), OSError from send() after a disconnect, and exit
code 0 after SIGTERM (uvicorn re-raises the signal).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rawhttp import RawClient

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
START_TIMEOUT = 30.0  # generous: parallel workers on a loaded 2-core machine import slowly
STOP_TIMEOUT = 10.0


class ServerKind:
    def __init__(self, name, module, server_header, dist, extra_args=()):
        self.name = name
        self.module = module
        self.server_header = server_header  # value of the default `server` header
        self.dist = dist  # distribution name, for --version
        self.extra_args = list(extra_args)

    def command(self, *args):
        return [sys.executable, "-m", self.module, *args, *self.extra_args]


SERVER_KINDS = {
    "pyre": ServerKind("pyre", "pyre_http", "pyre-http", "pyre-http"),
    "uvicorn": ServerKind("uvicorn", "uvicorn", "uvicorn", "uvicorn", ["--http", "httptools"]),
}


def pytest_addoption(parser):
    parser.addoption(
        "--server",
        choices=sorted(SERVER_KINDS),
        default=os.environ.get("PYRE_TEST_SERVER", "pyre"),
        help="server under test (default: pyre; uvicorn only to debug the tests)",
    )


@pytest.fixture(scope="session")
def server_kind(request):
    return SERVER_KINDS[request.config.getoption("--server")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process. `stderr_text()` reads what it logged so far."""

    def __init__(self, kind, app, args, *, app_dir, env, side_dir, port=None):
        self.kind = kind
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.side_dir = str(side_dir)
        self.argv = kind.command(
            app, "--port", str(self.port), "--host", self.host, "--app-dir", str(app_dir), *args
        )
        self._stderr_path = os.path.join(self.side_dir, f"stderr-{self.port}.log")
        self._stdout_path = os.path.join(self.side_dir, f"stdout-{self.port}.log")
        full_env = dict(os.environ)
        full_env["PYRE_TEST_DIR"] = self.side_dir
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env or {})
        self._stderr = open(self._stderr_path, "wb")
        self._stdout = open(self._stdout_path, "wb")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
        )
        self.returncode = None

    @property
    def pid(self):
        return self.proc.pid

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def stderr_text(self):
        with open(self._stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout_text(self):
        with open(self._stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def side_file(self, name):
        return os.path.join(self.side_dir, name)

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"server exited with {self.proc.returncode} before listening:\n"
                    f"{' '.join(self.argv)}\n{self.stderr_text()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        pytest.fail(f"server did not listen within {timeout} s:\n{self.stderr_text()}")

    def client(self, timeout=5.0):
        return RawClient(self.host, self.port, timeout)

    def rss(self):
        """Resident set size of the server process, in bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def fds(self):
        """Number of descriptors the server process has open."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        self.returncode = self.proc.wait(timeout=timeout)
        return self.returncode

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait (bounded), kill. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.returncode = self.proc.returncode
        self._stderr.close()
        self._stdout.close()
        return self.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)


def _loop_params():
    params = ["asyncio"]
    try:
        import uvloop  # noqa: F401

        params.append("uvloop")
    except ImportError:
        params.append(pytest.param("uvloop", marks=pytest.mark.skip(reason="uvloop not installed")))
    return params


@pytest.fixture(scope="module", params=_loop_params())
def loop_name(request):
    """The event loop every server of the module runs on."""
    return request.param


class ServerFactory:
    def __init__(self, kind, loop, side_dir):
        self.kind = kind
        self.loop = loop
        self.side_dir = side_dir
        self.servers = []

    def __call__(self, app="testapp:app", *args, app_dir=APPS, env=None, wait=True, loop=True, port=None):
        args = list(args)
        if loop and self.loop:
            args += ["--loop", self.loop]
        server = Server(
            self.kind, app, args, app_dir=app_dir, env=env, side_dir=self.side_dir, port=port
        )
        self.servers.append(server)
        if wait:
            server.wait_ready()
        return server

    def stop_all(self):
        for server in self.servers:
            server.stop()


@pytest.fixture
def make_server(server_kind, loop_name, tmp_path):
    """Starts servers on the module's loop; each is stopped after the test."""
    factory = ServerFactory(server_kind, loop_name, tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def server(server_kind, loop_name, tmp_path_factory):
    """testapp:app with default settings, shared by a module's tests."""
    factory = ServerFactory(server_kind, loop_name, tmp_path_factory.mktemp("server"))
    yield factory()
    factory.stop_all()


@pytest.fixture
def run_cli(server_kind, tmp_path):
    """Runs the server command to completion (for CLI errors and --version)."""

    def run(*args, timeout=15):
        env = dict(os.environ, PYRE_TEST_DIR=str(tmp_path))
        return subprocess.run(
            server_kind.command(*args),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
