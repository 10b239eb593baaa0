"""Listening: --uds (permissions, stale socket file, removal on exit), --fd,
systemd's LISTEN_FDS, and several --bind addresses served by one process."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from conftest import APPS, ROOT, free_port
from rawhttp import request

APP = "edge_app:app"
TIMEOUT = 10.0


def unix_get(path, target="/", headers=()):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(request("GET", target, headers))
        data = b""
        while not (b"\r\n\r\n" in data and data.endswith(b"}")):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    return json.loads(body)


def tcp_get(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, port))
        s.sendall(request("GET", "/", [("Connection", "close")]))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data.partition(b"\r\n\r\n")[2])


def wait_for_unix(path, proc, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(path)
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listens on {path}")


def wait_for_tcp(port, proc, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listens on port {port}")


# As systemd does: the sockets become descriptors 3, 4... and LISTEN_PID
# names the process that then runs the server (exec keeps the pid).
ACTIVATE = """
import fcntl, os, sys
fds = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 100) for fd in sys.argv[1].split(",")]
for i, fd in enumerate(fds):
    os.dup2(fd, 3 + i)
for fd in fds:
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = str(len(fds))
os.execv(sys.argv[2], sys.argv[2:])
"""


@pytest.fixture
def spawn(tmp_path):
    """Runs `python -m pyre_http APP ...` (no --host/--port added); stops it after the test."""
    procs = []

    def run(*args, pass_fds=(), env=None, activate=None):
        argv = [sys.executable, "-m", "pyre_http", APP, "--app-dir", str(APPS), *args]
        if activate is not None:
            argv = [sys.executable, "-c", ACTIVATE, ",".join(map(str, activate)), *argv]
        stderr = open(tmp_path / f"stderr-{len(procs)}.log", "w+b")
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            pass_fds=pass_fds,
        )
        proc.stderr_file = stderr
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stderr_file.close()


def wait_started(proc, timeout=TIMEOUT):
    """Until the server says it runs (a passed socket accepts before that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "(Press CTRL+C to quit)" in stderr_of(proc):
            return
        assert proc.poll() is None, stderr_of(proc)
        time.sleep(0.05)
    pytest.fail(stderr_of(proc))


def stderr_of(proc):
    proc.stderr_file.seek(0)
    return proc.stderr_file.read().decode("utf-8", "replace")


def test_uds_with_permissions_is_served_and_removed_on_exit(spawn, tmp_path):
    path = str(tmp_path / "app.sock")
    proc = spawn("--uds", path, "--uds-permissions", "600")
    wait_for_unix(path, proc)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    scope = unix_get(path)
    assert scope["client"] is None
    assert scope["server"] == [path, None]
    assert scope["scheme"] == "http"
    # A Unix socket peer is not trusted unless the list says unix: or *.
    scope = unix_get(path, headers=[("X-Forwarded-For", "203.0.113.1")])
    assert scope["client"] is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=TIMEOUT) == 0
    assert not os.path.exists(path)
    assert f"pyre-http running on unix:{path}" in stderr_of(proc)


def test_uds_peer_trusted_with_unix_entry(spawn, tmp_path):
    path = str(tmp_path / "app.sock")
    proc = spawn("--uds", path, "--forwarded-allow-ips", "unix:")
    wait_for_unix(path, proc)
    scope = unix_get(path, headers=[("X-Forwarded-For", "203.0.113.1"), ("X-Forwarded-Proto", "https")])
    assert scope["client"] == ["203.0.113.1", 0]
    assert scope["scheme"] == "https"


def test_stale_socket_file_is_replaced_and_a_live_one_is_an_error(spawn, tmp_path):
    path = str(tmp_path / "app.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens
    assert os.path.exists(path)
    proc = spawn("--uds", path)
    wait_for_unix(path, proc)
    assert unix_get(path)["server"] == [path, None]

    second = spawn("--uds", path)
    assert second.wait(timeout=TIMEOUT) == 1
    assert f"could not listen on unix:{path}: another server is listening on it" in stderr_of(second)
    assert unix_get(path)["server"] == [path, None], "the first server still serves"

    not_socket = tmp_path / "plain"
    not_socket.write_text("x")
    third = spawn("--uds", str(not_socket))
    assert third.wait(timeout=TIMEOUT) == 1
    assert "the path exists and is not a socket" in stderr_of(third)
    assert not_socket.read_text() == "x"


def listening_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def test_fd_inherited_listening_socket(spawn):
    sock = listening_socket()
    port = sock.getsockname()[1]
    try:
        proc = spawn("--fd", str(sock.fileno()), pass_fds=(sock.fileno(),))
        wait_started(proc)
        scope = tcp_get("127.0.0.1", port)
    finally:
        sock.close()
    assert scope["server"] == ["127.0.0.1", port]
    assert scope["client"][0] == "127.0.0.1"


def test_fd_that_is_not_a_listening_socket(spawn, tmp_path):
    with open(tmp_path / "f", "w") as f:
        fd = f.fileno()
        proc = spawn("--fd", str(fd), pass_fds=(fd,))
        assert proc.wait(timeout=TIMEOUT) == 1
    assert f"could not use descriptor {fd}" in stderr_of(proc)


def test_systemd_socket_activation(spawn, tmp_path):
    tcp = listening_socket()
    port = tcp.getsockname()[1]
    path = str(tmp_path / "activated.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(path)
    unix.listen(16)
    try:
        fds = (tcp.fileno(), unix.fileno())
        proc = spawn(pass_fds=fds, activate=fds)
        wait_started(proc)
        assert tcp_get("127.0.0.1", port)["server"] == ["127.0.0.1", port]
        assert unix_get(path)["server"] == [path, None]
    finally:
        tcp.close()
        unix.close()
    log = stderr_of(proc)
    assert f"pyre-http running on http://127.0.0.1:{port}" in log
    assert f"pyre-http running on unix:{path}" in log
    assert "8000" not in log, "--host/--port are not used when sockets are passed"


def test_listen_fds_for_another_process_is_ignored(spawn):
    port = free_port()
    proc = spawn("--port", str(port), env={"LISTEN_PID": "1", "LISTEN_FDS": "1"})
    wait_for_tcp(port, proc)
    assert tcp_get("127.0.0.1", port)["server"] == ["127.0.0.1", port]


def test_several_binds_in_one_process(spawn, tmp_path):
    port1, port2 = free_port(), free_port()
    path = str(tmp_path / "b.sock")
    binds = ["--bind", f"127.0.0.1:{port1}", "--bind", f"unix:{path}"]
    has_ipv6 = socket.has_ipv6
    if has_ipv6:
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            has_ipv6 = False
    if has_ipv6:
        binds += ["--bind", f"[::1]:{port2}"]
    proc = spawn(*binds)
    wait_for_unix(path, proc)
    wait_for_tcp(port1, proc)
    assert tcp_get("127.0.0.1", port1)["server"] == ["127.0.0.1", port1]
    assert unix_get(path)["server"] == [path, None]
    if has_ipv6:
        scope = tcp_get("::1", port2)
        assert scope["server"] == ["::1", port2]
        assert scope["client"][0] == "::1"


@pytest.mark.parametrize(
    "bind, message",
    [
        ("localhost", "expected HOST:PORT"),
        ("127.0.0.1:99999", "the port must be a number from 0 to 65535"),
        ("[::1]8000", "write an IPv6 address as [ADDRESS]:PORT"),
        ("fd://x", "fd:// needs a descriptor number"),
        ("unix:", "unix: needs a path"),
    ],
)
def test_bad_bind_is_a_usage_error(run_cli, bind, message):
    result = run_cli(APP, "--bind", bind)
    assert result.returncode == 2
    assert message in result.stderr


def test_workers_share_a_unix_socket_bound_once_by_the_supervisor(spawn, tmp_path):
    path = str(tmp_path / "workers.sock")
    proc = spawn("--uds", path, "--workers", "2")
    wait_for_unix(path, proc)
    assert unix_get(path)["server"] == [path, None]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=TIMEOUT) == 0
    assert not os.path.exists(path)
    log = stderr_of(proc)
    assert f"pyre-http running on unix:{path}" in log
    assert log.count("Worker [") >= 2, log


def test_reuse_port_with_a_unix_socket_is_a_startup_error(spawn, tmp_path):
    proc = spawn("--uds", str(tmp_path / "x.sock"), "--workers", "2", "--reuse-port")
    assert proc.wait(timeout=TIMEOUT) == 1
    log = stderr_of(proc)
    assert "pyre-http: error: --reuse-port binds --host/--port for each worker" in log, log
