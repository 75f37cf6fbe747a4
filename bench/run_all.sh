#!/usr/bin/env bash
# The scenarios of docs/benchmarks.md, one after another (about 20 minutes on a 2-core machine).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results}
mkdir -p "$out"
run() { local name=$1; shift; echo "== $name" >&2; .venv/bin/python bench/stream_load.py "$@" 2>/dev/null > "$out/$name.json"; }
for server in uvicorn daphne; do
  run "$server-idle-5000" --server $server --readers 5000 --rate 0 --seconds 5
  run "$server-1000x10" --server $server --readers 1000 --rate 10 --seconds 30
  run "$server-5000x2" --server $server --readers 5000 --rate 2 --seconds 30
done
run "uvicorn-history-1M" --server uvicorn --seed-messages 1000000 --probe 200 --readers 0
run "daphne-history-1M" --server daphne --seed-messages 1000000 --probe 200 --readers 0
# POST throughput and latency (docs/benchmarks.md, issue 9); needs wrk, PostgreSQL and Redis.
post() { local name=$1; shift; echo "== $name" >&2; .venv/bin/python bench/post_load.py "$@" 2>/dev/null > "$out/$name.json"; }
post post-sqlite-1 --db sqlite --processes 1 --seconds 15 --rate 200
post post-postgres-1 --db postgres --processes 1 --seconds 15 --rate 200
post post-postgres-2 --db postgres --processes 2 --seconds 15 --rate 200
run "uvicorn-2proc-1000x10" --server uvicorn --processes 2 --readers 1000 --rate 10 --seconds 30
