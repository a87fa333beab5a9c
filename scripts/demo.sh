#!/usr/bin/env bash
# `make demo`: start waypost (SQLite + local processes) in the foreground, deploy
# examples/flask-hello, print its URLs and one answer. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
export WAYPOST_HOME=${WAYPOST_HOME:-$PWD/.waypost}
export WAYPOST_API_URL=${WAYPOST_API_URL:-http://127.0.0.1:8081}
wp=.venv/bin/waypost

"$wp" up --home "$WAYPOST_HOME" &
up_pid=$!
trap 'kill -TERM "$up_pid" 2>/dev/null; wait "$up_pid"' INT TERM

for _ in $(seq 1 100); do
  if .venv/bin/python - "$WAYPOST_API_URL" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/api/v1/health", timeout=1)
PY
  if ! kill -0 "$up_pid" 2>/dev/null; then echo "waypost up exited" >&2; exit 1; fi
  sleep 0.2
done

"$wp" deploy examples/flask-hello
echo
echo "Try it:"
echo "  curl 'http://127.0.0.1:8080/acme/hello/flask-hello/latest/web/predict?name=Ada'"
echo "  curl 'http://127.0.0.1:8080/acme/hello/flask-hello/latest/web/'"
echo "  WAYPOST_HOME=$WAYPOST_HOME $wp status"
echo "Ctrl-C stops waypost and every replica it started."
wait "$up_pid"
