"""Steady load for the worker tests, with every response counted.

``LoadClients`` runs exact clients in threads: each sends requests one after
another on a keep-alive connection and opens a new one after ``connection:
close``. Against a supervisor the listening socket never closes, so *any*
error (refused, reset, a short or non-200 answer) is a failure. ``run_wrk``
adds wrk for volume; its socket errors must all be zero.
"""

import contextlib
import re
import shutil
import subprocess
import threading

from rawhttp import Closed, RawClient, request


class LoadClient(threading.Thread):
    def __init__(self, srv, stop, path):
        super().__init__(daemon=True)
        self.srv = srv
        self.stop = stop
        self.path = path
        self.answered = 0
        self.reconnects = 0
        self.failures = []

    def run(self):
        client = None
        try:
            while not self.stop.is_set():
                if client is None:
                    client = RawClient(self.srv.host, self.srv.port, timeout=5)
                client.send(request("GET", self.path))
                r = client.read_response()
                self.answered += 1
                if r.status != 200:
                    self.failures.append(f"status {r.status}")
                if r.has_token("connection", "close"):
                    client.assert_closed()
                    client.close()
                    client = None
                    self.reconnects += 1
        except (OSError, Closed, AssertionError) as exc:
            self.failures.append(f"after {self.answered} answers: {exc!r}")
        finally:
            if client is not None:
                client.close()


class LoadClients:
    def __init__(self, srv, count, path="/hello"):
        self.stop = threading.Event()
        self.clients = [LoadClient(srv, self.stop, path) for _ in range(count)]

    def __enter__(self):
        for client in self.clients:
            client.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for client in self.clients:
            client.join(10)

    def assert_no_failure(self, minimum):
        for client in self.clients:
            assert not client.is_alive()
            assert client.failures == [], client.failures
            assert client.answered >= minimum, client.answered

    @property
    def answered(self):
        return sum(c.answered for c in self.clients)


class Wrk:
    def __init__(self, proc):
        self.proc = proc
        self.report = ""

    def assert_no_failure(self, minimum):
        report = self.report
        requests = int(re.search(r"(\d+) requests in", report).group(1))
        assert requests >= minimum, report
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
        assert errors is None, report  # wrk prints the line only when one is non-zero
        assert "Non-2xx" not in report, report


@contextlib.contextmanager
def run_wrk(srv, path, seconds, connections=16):
    """wrk -t1 for `seconds`; the block's end waits for wrk's report."""
    wrk = shutil.which("wrk")
    assert wrk, "wrk is missing (.ci/run installs it: apt-get install wrk)"
    proc = subprocess.Popen(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", f"{srv.url}{path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    result = Wrk(proc)
    try:
        yield result
        result.report, _ = proc.communicate(timeout=seconds + 15)
    finally:
        proc.kill()
        proc.wait()
