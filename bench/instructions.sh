#!/usr/bin/env bash
# Instructions per request under callgrind (see bench/instructions.py and
# the README's "Benchmarks"): builds the release binary and counts. With
# --lines, the `profiling` build (release with line tables) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ " $* " == *" --lines "* ]]; then
  cargo build --profile profiling --quiet -p latchkey
  exec python3 bench/instructions.py --binary target/profiling/latchkey "$@"
fi
cargo build --release --quiet -p latchkey
exec python3 bench/instructions.py "$@"
