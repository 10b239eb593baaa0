#!/usr/bin/env bash
# Autobahn|Testsuite's fuzzingclient against pyre-http serving an echo app
# (tests/apps/ws_echo.py), with the summary written to docs/autobahn/.
#
#   scripts/autobahn.sh           every case except 12.* and 13.* (compression
#                                 performance: slow, and mostly informational)
#   scripts/autobahn.sh --all     every case (12.* and 13.* take over 30 minutes)
#   AUTOBAHN_CASES='"12.1.*", "13.1.*"' scripts/autobahn.sh --all    only these
#
# Autobahn|Testsuite is Python 2 only: the first run creates .venv-autobahn
# from pyenv's 2.7 (or $AUTOBAHN_PYTHON2) with the pinned versions below.
# The server runs on $PYTHON (default: python3), which must have pyre_http
# installed (`pip install .`). Exit status: 0 when no case failed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-autobahn
python=${PYTHON:-python3}
exclude='"12.*", "13.*"'
cases=${AUTOBAHN_CASES:-'"*"'}
[ "${1:-}" = "--all" ] && exclude=''

if [ ! -x "$venv/bin/wstest" ]; then
    py2=${AUTOBAHN_PYTHON2:-}
    if [ -z "$py2" ] && command -v pyenv >/dev/null 2>&1; then
        py2=$(ls -d "$(pyenv root)"/versions/2.7* 2>/dev/null | sort -V | tail -n 1)/bin/python
    fi
    if [ -z "$py2" ] || [ ! -x "$py2" ]; then
        echo "autobahn: needs Python 2.7 (pyenv install 2.7.18, or set AUTOBAHN_PYTHON2)" >&2
        exit 2
    fi
    "$py2" -m virtualenv --version >/dev/null 2>&1 || "$py2" -m pip install --quiet 'virtualenv<20.22'
    "$py2" -m virtualenv --quiet "$venv"
    # The last releases that install and run on Python 2.7 together.
    "$venv/bin/pip" install --quiet \
        autobahntestsuite==25.10.1 autobahn==0.10.9 Twisted==19.10.0 txaio==2.1.0 \
        zope.interface==4.6.0 Automat==22.10.0 attrs==21.4.0 hyperlink==21.0.0 incremental==16.10.1 \
        constantly==15.1.0 six==1.16.0 idna==2.10 cryptography==3.3.2 pyOpenSSL==19.1.0 cffi==1.15.1 \
        pycparser==2.21 service-identity==18.1.0 pyasn1==0.5.1 pyasn1-modules==0.3.0 enum34==1.1.10 \
        ipaddress==1.0.23 klein==17.10.0 Werkzeug==1.0.1 Jinja2==2.11.3 MarkupSafe==1.1.1 \
        PyHamcrest==1.10.1 ujson==2.0.3 wsaccel==0.6.6 unittest2==1.1.0 traceback2==1.4.0 \
        linecache2==1.0.0 argparse==1.4.0 typing==3.10.0.0
fi

work=$(mktemp -d)
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" -m pyre_http ws_echo:app --app-dir tests/apps --host 127.0.0.1 --port "$port" \
    --no-access-log --log-level warning --ws-max-size 16777216 >"$work/server.log" 2>&1 &
server=$!
cleanup() {
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do
    "$python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.1
done

agent="pyre-http"
cat >"$work/spec.json" <<SPEC
{
    "outdir": "$work/reports",
    "servers": [{"agent": "$agent", "url": "ws://127.0.0.1:$port"}],
    "cases": [$cases],
    "exclude-cases": [$exclude],
    "exclude-agent-cases": {}
}
SPEC
(cd "$work" && "$OLDPWD/$venv/bin/wstest" -m fuzzingclient -s spec.json) >"$work/wstest.log" 2>&1 || {
    tail -n 30 "$work/wstest.log" >&2
    echo "autobahn: wstest failed; server log:" >&2
    tail -n 30 "$work/server.log" >&2
    exit 1
}

"$python" - "$work/reports/index.json" "$agent" "$cases" "$exclude" <<'PY'
import collections, json, os, subprocess, sys

index_path, agent, cases, exclude = sys.argv[1:]
with open(index_path) as f:
    results = json.load(f)[agent]

def case_key(case_id):
    return [int(part) for part in case_id.split(".")]

summary = {
    case_id: {k: results[case_id][k] for k in ("behavior", "behaviorClose", "remoteCloseCode", "duration")}
    for case_id in sorted(results, key=case_key)
}
os.makedirs("docs/autobahn", exist_ok=True)
with open("docs/autobahn/index.json", "w") as f:
    json.dump({agent: summary}, f, indent=1, sort_keys=False)
    f.write("\n")

counts = collections.Counter(r["behavior"] for r in summary.values())
close_counts = collections.Counter(r["behaviorClose"] for r in summary.values())
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
import pyre_http._version as v
version = v.version_line()
lines = [
    "# Autobahn|Testsuite results",
    "",
    f"`scripts/autobahn.sh` (fuzzingclient), run from checkout `{commit}` against `{version}`, serving",
    "`tests/apps/ws_echo.py` with default settings (permessage-deflate on).",
    f"Cases: {cases}; excluded: {exclude or 'none'}. Per-case results: `index.json` (the HTML reports are not kept).",
    "",
    "| behaviour | cases |",
    "|---|---|",
]
lines += [f"| {name} | {n} |" for name, n in sorted(counts.items())]
lines += ["", "| close behaviour | cases |", "|---|---|"]
lines += [f"| {name} | {n} |" for name, n in sorted(close_counts.items())]
bad = [(c, r) for c, r in summary.items() if r["behavior"] not in ("OK", "INFORMATIONAL") or r["behaviorClose"] not in ("OK", "INFORMATIONAL")]
lines += ["", "## Cases not OK", ""]
if bad:
    lines += ["| case | behaviour | close | remote close code |", "|---|---|---|---|"]
    lines += [f"| {c} | {r['behavior']} | {r['behaviorClose']} | {r['remoteCloseCode']} |" for c, r in bad]
else:
    lines.append("None.")
with open("docs/autobahn/README.md", "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(1 if counts.get("FAILED") or close_counts.get("FAILED") else 0)
PY
