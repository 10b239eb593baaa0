"""The supervisor: binds the listening sockets, runs the worker processes.

It never imports the application. Each worker is ``python -m
pyre_http.worker_process`` started with ``subprocess`` and the listening
sockets passed as inherited descriptors (``pass_fds``): a fresh interpreter
that imports the app itself, so a reload sees new code, nothing of the
supervisor's state (threads of the file watcher, signal handlers) leaks into
a worker, and it behaves the same on every Python and start method. The
price is an interpreter start (tens of milliseconds) per worker, paid at
startup and on a replacement only.

One thread, one ``selectors`` loop: the workers' channels (see
``worker_process.py``), a wakeup descriptor for signals (``SIGCHLD`` too, so
a dead worker is noticed at once), and with ``--reload`` a pipe from the
file watcher's thread. What it does:

* keeps ``workers`` workers running: one that dies is replaced at once;
  one that cannot start stops everything (status and one-line error from
  the worker), except under ``--reload`` where it waits for the next edit;
* pings every worker; one whose loop leaves a ping unanswered for
  ``timeout_worker_healthcheck`` seconds is killed and replaced;
* *replaces* a worker (SIGHUP, ``--limit-max-requests``,
  ``--workers-max-rss``, ``--workers-lifetime``) by starting the new one
  first and sending SIGTERM to the old one only once the new one accepts:
  the old one then drains as on a single server's SIGTERM;
* SIGINT/SIGTERM: SIGTERM to every worker, wait, exit 0 (a second signal
  forces the workers to stop; the graceful timeout plus a margin ends in
  SIGKILL); SIGTTIN/SIGTTOU: one worker more or less.

Workers run in their own session, so a Ctrl+C in the terminal reaches the
supervisor only, which then stops the workers once, in order.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any, Callable

from .config import Config
from .errors import EXIT_ERROR, StartupError
from .sockets import Listener, bind_socket, bound_port, format_address, open_listeners
from .worker_process import config_to_json

logger = logging.getLogger("pyre_http.error")

POLL_INTERVAL = 0.1  # seconds: the longest the supervisor sleeps between checks
STOP_MARGIN = 5.0  # seconds beyond the graceful timeout before SIGKILL
SUPERVISOR_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGCHLD,
)


@dataclasses.dataclass(eq=False)
class Worker:
    slot: int
    proc: subprocess.Popen[bytes]
    channel: socket.socket
    started_at: float
    buffer: bytes = b""
    ready_at: float | None = None
    stopping: bool = False  # SIGTERM sent: it drains and exits
    killed: bool = False  # SIGKILL sent by the health check
    error: str | None = None  # its startup error line
    error_code: int = EXIT_ERROR
    ping_sent_at: float | None = None
    replacement: Worker | None = None  # started to take over from this one
    replaces: Worker | None = None  # the worker this one takes over from
    keep: bool = False  # a replacement failed to start: do not try again

    @property
    def pid(self) -> int:
        return self.proc.pid


def describe_status(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"status {returncode}"


class Supervisor:
    def __init__(self, config: Config) -> None:
        if not isinstance(config.app, str):
            raise StartupError(
                "workers, --reload and worker recycling need the application as an import string "
                '("module:attribute"): each worker imports it itself.'
            )
        self.config = config
        self.target = 1 if config.reload else (config.workers or 1)
        if config.reload and config.workers not in (None, 1):
            logger.warning("--reload runs one worker; ignoring --workers %d.", config.workers)
        self.workers: list[Worker] = []
        self._selector = selectors.DefaultSelector()
        self._signals: deque[int] = deque()
        self._shared: list[Listener] = []  # shared mode: every worker's sockets
        self._per_slot: dict[int, socket.socket] = {}  # --reuse-port: one socket per slot
        self._port = config.port
        self._stopping = False
        self._stop_deadline: float | None = None
        self._status = 0
        self._rolling: deque[Worker] = deque()
        self._paused = False  # --reload: a worker failed to start; wait for an edit
        self._reload_at: float | None = None
        self._reload_changes: list[str] = []
        self._watcher: Reloader | None = None
        self._spawn_after = 0.0
        self._ping_interval = min(1.0, config.timeout_worker_healthcheck / 4)
        self._next_ping = 0.0

    # -- the main loop ---------------------------------------------------

    def run(self) -> int:
        if self.config.reload:  # first: a missing watchfiles or directory is a startup error
            self._watcher = Reloader(self.config, self._selector, self._on_changes)
        try:
            self._bind()
        except BaseException:
            if self._watcher is not None:
                self._watcher.stop()
            raise
        wakeup_r, wakeup_w = socket.socketpair()
        wakeup_r.setblocking(False)
        wakeup_w.setblocking(False)
        self._selector.register(wakeup_r, selectors.EVENT_READ, lambda: _drain(wakeup_r))
        old_wakeup = signal.set_wakeup_fd(wakeup_w.fileno(), warn_on_full_buffer=False)
        old_handlers = {sig: signal.signal(sig, self._on_signal) for sig in SUPERVISOR_SIGNALS}
        try:
            logger.info("Started supervisor process [%d]", os.getpid())
            for address in self._addresses():
                logger.info("pyre-http running on %s (Press CTRL+C to quit)", address)
            if self._watcher is not None:
                self._watcher.start()
            self._loop()
        finally:
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(old_wakeup)
            for worker in self.workers:  # only after an error of our own
                _kill(worker.proc, signal.SIGKILL)
            if self._watcher is not None:
                self._watcher.stop()
            self._selector.close()
            wakeup_r.close()
            wakeup_w.close()
            for listener in self._shared:
                listener.close()  # also removes a Unix socket's file
            for sock in self._per_slot.values():
                sock.close()
        logger.info("Stopping supervisor process [%d]", os.getpid())
        return self._status

    def _loop(self) -> None:
        self._fill_slots(time.monotonic())
        while True:
            for key, _ in self._selector.select(POLL_INTERVAL):
                key.data()
            now = time.monotonic()
            while self._signals:
                self._handle_signal(self._signals.popleft())
            self._reap()
            self._check_health(now)
            if self._stopping:
                if not self.workers:
                    return
                if self._stop_deadline is not None and now >= self._stop_deadline:
                    for worker in self.workers:
                        logger.warning("Worker [%d] is still running; killing it.", worker.pid)
                        _kill(worker.proc, signal.SIGKILL)
                    self._stop_deadline = None
                continue
            self._check_reload(now)
            self._advance_rolling()
            self._fill_slots(now)

    def _on_signal(self, sig: int, frame: Any) -> None:
        self._signals.append(sig)

    def _handle_signal(self, sig: int) -> None:
        if sig in (signal.SIGINT, signal.SIGTERM):
            if not self._stopping:
                logger.info("Shutting down: stopping %d worker(s).", len(self.workers))
                self._stop_all()
            else:
                logger.info("Second signal: forcing the workers to stop.")
                for worker in self.workers:
                    _kill(worker.proc, signal.SIGTERM)  # a worker's second signal: forced exit
        elif sig == signal.SIGHUP:
            self._rolling = deque(w for w in self.workers if not w.stopping and w.replaces is None)
            for worker in self._rolling:
                worker.keep = False
            logger.info("SIGHUP: restarting %d worker(s) one by one.", len(self._rolling))
        elif sig == signal.SIGTTIN:
            self.target += 1
            logger.info("SIGTTIN: now %d worker(s).", self.target)
        elif sig == signal.SIGTTOU:
            if self.target <= 1:
                logger.info("SIGTTOU: keeping the last worker.")
                return
            self.target -= 1
            logger.info("SIGTTOU: now %d worker(s).", self.target)
            sock = self._per_slot.pop(self.target, None)
            if sock is not None:
                # The worker keeps its copy until it has stopped accepting;
                # closing ours first takes the socket out of the
                # SO_REUSEPORT group as soon as the worker lets go of it.
                sock.close()
            for worker in self.workers:
                if worker.slot >= self.target and not worker.stopping:
                    self._stop(worker)

    def _stop_all(self) -> None:
        self._stopping = True
        self._rolling.clear()
        grace = self.config.timeout_graceful_shutdown
        self._stop_deadline = None if grace is None else time.monotonic() + grace + STOP_MARGIN
        for worker in self.workers:
            if not worker.stopping:
                self._stop(worker)

    def _stop(self, worker: Worker) -> None:
        worker.stopping = True
        _kill(worker.proc, signal.SIGTERM)

    # -- sockets ------------------------------------------------------------

    def _bind(self) -> None:
        config = self.config
        if config.reuse_port:
            if config.bind_specs():
                raise StartupError("--reuse-port binds --host/--port for each worker; it does not apply to --bind, --uds or --fd")
            first = bind_socket(config.host, config.port, config.backlog, reuse_port=True)
            self._port = bound_port(first)
            self._per_slot[0] = first
        else:
            # Every kind of socket a single process serves (--bind, --uds,
            # --fd, systemd's), bound once and shared by the workers.
            self._shared = open_listeners(config.listen_specs(), config.backlog, config.uds_permissions)

    def _addresses(self) -> list[str]:
        tls = self.config.ssl_certfile is not None
        if self.config.reuse_port:
            return [f"{'https' if tls else 'http'}://{format_address(self.config.host, self._port)}"]
        return [listener.describe(tls) for listener in self._shared]

    def _sockets_for(self, slot: int) -> list[socket.socket]:
        if not self.config.reuse_port:
            return [listener.sock for listener in self._shared]
        sock = self._per_slot.get(slot)
        if sock is None:
            sock = bind_socket(self.config.host, self._port, self.config.backlog, reuse_port=True)
            self._per_slot[slot] = sock
        return [sock]

    # -- workers ------------------------------------------------------------

    def _spawn(self, slot: int, replaces: Worker | None = None) -> Worker | None:
        sockets = self._sockets_for(slot)
        parent, child = socket.socketpair()
        fds = [sock.fileno() for sock in sockets]
        command = [sys.executable, *_interpreter_flags(), "-m", "pyre_http.worker_process", str(child.fileno())]
        try:
            proc = subprocess.Popen(
                command,
                pass_fds=[child.fileno(), *fds],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            parent.close()
            child.close()
            logger.error("Could not start a worker: %s", exc)
            return None
        finally:
            if child.fileno() != -1:
                child.close()
        limit = self.config.limit_max_requests
        if limit is not None and self.config.limit_max_requests_jitter:
            limit += random.randint(0, self.config.limit_max_requests_jitter)
        setup = {"config": config_to_json(self.config), "sockets": fds, "max_requests": limit}
        try:
            parent.sendall(json.dumps(setup).encode() + b"\n")
        except OSError:
            pass  # it died already; reaping tells why
        parent.setblocking(False)
        worker = Worker(slot=slot, proc=proc, channel=parent, started_at=time.monotonic(), replaces=replaces)
        if replaces is not None:
            replaces.replacement = worker
        self._selector.register(parent, selectors.EVENT_READ, lambda: self._read_channel(worker))
        self.workers.append(worker)
        logger.info("Started worker [%d]%s", proc.pid, f", replacing [{replaces.pid}]" if replaces else "")
        return worker

    def _replace(self, old: Worker, reason: str) -> None:
        if old.stopping or old.replacement is not None or old.keep:
            return
        logger.info("Replacing worker [%d]: %s.", old.pid, reason)
        self._spawn(old.slot, replaces=old)

    def _fill_slots(self, now: float) -> None:
        if self._paused or now < self._spawn_after:
            return
        if self.config.reload and any(w.stopping for w in self.workers):
            return  # --reload: the old worker goes first (it may hold files, ports...)
        for slot in range(self.target):
            if not any(w.slot == slot and not w.stopping for w in self.workers):
                if self._spawn(slot) is None:
                    self._spawn_after = now + 1.0
                    return

    def _advance_rolling(self) -> None:
        if any(w.replaces is not None for w in self.workers):
            return  # one replacement at a time
        while self._rolling:
            old = self._rolling.popleft()
            if old in self.workers and not old.stopping and old.replacement is None:
                self._replace(old, "SIGHUP")
                return

    def _read_channel(self, worker: Worker) -> bool:
        """Handles what the worker wrote; False once nothing more is there now."""
        try:
            data = worker.channel.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self._selector.unregister(worker.channel)
            worker.channel.close()
            return False
        worker.buffer += data
        *lines, worker.buffer = worker.buffer.split(b"\n")
        for line in lines:
            self._on_message(worker, line.decode("utf-8", "replace"))
        return True

    def _on_message(self, worker: Worker, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "pong":
            worker.ping_sent_at = None
        elif kind == "ready":
            worker.ready_at = time.monotonic()
            logger.info("Worker [%d] is accepting connections.", worker.pid)
            old = worker.replaces
            worker.replaces = None
            if old is not None:
                old.replacement = None
                if old in self.workers and not old.stopping:
                    logger.info("Stopping worker [%d]: [%d] took over.", old.pid, worker.pid)
                    self._stop(old)
        elif kind == "retire":
            self._replace(worker, "request limit reached")
        elif kind == "error":
            code, _, message = rest.partition(" ")
            worker.error = message
            worker.error_code = int(code) if code.isdigit() else EXIT_ERROR
        else:
            logger.warning("Worker [%d] sent an unknown message %r.", worker.pid, line)

    def _reap(self) -> None:
        for worker in list(self.workers):
            returncode = worker.proc.poll()
            if returncode is None:
                continue
            if worker.channel.fileno() != -1:
                self._read_channel_to_end(worker)
            self.workers.remove(worker)
            self._on_exit(worker, returncode)

    def _read_channel_to_end(self, worker: Worker) -> None:
        # The startup error may still be unread when the exit is noticed.
        while self._read_channel(worker):
            pass
        if worker.channel.fileno() != -1:
            # "Would block": the worker's end is still open somewhere (a
            # process it started); nothing more will come from the worker.
            self._selector.unregister(worker.channel)
            worker.channel.close()

    def _on_exit(self, worker: Worker, returncode: int) -> None:
        status = describe_status(returncode)
        old = worker.replaces
        if worker.stopping or self._stopping:
            logger.info("Worker [%d] stopped (%s).", worker.pid, status)
            return
        if worker.ready_at is None:  # it never accepted
            message = worker.error or f"worker [{worker.pid}] exited with {status} before it was ready"
            if old is not None:
                old.replacement = None
                old.keep = True
                self._rolling.clear()
                logger.error("%s", message)
                logger.error("The new worker could not start; worker [%d] keeps serving.", old.pid)
            elif self.config.reload:
                logger.error("%s", message)
                logger.error("Waiting for a file change to start again.")
                self._paused = True
            elif not worker.killed:
                print(f"pyre-http: error: {message}", file=sys.stderr, flush=True)
                logger.error("A worker could not start; stopping.")
                self._status = worker.error_code if worker.error else EXIT_ERROR
                self._stop_all()
            return
        if worker.replacement is not None:
            logger.warning("Worker [%d] died (%s); its replacement is starting.", worker.pid, status)
        elif worker.killed:
            logger.info("Worker [%d] is gone (%s); starting a new one.", worker.pid, status)
        else:
            logger.warning("Worker [%d] died (%s); starting a new one.", worker.pid, status)

    # -- health, recycling ------------------------------------------------

    def _check_health(self, now: float) -> None:
        timeout = self.config.timeout_worker_healthcheck
        ping_now = now >= self._next_ping
        if ping_now:
            self._next_ping = now + self._ping_interval
        max_rss = self.config.workers_max_rss
        lifetime = self.config.workers_lifetime
        for worker in list(self.workers):
            if worker.ready_at is None or worker.killed:
                continue
            if worker.ping_sent_at is not None:
                if now - worker.ping_sent_at > timeout:
                    logger.error(
                        "Worker [%d] did not answer the health check within %.1f s (its event loop is blocked); "
                        "killing it.",
                        worker.pid,
                        timeout,
                    )
                    worker.killed = True
                    _kill(worker.proc, signal.SIGKILL)
                    continue
            elif ping_now and worker.channel.fileno() != -1:
                try:
                    worker.channel.send(b"ping\n")
                    worker.ping_sent_at = now
                except OSError:
                    pass
            if worker.stopping or worker.replacement is not None or worker.keep:
                continue
            if lifetime is not None and now - worker.ready_at >= lifetime:
                self._replace(worker, f"its lifetime of {lifetime:g} s is over")
            elif max_rss is not None and ping_now:
                rss = _rss_mib(worker.pid)
                if rss is not None and rss > max_rss:
                    self._replace(worker, f"it uses {rss:.0f} MiB, above the limit of {max_rss} MiB")

    # -- reload ---------------------------------------------------------------

    def _on_changes(self, paths: list[str]) -> None:
        self._reload_changes.extend(paths)
        self._reload_at = time.monotonic() + self.config.reload_delay

    def _check_reload(self, now: float) -> None:
        if self._reload_at is None or now < self._reload_at:
            return
        self._reload_at = None
        names = sorted({os.path.relpath(p) for p in self._reload_changes})
        self._reload_changes.clear()
        logger.warning("WatchFiles detected changes in %s. Reloading...", ", ".join(repr(n) for n in names))
        self._paused = False
        for worker in self.workers:
            if not worker.stopping:
                self._stop(worker)


class Reloader:
    """watchfiles in a thread; changes reach the supervisor's selector."""

    def __init__(self, config: Config, selector: selectors.BaseSelector, on_changes: Callable[[list[str]], None]):
        try:
            import watchfiles  # type: ignore[import-not-found, unused-ignore]  # optional extra
        except ImportError:
            raise StartupError("--reload needs the watchfiles package (pip install watchfiles).") from None
        self._watchfiles = watchfiles
        self.dirs = [os.path.abspath(d) for d in (config.reload_dirs or [os.getcwd()])]
        for directory in self.dirs:
            if not os.path.isdir(directory):
                raise StartupError(f"--reload-dir {directory!r} is not a directory")
        self.filter = ReloadFilter(self.dirs, config.reload_includes, config.reload_excludes)
        self._stop = threading.Event()
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._on_changes = on_changes
        self._selector = selector
        selector.register(self._read, selectors.EVENT_READ, self._deliver)
        self._thread = threading.Thread(target=self._watch, name="pyre-http-reload", daemon=True)

    def start(self) -> None:
        logger.info("Will watch for changes in these directories: %s", self.dirs)
        self._thread.start()

    def _watch(self) -> None:
        try:
            for changes in self._watchfiles.watch(
                *self.dirs,
                watch_filter=self.filter,
                stop_event=self._stop,
                rust_timeout=500,
                yield_on_timeout=False,
                debounce=200,
                step=20,
            ):
                with self._lock:
                    self._pending.extend(path for _, path in changes)
                try:
                    self._write.send(b"!")
                except OSError:
                    return
        except Exception:
            logger.exception("The file watcher stopped")

    def _deliver(self) -> None:
        _drain(self._read)
        with self._lock:
            paths, self._pending = self._pending, []
        if paths:
            self._on_changes(paths)

    def stop(self) -> None:
        self._stop.set()
        try:
            self._selector.unregister(self._read)
        except (KeyError, ValueError):
            pass
        self._read.close()
        self._write.close()


class ReloadFilter:
    """uvicorn's rules: a file whose name matches an include pattern (default
    ``*.py``) and no exclude pattern, outside hidden and cache directories
    and any excluded directory."""

    IGNORED_DIRS = frozenset(("__pycache__", ".git", ".hg", ".svn", ".tox", ".venv", ".mypy_cache", "node_modules"))

    def __init__(self, roots: list[str], includes: list[str], excludes: list[str]) -> None:
        from .config import DEFAULT_RELOAD_EXCLUDES, DEFAULT_RELOAD_INCLUDES

        self.roots = roots
        self.includes = list(includes) or list(DEFAULT_RELOAD_INCLUDES)
        self.excludes = [*DEFAULT_RELOAD_EXCLUDES, *excludes]
        self.excluded_dirs = [os.path.abspath(e) for e in excludes if os.path.isdir(e)]

    def __call__(self, change: Any, path: str) -> bool:
        import fnmatch

        name = os.path.basename(path)
        if not any(fnmatch.fnmatch(name, pattern) for pattern in self.includes):
            return False
        if any(fnmatch.fnmatch(name, pattern) for pattern in self.excludes):
            return False
        absolute = os.path.abspath(path)
        for directory in self.excluded_dirs:
            if absolute.startswith(directory + os.sep):
                return False
        for root in self.roots:
            if absolute.startswith(root + os.sep):
                parts = os.path.relpath(absolute, root).split(os.sep)[:-1]
                if any(part in self.IGNORED_DIRS for part in parts):
                    return False
        return True


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except (BlockingIOError, OSError):
        pass


def _kill(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def _rss_mib(pid: int) -> float | None:
    """A process's resident set size in MiB (Linux /proc), None if unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _interpreter_flags() -> list[str]:
    """-X, -W and the like of this interpreter, as multiprocessing passes them."""
    try:
        return list(subprocess._args_from_interpreter_flags())  # type: ignore[attr-defined]
    except Exception:
        return []


def run_supervisor(config: Config) -> int:
    """Serve ``config`` with a supervisor and workers; return the exit status."""
    return Supervisor(config).run()
