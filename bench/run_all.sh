#!/usr/bin/env bash
# `make bench`: every target of issue 13 on chatr and on the in-memory Node reference, alternating, in one sitting
# (bench/compare.py; about 12 minutes, `--quick` about 4). Prints the table chatr | reference | chatr ÷ reference and
# writes it to bench/results/summary.md with one JSON file per scenario. Options go to bench/compare.py:
#   bench/run_all.sh --quick            bench/run_all.sh --only storm,post            bench/run_all.sh --rounds 3
# The earlier single-server tools still run on their own: bench/stream_load.py, bench/post_load.py (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
  else
    echo "!! make bench needs wrk (and node): sudo apt-get install wrk" >&2
    exit 1
  fi
fi
if ! command -v node >/dev/null; then
  echo "!! make bench needs Node.js for the reference server: sudo apt-get install nodejs" >&2
  exit 1
fi
exec "${PYTHON:-.venv/bin/python}" bench/compare.py "$@"
