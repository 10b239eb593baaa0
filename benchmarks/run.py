#!/usr/bin/env python3
"""pyre-http benchmark harness: pyre-http against uvicorn, granian and hypercorn.

    python3 benchmarks/run.py                 # everything: 3 rounds, 10 s runs
    python3 benchmarks/run.py --quick         # smoke check: 1 round, 3 s runs
    python3 benchmarks/run.py --scenarios hello,json --servers pyre-http,granian

Runs inside the venv .venv-bench (created by benchmarks/setup.sh on first use,
re-executing itself there). Each server runs alone, one worker, pinned to CPU 1;
wrk (or the idle client) is pinned to CPU 0. Rounds interleave the servers
(A B C D, A B C D, ...). See benchmarks/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv-bench"
APPS = HERE / "apps"
LUA = HERE / "lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

SERVER_CPU = 1
CLIENT_CPU = 0
NOFILE = 65536

# --------------------------------------------------------------------------
# servers and scenarios


# --workers N (default 1): every server runs N worker processes, except
# pyre-http-1, which stays one process (no supervisor) for comparison.
WORKERS = 1


def _pyre(loop, single=False):
    def argv(app, port, idle):
        cmd = [sys.executable, "-m", "pyre_http", app, "--host", "127.0.0.1",
               "--port", str(port), "--loop", loop, "--no-access-log",
               "--log-level", "warning"]
        if WORKERS > 1 and not single:
            cmd += ["--workers", str(WORKERS)]
        if idle:
            cmd += ["--timeout-keep-alive", "600"]
        return cmd
    return argv


def _uvicorn(app, port, idle):
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1",
           "--port", str(port), "--http", "httptools", "--loop", "uvloop",
           "--no-access-log", "--log-level", "warning"]
    if WORKERS > 1:
        cmd += ["--workers", str(WORKERS)]
    if idle:
        cmd += ["--timeout-keep-alive", "600"]
    return cmd


def _granian(app, port, idle):
    # granian has no idle keep-alive timeout setting for HTTP/1; the header
    # read timeout is the closest bound, raised to its maximum for idle.
    cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "--loop",
           "uvloop", "--workers", str(WORKERS), "--http", "1", "--host", "127.0.0.1",
           "--port", str(port), "--no-access-log", "--log-level", "warning"]
    if idle:
        # --backpressure (default backlog/workers = 1024) caps the connections
        # granian serves at once; raise it so that it can hold them all.
        cmd += ["--http1-header-read-timeout", "60000", "--backpressure", "65536",
                "--backlog", "4096"]
    return cmd + [app]


def _hypercorn(app, port, idle):
    cmd = [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}",
           "--worker-class", "uvloop", "--workers", str(WORKERS), "--log-level", "warning"]
    if idle:
        cmd += ["--keep-alive", "600"]
    return cmd + [app]


# The floor: a Rust-only hello responder (benchmarks/floor), built on demand
# with cargo. It answers every request with bench_hello's response, whatever
# the scenario's app.
FLOOR_DIR = HERE / "floor"
FLOOR_BIN = FLOOR_DIR / "target" / "release" / "pyre-floor"


def _floor(app, port, idle):
    return [str(FLOOR_BIN), "--host", "127.0.0.1", "--port", str(port)]


# --base-python PATH: the interpreter of another pyre-http build (e.g. a venv
# made from an older commit), run as the server `pyre-base`.
BASE_PYTHON = None


def _pyre_base(app, port, idle):
    cmd = _pyre("uvloop")(app, port, idle)
    return [BASE_PYTHON or sys.executable] + cmd[1:]


# name -> (argv builder, python modules the command needs, packages whose
# versions are reported)
SERVERS = {
    "pyre-http": (_pyre("uvloop"), ["pyre_http", "uvloop"], ["pyre-http", "uvloop"]),
    "pyre-asyncio": (_pyre("asyncio"), ["pyre_http"], ["pyre-http"]),
    "pyre-http-1": (_pyre("uvloop", single=True), ["pyre_http", "uvloop"], ["pyre-http", "uvloop"]),
    "uvicorn": (_uvicorn, ["uvicorn", "httptools", "uvloop"], ["uvicorn", "httptools", "uvloop"]),
    "granian": (_granian, ["granian", "uvloop"], ["granian", "uvloop"]),
    "hypercorn": (_hypercorn, ["hypercorn", "uvloop"], ["hypercorn", "uvloop"]),
    "floor": (_floor, [], []),
    "pyre-base": (_pyre_base, [], []),
}
DEFAULT_SERVERS = ["pyre-http", "uvicorn", "granian", "hypercorn"]
PYRE = ["pyre-http", "pyre-asyncio"]

# TLS scenarios: each server's flags for a certificate and its key (PKCS#8,
# which granian requires), made once per run with openssl.
_TLS_FILES: list[str] = []


def tls_files() -> tuple[str, str]:
    if not _TLS_FILES:
        directory = Path(os.environ.get("TMPDIR", "/tmp")) / f"pyre-bench-tls-{os.getpid()}"
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
            check=True, capture_output=True)
        _TLS_FILES.extend([cert, key])
    return _TLS_FILES[0], _TLS_FILES[1]


def tls_flags(name: str) -> list[str]:
    cert, key = tls_files()
    if name.startswith("granian"):
        return ["--ssl-certificate", cert, "--ssl-keyfile", key]
    if name.startswith("hypercorn"):
        return ["--certfile", cert, "--keyfile", key]
    return ["--ssl-certfile", cert, "--ssl-keyfile", key]  # pyre-http and uvicorn


# name -> app, wrk Lua script, connections, kind; `also` adds servers to the
# default set for this scenario only; `tls` serves HTTPS.
SCENARIOS = {
    "hello": dict(app="bench_hello:app", lua="get.lua", conns=None, also=["pyre-asyncio", "floor"]),
    "json": dict(app="bench_json:app", lua="get.lua", conns=None),
    "get-10k": dict(app="bench_get10k:app", lua="get.lua", conns=None),
    "echo-10k": dict(app="bench_echo:app", lua="echo.lua", conns=None),
    "stream": dict(app="bench_stream:app", lua="get.lua", conns=None),
    # wrk's latency percentiles are wrong with pipelining (see README): none.
    "pipelined": dict(app="bench_hello:app", lua="pipelined.lua", conns=None, latency=False),
    "sleep": dict(app="bench_sleep:app", lua="get.lua", conns=512),
    "fastapi": dict(app="bench_fastapi:app", lua="get.lua", conns=None, modules=["fastapi"]),
    # Starlette's FileResponse: pathsend where the server offers it.
    "file-50k": dict(app="bench_file:app_50k", lua="get.lua", conns=None, modules=["starlette"]),
    "file-10m": dict(app="bench_file:app_10m", lua="get.lua", conns=16, modules=["starlette"]),
    "idle": dict(app="bench_hello:app", kind="idle"),
    # HTTPS: keep-alive, and a new connection (a full handshake) per request.
    "tls-hello": dict(app="bench_hello:app", lua="get.lua", conns=None, tls=True),
    "tls-hello-close": dict(app="bench_hello:app", lua="close.lua", conns=None, tls=True),
    # wrk cannot speak WebSocket: benchmarks/ws_client.py is the load, and
    # "requests" are echoed messages (latency: a window of 8 round trips).
    "ws-echo": dict(app="bench_ws_echo:app", kind="ws", conns=None),
}

# --------------------------------------------------------------------------
# process bookkeeping: every child runs in its own process group and is
# killed (group and all descendants) when its run ends and again at exit.

_LIVE: dict[int, subprocess.Popen] = {}


def spawn(argv, **kw) -> subprocess.Popen:
    proc = subprocess.Popen(argv, start_new_session=True, **kw)
    _LIVE[proc.pid] = proc
    return proc


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGINT the group, then SIGTERM, then SIGKILL; also any descendant that
    left the group. Always reaps the process."""
    descendants = tree_pids(proc.pid) if proc.poll() is None else []
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None and not _group_alive(proc.pid):
            break
        _signal_group(proc.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(proc.pid):
                break
            time.sleep(0.05)
    for pid in descendants:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    _LIVE.pop(proc.pid, None)


def stop_all() -> None:
    for proc in list(_LIVE.values()):
        stop(proc, grace=2.0)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _group_alive(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat and stat[2] == pgid and stat[0] != "Z":
                return True
    return False


def _stat(pid: int):
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return [fields[0]] + [int(x) for x in fields[1:]]


def tree_pids(root: int) -> list[int]:
    """root and all its descendants, from the ppid field of /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat:
                children.setdefault(stat[1], []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_seconds(root: int) -> float:
    """utime + stime + cutime + cstime summed over the process tree (the
    c-fields carry the time of children already reaped, so a worker that
    exits between two samples is not lost)."""
    ticks = 0
    for pid in tree_pids(root):
        stat = _stat(pid)
        if stat:
            # stat[0] is field 3 (state); utime..cstime are fields 14..17
            ticks += sum(stat[11:15])
    return ticks / CLK_TCK


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tree_kib(root: int, key: str) -> int:
    """Sum of VmRSS or VmHWM (KiB) over the process tree."""
    return sum(_status_kib(pid, key) for pid in tree_pids(root))


# --------------------------------------------------------------------------
# one server run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(port: int, tls: bool = False) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as raw:
            s = raw
            if tls:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s = ctx.wrap_socket(raw)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.")
    except OSError:
        return False


def tail(path: Path, n: int = 6) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return " | ".join(lines[-n:])[-600:]


class Server:
    """One server process. `app` overrides the scenario's app (soak.py runs
    its own app under the scenario name "soak", which is not in SCENARIOS)."""

    def __init__(self, name, scenario, log: Path, pin: bool, app: str | None = None):
        self.name, self.scenario, self.log = name, scenario, log
        self.port = free_port()
        builder = SERVERS[name][0]
        spec = SCENARIOS.get(scenario, {})
        app = app or spec["app"]
        argv = builder(app, self.port, spec.get("kind") == "idle")
        self.tls = bool(spec.get("tls"))
        if self.tls:
            # Before the app where it comes last (granian, hypercorn).
            at = len(argv) - 1 if argv[-1] == app else len(argv)
            argv[at:at] = tls_flags(name)
        if pin and WORKERS == 1:  # several workers get every CPU (the client's too)
            argv = ["taskset", "-c", str(SERVER_CPU)] + argv
        self.argv = argv
        self.proc = None

    def start(self, timeout: float = 40.0) -> str | None:
        """None when serving, else why not."""
        env = dict(os.environ, PYTHONPATH=str(APPS), PYTHONUNBUFFERED="1")
        with open(self.log, "w") as f:
            f.write("$ " + " ".join(self.argv) + "\n")
            f.flush()
            self.proc = spawn(self.argv, cwd=APPS, env=env, stdin=subprocess.DEVNULL,
                              stdout=f, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with {self.proc.returncode} before serving: {tail(self.log)}"
            if probe(self.port, self.tls):
                return None
            time.sleep(0.1)
        return f"not serving after {timeout:.0f} s: {tail(self.log)}"

    def died(self) -> str:
        rc = self.proc.returncode if self.proc is not None else None
        how = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
        return f"{how}; log: {tail(self.log)}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


def run_load(argv: list[str], seconds, pin, what: str) -> dict:
    """Runs a load generator pinned to the client CPU and returns the summary
    it prints as `BENCH_JSON {...}` (wrk through report.lua, or ws_client.py)."""
    if pin:
        argv = ["taskset", "-c", str(CLIENT_CPU)] + argv
    proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise RuntimeError(f"{what} did not finish")
    _LIVE.pop(proc.pid, None)
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"{what} exited {proc.returncode} without a summary: {out.strip()[-400:]}")


def run_wrk(port, lua_script: Path, conns, seconds, pin, tls=False) -> dict:
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-s", str(lua_script),
            f"{'https' if tls else 'http'}://127.0.0.1:{port}/"]
    return run_load(argv, seconds, pin, "wrk")


def run_ws_client(port, conns, seconds, pin) -> dict:
    """The ws-echo load; returns a summary shaped like run_wrk's."""
    argv = [sys.executable, str(HERE / "ws_client.py"), "--port", str(port),
            "--connections", str(conns), "--seconds", str(seconds)]
    return run_load(argv, seconds, pin, "the WebSocket client")


def wrk_run(name, scenario, args, tmp: Path, tag: str) -> dict:
    spec = SCENARIOS[scenario]
    conns = spec["conns"] or args.connections
    if spec.get("kind") == "ws":
        def load(seconds):
            return run_ws_client(server.port, conns, seconds, args.pin)
    else:
        script = tmp / f"{Path(spec['lua']).stem}.lua"

        def load(seconds):
            return run_wrk(server.port, script, conns, seconds, args.pin, server.tls)
    server = Server(name, scenario, tmp / f"{tag}.log", args.pin)
    result: dict = {"server": name, "scenario": scenario, "log": str(server.log)}
    try:
        why = server.start()
        if why:
            return dict(result, status="failed to start", detail=why)
        if args.warmup > 0:
            load(args.warmup)
            if not server.alive():
                return dict(result, status="crashed", detail=f"during warm-up, {server.died()}")
        cpu0 = tree_cpu_seconds(server.proc.pid)
        wrk = load(args.duration)
        cpu1 = tree_cpu_seconds(server.proc.pid)
        hwm = tree_kib(server.proc.pid, "VmHWM")
        if not server.alive():
            return dict(result, status="crashed", detail=f"during the run, {server.died()}", wrk=wrk)
        requests = wrk["requests"]
        seconds = wrk["duration_us"] / 1e6
        e = wrk["errors"]
        socket_errors = e["connect"] + e["read"] + e["write"] + e["timeout"]
        lat = wrk["latency_us"] if spec.get("latency", True) else {"p50": None, "p99": None}
        return dict(
            result,
            status="ok",
            connections=conns,
            requests=requests,
            seconds=seconds,
            rps=requests / seconds if seconds else 0.0,
            mib_per_s=wrk["bytes"] / seconds / 2**20 if seconds else 0.0,
            p50_ms=None if lat["p50"] is None else lat["p50"] / 1000,
            p99_ms=None if lat["p99"] is None else lat["p99"] / 1000,
            cpu_us_per_req=(cpu1 - cpu0) / requests * 1e6 if requests else None,
            cpu_seconds=cpu1 - cpu0,
            peak_rss_mib=hwm / 1024,
            errors=socket_errors + e["status"],
            error_detail=dict(e),
            wrk=wrk,
        )
    except RuntimeError as exc:
        status = "crashed" if not server.alive() else "wrk failed"
        return dict(result, status=status, detail=f"{exc} {tail(server.log)}")
    finally:
        server.stop()


def idle_run(name, scenario, args, tmp: Path, tag: str) -> dict:
    server = Server(name, scenario, tmp / f"{tag}.log", args.pin)
    result: dict = {"server": name, "scenario": scenario, "log": str(server.log)}
    client = None
    try:
        why = server.start()
        if why:
            return dict(result, status="failed to start", detail=why)
        time.sleep(0.5)
        before = tree_kib(server.proc.pid, "VmRSS")
        argv = [sys.executable, str(HERE / "idle_client.py"), "--port", str(server.port),
                "--connections", str(args.idle_connections)]
        if args.pin:
            argv = ["taskset", "-c", str(CLIENT_CPU)] + argv
        client = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
        ready = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = client.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                ready = json.loads(line[6:])
                break
        if ready is None:
            err = client.stderr.read()[-400:] if client.poll() is not None else ""
            status = "crashed" if not server.alive() else "client failed"
            return dict(result, status=status, detail=f"idle client: {err} {tail(server.log)}")
        time.sleep(1.0)
        samples = []
        for _ in range(3):
            samples.append(tree_kib(server.proc.pid, "VmRSS"))
            time.sleep(0.2)
        with_conns = max(samples)
        alive = server.alive()
        client.stdin.write("done\n")
        client.stdin.flush()
        done = {}
        for line in client.stdout:
            if line.startswith("DONE "):
                done = json.loads(line[5:])
                break
        if not alive:
            return dict(result, status="crashed", detail=f"with connections open, {server.died()}")
        opened = ready["opened"]
        closed = max(ready["closed_by_server"], done.get("closed_by_server", 0))
        held = opened - closed
        return dict(
            result,
            status="ok",
            connections=args.idle_connections,
            opened=opened,
            held=held,
            failed=ready["failed"],
            failures=ready["failures"],
            closed_by_server=closed,
            open_seconds=ready["open_seconds"],
            rss_before_mib=before / 1024,
            rss_with_mib=with_conns / 1024,
            kib_per_conn=(with_conns - before) / held if held > 0 else None,
            errors=ready["failed"] + closed,
        )
    finally:
        if client is not None:
            stop(client, grace=10.0)
        server.stop()


# --------------------------------------------------------------------------
# aggregation and output


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs: list[dict], scenarios, servers_for) -> dict:
    summary: dict = {}
    for scenario in scenarios:
        idle = SCENARIOS[scenario].get("kind") == "idle"
        summary[scenario] = {}
        for server in servers_for[scenario]:
            mine = [r for r in runs if r["scenario"] == scenario and r["server"] == server]
            ok = [r for r in mine if r["status"] == "ok"]
            bad = [r for r in mine if r["status"] != "ok"]
            row = {"rounds": len(mine), "rounds_ok": len(ok),
                   "status": "ok" if not bad else f"{bad[0]['status']} ({len(bad)}/{len(mine)})",
                   "detail": bad[0].get("detail") if bad else None}
            keys = (["kib_per_conn", "rss_before_mib", "rss_with_mib", "opened", "held", "open_seconds"]
                    if idle else
                    ["rps", "p50_ms", "p99_ms", "cpu_us_per_req", "peak_rss_mib", "mib_per_s"])
            for key in keys:
                row[key] = median([r.get(key) for r in ok])
            row["errors"] = sum(r.get("errors", 0) for r in ok)
            summary[scenario][server] = row
        # pyre's ratio to each peer, round by round, then the median
        ratios: dict = {}
        for mine in PYRE:
            for peer in servers_for[scenario]:
                if mine not in servers_for[scenario] or peer in PYRE:
                    continue
                per_round = []
                for rnd in sorted({r["round"] for r in runs}):
                    a = _find(runs, rnd, scenario, mine)
                    b = _find(runs, rnd, scenario, peer)
                    if a and b:
                        if idle:
                            if a.get("kib_per_conn") and b.get("kib_per_conn"):
                                per_round.append({"memory": b["kib_per_conn"] / a["kib_per_conn"]})
                        elif a["rps"] and b["rps"] and a["cpu_us_per_req"] and b["cpu_us_per_req"]:
                            per_round.append({"rps": a["rps"] / b["rps"],
                                              "cpu": b["cpu_us_per_req"] / a["cpu_us_per_req"]})
                if per_round:
                    ratios.setdefault(mine, {})[peer] = {
                        key: median([p[key] for p in per_round]) for key in per_round[0]
                    } | {"rounds": len(per_round), "per_round": per_round}
        summary[scenario]["_ratios"] = ratios
        # every server's CPU per request over the floor's, round by round
        floor: dict = {}
        if "floor" in servers_for[scenario] and not idle:
            for server in servers_for[scenario]:
                if server == "floor":
                    continue
                per_round = []
                for rnd in sorted({r["round"] for r in runs}):
                    a = _find(runs, rnd, scenario, server)
                    b = _find(runs, rnd, scenario, "floor")
                    if a and b and a["cpu_us_per_req"] and b["cpu_us_per_req"]:
                        per_round.append(a["cpu_us_per_req"] / b["cpu_us_per_req"])
                if per_round:
                    floor[server] = {"cpu": median(per_round), "rounds": len(per_round),
                                     "per_round": per_round}
        summary[scenario]["_floor"] = floor
    return summary


def _find(runs, rnd, scenario, server):
    for r in runs:
        if r["round"] == rnd and r["scenario"] == scenario and r["server"] == server and r["status"] == "ok":
            return r
    return None


def fmt(value, spec=".1f"):
    return "—" if value is None else format(value, spec)


def markdown(meta: dict, summary: dict, scenarios, servers_for) -> str:
    out = [f"# pyre-http benchmark, {meta['date']}", ""]
    out.append(f"- machine: {meta['cpu_model']}, {meta['cores']} cores, Linux {meta['kernel']}")
    out.append(f"- Python {meta['python']}; " + ", ".join(f"{k} {v}" for k, v in meta["packages"].items()))
    out.append(f"- {meta['wrk']}; -t1 -c{meta['connections']} (sleep: -c512), "
               f"{meta['duration']} s runs after {meta['warmup']} s warm-up, {meta['rounds']} round(s), "
               f"servers pinned to CPU {SERVER_CPU}, client to CPU {CLIENT_CPU}: "
               f"{'yes' if meta['pinned'] else 'no'}")
    workers = meta.get("workers", 1)
    if workers > 1:
        out.append(f"- {workers} worker processes per server (pyre-http-1: one process, no supervisor); "
                   "the servers are not pinned, so their workers share the cores with the load generator")
    out.append(f"- git {meta['git']}")
    out.append("")
    out.append("Medians over rounds; errors are summed over rounds (socket errors + HTTP status >= 400).")
    out.append("")
    load = [s for s in scenarios if SCENARIOS[s].get("kind") != "idle"]
    if load:
        out.append("| scenario | server | requests/s | p50 ms | p99 ms | CPU µs/req | peak RSS MiB | errors | status |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---|")
        for scenario in load:
            for server in servers_for[scenario]:
                row = summary[scenario][server]
                out.append(f"| {scenario} | {server} | {fmt(row['rps'], ',.0f')} | {fmt(row['p50_ms'], '.2f')} | "
                           f"{fmt(row['p99_ms'], '.2f')} | {fmt(row['cpu_us_per_req'])} | "
                           f"{fmt(row['peak_rss_mib'])} | {row['errors']} | {row['status']} |")
        out.append("")
    if "idle" in scenarios:
        out.append(f"Idle: {meta['idle_connections']} keep-alive connections after one request each; "
                   "KiB/conn = (RSS with them open − RSS before) / connections held.")
        out.append("")
        out.append("| server | KiB/conn | RSS before MiB | RSS with MiB | held | open s | errors | status |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---|")
        for server in servers_for["idle"]:
            row = summary["idle"][server]
            out.append(f"| {server} | {fmt(row['kib_per_conn'], '.2f')} | {fmt(row['rss_before_mib'])} | "
                       f"{fmt(row['rss_with_mib'])} | {fmt(row['held'], '.0f')} | {fmt(row['open_seconds'], '.2f')} | "
                       f"{row['errors']} | {row['status']} |")
        out.append("")
    floor_lines = []
    for scenario in scenarios:
        for server, r in summary[scenario].get("_floor", {}).items():
            row = summary[scenario][server]
            floor_lines.append(f"| {scenario} | {server} | {fmt(row['rps'], ',.0f')} | "
                               f"{fmt(row['cpu_us_per_req'])} | {r['cpu']:.2f}× |")
    if floor_lines:
        out.append("CPU per request against the floor (benchmarks/floor: Rust only, pyre-http's parser and "
                   "encoder, no Python, always the hello response): server CPU µs/req / floor CPU µs/req "
                   "in the same round, median over rounds (lower is better; 1.00× is the floor).")
        out.append("")
        out.append("| scenario | server | requests/s | CPU µs/req | CPU vs floor |")
        out.append("|---|---|---:|---:|---:|")
        out.extend(floor_lines)
        out.append("")
    peers = [p for p in SERVERS if p not in PYRE]
    lines = []
    for scenario in scenarios:
        for mine, vs in summary[scenario]["_ratios"].items():
            cells = []
            for peer in peers:
                r = vs.get(peer)
                if not r:
                    cells.append("—")
                elif "memory" in r:
                    cells.append(f"{r['memory']:.2f}× less memory")
                else:
                    cells.append(f"{r['rps']:.2f}× rps, {r['cpu']:.2f}× less CPU")
            lines.append(f"| {scenario} | {mine} | " + " | ".join(cells) + " |")
    if lines:
        out.append("pyre-http against each peer: the ratio is taken in every round, then the median over rounds "
                   "(rps: pyre / peer; CPU and memory: peer / pyre, so > 1 is better for pyre-http).")
        out.append("")
        out.append("| scenario | pyre | " + " | ".join(f"vs {p}" for p in peers) + " |")
        out.append("|---|---|" + "---|" * len(peers))
        out.extend(lines)
        out.append("")
    failures = [(s, srv, summary[s][srv]["detail"]) for s in scenarios for srv in servers_for[s]
                if summary[s][srv]["detail"]]
    if failures:
        out.append("Failures:")
        out.append("")
        for s, srv, detail in failures:
            out.append(f"- {s} / {srv}: {detail}")
        out.append("")
    return "\n".join(out)


COLORS = {"pyre-http": "#d9480f", "pyre-asyncio": "#f59f00", "uvicorn": "#1c7ed6",
          "granian": "#2b8a3e", "hypercorn": "#7048e8", "floor": "#495057", "pyre-base": "#ffa8a8"}


def chart(path: Path, meta, runs, summary, scenarios, servers_for) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(scenarios)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, scenario in zip(axes.flat, scenarios):
        idle = SCENARIOS[scenario].get("kind") == "idle"
        key = "kib_per_conn" if idle else "rps"
        names = servers_for[scenario]
        values, lows, highs = [], [], []
        for server in names:
            med = summary[scenario][server][key]
            vals = [r[key] for r in runs if r["scenario"] == scenario and r["server"] == server
                    and r["status"] == "ok" and r.get(key) is not None]
            values.append(med or 0)
            lows.append((med - min(vals)) if vals else 0)
            highs.append((max(vals) - med) if vals else 0)
        bars = ax.bar(range(len(names)), values, color=[COLORS.get(s, "grey") for s in names],
                      yerr=[lows, highs], capsize=3)
        for bar, server, value in zip(bars, names, values):
            label = "failed" if summary[scenario][server]["rounds_ok"] == 0 else (
                f"{value:.1f}" if idle else f"{value / 1000:.1f}k")
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        ax.set_title(f"{scenario}: " + ("server KiB per idle connection (lower is better)" if idle
                                        else "requests/s (higher is better)"), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.margins(y=0.15)
    fig.suptitle(f"pyre-http benchmark {meta['date']} — {meta['cpu_model']}, {meta['cores']} cores, "
                 f"Python {meta['python']}, {meta['rounds']} round(s) × {meta['duration']} s "
                 "(bars: median, whiskers: min–max)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_meta(args, servers) -> dict:
    return dict(machine_info(servers), **{
        "rounds": args.rounds,
        "duration": args.duration,
        "warmup": args.warmup,
        "connections": args.connections,
        "idle_connections": args.idle_connections,
        "pinned": args.pin,
        "workers": args.workers,
    })


def machine_info(servers) -> dict:
    """Date, machine, Python, package versions, wrk and git commit (also used by soak.py)."""
    cpu_model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = {}
    wanted = ["pyre-http"] + [p for s in servers for p in SERVERS[s][2]] + ["fastapi", "starlette", "matplotlib"]
    for name in dict.fromkeys(wanted):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = "not installed"
    try:
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0].split(" Copyright")[0].strip()
    except (OSError, IndexError):
        wrk = "wrk ?"
    try:
        git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        git = "?"
    return {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "packages": packages,
        "wrk": wrk,
        "git": git,
    }


# --------------------------------------------------------------------------
# main


def ensure_venv(argv: list[str], setup: bool, script: str = __file__) -> None:
    """Re-execute `script` inside .venv-bench, creating the venv first if needed."""
    inside = Path(sys.prefix).resolve() == VENV.resolve()
    if setup or not (VENV / "bin" / "python").exists():
        print("== running benchmarks/setup.sh", flush=True)
        subprocess.run(["bash", str(HERE / "setup.sh")], check=True)
    if not inside:
        python = str(VENV / "bin" / "python")
        os.execv(python, [python, str(Path(script).resolve())] + argv)


def build_floor() -> str | None:
    """Builds benchmarks/floor (release) with cargo; None when the binary is
    ready, else why not. A no-op when it is up to date."""
    cargo = shutil.which("cargo")
    if cargo is None:
        return "not built: cargo is missing"
    print("== cargo build --release in benchmarks/floor", flush=True)
    done = subprocess.run([cargo, "build", "--release", "--quiet", "--manifest-path",
                           str(FLOOR_DIR / "Cargo.toml")], capture_output=True, text=True)
    if done.returncode != 0 or not FLOOR_BIN.exists():
        return "not built: " + (done.stderr.strip().splitlines() or ["cargo failed"])[-1]
    return None


def raise_nofile() -> None:
    """Raises RLIMIT_NOFILE to NOFILE when allowed, else to the hard limit;
    servers (children of this process) and clients inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in ((NOFILE, max(hard, NOFILE)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            return
        except (ValueError, OSError):
            continue


def parse_args(argv):
    p = argparse.ArgumentParser(description="pyre-http benchmark harness (see benchmarks/README.md)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma-separated, from: {', '.join(SCENARIOS)} (default: all)")
    p.add_argument("--servers", default=None,
                   help=f"comma-separated, from: {', '.join(SERVERS)} (default: {', '.join(DEFAULT_SERVERS)}, "
                        "plus pyre-asyncio for hello)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=10, help="seconds per measured wrk run (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="seconds of wrk before each measured run (default 2)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (sleep always uses 512)")
    p.add_argument("--idle-connections", type=int, default=10000)
    p.add_argument("--quick", action="store_true", help="smoke check: 1 round, 3 s runs, 1 s warm-up")
    p.add_argument("--out", type=Path, default=HERE / "results", help="output directory")
    p.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin with taskset")
    p.add_argument("--setup", action="store_true", help="run benchmarks/setup.sh first (rebuilds pyre-http)")
    p.add_argument("--no-venv", action="store_true", help="use this interpreter, not .venv-bench")
    p.add_argument("--base-python", default=None,
                   help="interpreter of another pyre-http install, run as the server pyre-base "
                        "(e.g. a venv of an older commit, to compare builds in one run)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes per server (pyre-http-1 stays one process); above 1 the servers "
                        "are not pinned (default 1)")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 3, 1
    return args


def main(argv: list[str]) -> int:
    global WORKERS, BASE_PYTHON
    args = parse_args(argv)
    WORKERS = max(1, args.workers)
    BASE_PYTHON = args.base_python
    if shutil.which("wrk") is None:
        print("error: wrk is missing. Install it with: apt-get install wrk", file=sys.stderr)
        return 2
    if not args.no_venv:
        ensure_venv(argv, args.setup)
    if args.pin and (shutil.which("taskset") is None or os.cpu_count() < 2):
        print("warning: taskset missing or fewer than 2 CPUs; running unpinned", file=sys.stderr)
        args.pin = False

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in scenarios:
        if s not in SCENARIOS:
            print(f"error: unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}", file=sys.stderr)
            return 2
    explicit = [s.strip() for s in args.servers.split(",")] if args.servers else None
    for s in explicit or []:
        if s not in SERVERS:
            print(f"error: unknown server {s!r}; choose from {', '.join(SERVERS)}", file=sys.stderr)
            return 2
    servers_for = {}
    for s in scenarios:
        names = explicit or DEFAULT_SERVERS + [x for x in SCENARIOS[s].get("also", [])]
        servers_for[s] = [x for x in SERVERS if x in names]  # stable order
    all_servers = list(dict.fromkeys(x for s in scenarios for x in servers_for[s]))

    raise_nofile()

    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "tmp" / stamp
    tmp.mkdir(parents=True, exist_ok=True)
    report = (LUA / "report.lua").read_text()
    for lua in LUA.glob("*.lua"):
        if lua.name != "report.lua":
            (tmp / lua.name).write_text(lua.read_text() + "\n" + report)

    meta = machine_meta(args, all_servers)
    print(f"== {meta['cpu_model']}, {meta['cores']} cores, Python {meta['python']}; "
          f"{args.rounds} round(s) × {args.duration} s; logs in {tmp}", flush=True)

    missing = {}
    for server in all_servers:
        need = SERVERS[server][1]
        gone = [m for m in need if importlib.util.find_spec(m) is None]
        if gone:
            missing[server] = "not installed: " + ", ".join(gone)
    if "floor" in all_servers:
        why = build_floor()
        if why:
            missing["floor"] = why
    if "pyre-base" in all_servers and not BASE_PYTHON:
        missing["pyre-base"] = "no --base-python given"

    runs: list[dict] = []

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    interrupted = False
    try:
        for rnd in range(1, args.rounds + 1):
            for scenario in scenarios:
                for server in servers_for[scenario]:
                    tag = f"r{rnd}-{scenario}-{server}"
                    spec = SCENARIOS[scenario]
                    gone = missing.get(server) or next(
                        (f"not installed: {m}" for m in spec.get("modules", [])
                         if importlib.util.find_spec(m) is None), None)
                    if gone:
                        result = {"server": server, "scenario": scenario, "status": "not installed",
                                  "detail": gone}
                    elif spec.get("kind") == "idle":
                        result = idle_run(server, scenario, args, tmp, tag)
                    else:
                        result = wrk_run(server, scenario, args, tmp, tag)
                    result["round"] = rnd
                    runs.append(result)
                    print(f"round {rnd} {scenario:10} {server:13} " + line_for(result), flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted; writing what was measured", file=sys.stderr)
    finally:
        stop_all()

    if not runs:
        return 1
    summary = summarize(runs, scenarios, servers_for)
    base = args.out / f"bench-{stamp}"
    text = markdown(meta, summary, scenarios, servers_for)
    base.with_suffix(".md").write_text(text + "\n")
    base.with_suffix(".json").write_text(json.dumps(
        {"meta": meta, "scenarios": scenarios, "servers": servers_for, "summary": summary, "runs": runs},
        indent=1) + "\n")
    try:
        chart(base.with_suffix(".png"), meta, runs, summary, scenarios, servers_for)
    except Exception as exc:  # a chart problem must not lose the numbers
        print(f"warning: no chart: {exc!r}", file=sys.stderr)
    print()
    print(text)
    print(f"wrote {base}.md, .json, .png")
    return 130 if interrupted else 0


def line_for(r: dict) -> str:
    if r["status"] != "ok":
        return f"{r['status'].upper()}: {r.get('detail', '')}"[:300]
    if "kib_per_conn" in r:
        return (f"{fmt(r['kib_per_conn'], '.2f')} KiB/conn  held {r['held']}/{r['connections']}  "
                f"rss {r['rss_before_mib']:.1f} -> {r['rss_with_mib']:.1f} MiB  opened in {r['open_seconds']} s")
    return (f"{r['rps']:>10,.0f} req/s  p50 {fmt(r['p50_ms'], '.2f')} ms  p99 {fmt(r['p99_ms'], '.2f')} ms  "
            f"cpu {fmt(r['cpu_us_per_req'])} µs/req  hwm {r['peak_rss_mib']:.1f} MiB  errors {r['errors']}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
