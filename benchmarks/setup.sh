#!/usr/bin/env bash
# Creates (or refreshes) the benchmark venv .venv-bench at the repository root
# and installs pyre-http into it with the peers and tools of the `bench` extra:
#
#   benchmarks/setup.sh            create the venv if missing, (re)install pyre-http
#   BENCH_PYTHON=python3.12 benchmarks/setup.sh    choose the interpreter
#
# The interpreter defaults to the newest Python >= 3.12 that pyenv has (tasks
# start eagerly there), else python3. benchmarks/run.py calls this script by
# itself when the venv is missing; run it again after changing src/ or python/
# to rebuild the extension (maturin, release profile, about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    echo "note: wrk is missing; install it with: apt-get install wrk" >&2
fi

venv=.venv-bench
if [ ! -x "$venv/bin/python" ]; then
    python=${BENCH_PYTHON:-}
    if [ -z "$python" ] && command -v pyenv >/dev/null 2>&1; then
        newest=$(ls -d "$(pyenv root)"/versions/3.1[2-9]* 2>/dev/null | sort -V | tail -n 1 || true)
        [ -n "$newest" ] && python="$newest/bin/python3"
    fi
    python=${python:-python3}
    echo "== creating $venv with $python"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
echo "== installing pyre-http with the bench extra into $venv (builds the extension)"
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps .
"$venv/bin/python" -m pip install --quiet '.[bench,uvloop]'
"$venv/bin/python" - <<'PY'
import importlib.metadata as m
for name in ("pyre-http", "uvicorn", "granian", "hypercorn", "fastapi", "uvloop", "httptools", "matplotlib"):
    try:
        print(f"   {name} {m.version(name)}")
    except m.PackageNotFoundError:
        print(f"   {name} MISSING")
PY
