#!/usr/bin/env bash
# A first side-by-side: hello world under wrk against pyre-http, uvicorn
# (httptools + uvloop) and granian (ASGI, uvloop), one worker each, servers
# pinned to CPU 1 and wrk to CPU 0, interleaved for ROUNDS rounds.
#
#   PYRE_PY=/path/to/python-with-pyre  PEERS_PY=/path/to/python-with-uvicorn-and-granian \
#     benchmarks/quick_hello.sh [ROUNDS] [SECONDS]
#
# The full harness (more scenarios, CPU per request, charts) is issue 3.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-10}
pyre_py=${PYRE_PY:-python3}
peers_py=${PEERS_PY:-python3}
port=8765
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

start() {
    case $1 in
        pyre) taskset -c 1 "$pyre_py" -m pyre_http examples.hello:app --port $port --loop uvloop --no-access-log --log-level warning & ;;
        uvicorn) taskset -c 1 "$peers_py" -m uvicorn examples.hello:app --port $port --loop uvloop --http httptools --no-access-log --log-level warning & ;;
        granian) taskset -c 1 "$peers_py" -m granian --interface asgi --loop uvloop --workers 1 --port $port --log-level warning examples.hello:app & ;;
    esac
    server_pid=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$1 did not start" >&2
    return 1
}

for round in $(seq "$rounds"); do
    for server in pyre uvicorn granian; do
        start $server
        rps=$(taskset -c 0 wrk -t1 -c64 -d"${seconds}s" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
        echo "round $round $server $rps"
        kill -INT $server_pid; wait $server_pid 2>/dev/null || true
        sleep 0.5
    done
done
