#!/usr/bin/env bash
# make bench: the load benchmark. Builds our greeters in release, starts them,
# the official Python SDK twins on aiohttp (2.2.2 and 3.3.0) and nginx
# answering a fixed 200, each pinned to core 0, drives each from core 1 with
# wrk (HTTP/1.1) and h2load (h2c) on the same payloads, and prints one table.
#
#   scripts/bench.sh [--seconds 10] [--rounds 1] [--only swift,nginx,python] [--protocols v2,v3]
#                    [--connections 64,1024] [--payload-filter one,batch100]
# The table also goes to Benchmarks/results/latest.md (and .json).
set -euo pipefail
cd "$(dirname "$0")/.."
# The load tools come with the project's own dependencies. Debian starts the
# packaged nginx on port 80 when it installs it; the benchmark runs its own.
nginx_was_installed=$(dpkg-query -W -f='${Status}' nginx-light 2>/dev/null | grep -c "install ok installed" || true)
scripts/install-deps.sh wrk nginx-light
if [ "$nginx_was_installed" = 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo nginx -s quit 2>/dev/null || true
fi

# The Python peers, each in a venv of its own, idempotently.
bench_venv() {  # bench_venv DIR REQUIREMENTS [EXTRA PIP ARGS...]
  local dir=$1 requirements=$2; shift 2
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  if ! cmp -s "$requirements" "$dir/.installed"; then
    "$dir/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    if [ $# -gt 0 ]; then "$dir/bin/pip" install -q --disable-pip-version-check --no-deps "$@"; fi
    cp "$requirements" "$dir/.installed"
  fi
}
bench_venv .venv-bench-v2 scripts/requirements-bench-v2.txt
bench_venv .venv-bench-v3 scripts/requirements-bench-v3.txt "protobuf==4.25.8"

echo "building the greeters (release)…"
swift build -c release --scratch-path .build-release --product greeter
swift build -c release --scratch-path .build-release --product greeter-v3

payloads=Benchmarks/.payloads
.venv/bin/python Benchmarks/Load/payloads.py v2 "$payloads"
.venv-v3/bin/python Benchmarks/Load/payloads.py v3 "$payloads"

mkdir -p Benchmarks/results
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 Benchmarks/Load/run.py --build .build-release/release --payloads "$payloads" --work "$work" \
  --json Benchmarks/results/latest.json "$@" | tee Benchmarks/results/latest.md
