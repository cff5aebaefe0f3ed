#!/usr/bin/env bash
# Instructions per request under callgrind (see bench/instructions.py and
# the README's "Benchmarks"): builds the release binary and counts.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p latchkey
exec python3 bench/instructions.py "$@"
