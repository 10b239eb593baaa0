#!/usr/bin/env bash
# What the default access log costs: hello with the access log on and off,
# pyre-http and uvicorn, interleaved over 3 rounds (server on CPU 1, wrk on
# CPU 0, log lines to /dev/null). Prints "NAME REQUESTS/S" per run.
#
#   benchmarks/accesslog.sh          (after benchmarks/setup.sh; needs wrk, curl)
set -u
cd "$(dirname "$0")/apps"
export PYTHONPATH=.
PY=../../.venv-bench/bin/python
run() { # name port cmd...
  local name=$1 port=$2; shift 2
  taskset -c 1 "$@" > /dev/null 2>&1 &
  local pid=$!
  for i in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
  taskset -c 0 wrk -t1 -c64 -d2s "http://127.0.0.1:$port/" > /dev/null
  local rps=$(taskset -c 0 wrk -t1 -c64 -d5s "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
  kill -INT $pid; wait $pid 2>/dev/null
  echo "$name $rps"
}
for round in 1 2 3; do
  run pyre-on 8101 $PY -m pyre_http bench_hello:app --port 8101 --loop uvloop --log-level info
  run pyre-off 8102 $PY -m pyre_http bench_hello:app --port 8102 --loop uvloop --no-access-log --log-level info
  run uvicorn-on 8103 $PY -m uvicorn bench_hello:app --port 8103 --loop uvloop --http httptools --log-level info
  run uvicorn-off 8104 $PY -m uvicorn bench_hello:app --port 8104 --loop uvloop --http httptools --no-access-log --log-level info
done
