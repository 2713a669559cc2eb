#!/usr/bin/env bash
# make bench-micro: the handler micro-benchmarks (Benchmarks/Benchmarks/Handler),
# with ordo-one/benchmark's wall-clock, CPU and malloc counts, per request and
# per invocation. Extra arguments go to `swift package benchmark`
# (e.g. --filter "v2-.*").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
.venv/bin/python Benchmarks/Load/payloads.py v2 Benchmarks/.payloads
.venv-v3/bin/python Benchmarks/Load/payloads.py v3 Benchmarks/.payloads
swift package --package-path Benchmarks benchmark "$@"
