#!/usr/bin/env bash
# The load benchmark (see bench/run.py and the README's "Benchmarks"):
# builds the release binary, installs wrk if it is missing, and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet -p latchkey
exec python3 bench/run.py "$@"
