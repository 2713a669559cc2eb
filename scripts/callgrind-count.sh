#!/usr/bin/env bash
# Instructions per request of one payload, counted by callgrind: repeatable on a
# noisy machine, unlike time. Runs the profile program for N and 2N requests and
# divides the difference by N, which cancels start-up.
#
#   scripts/callgrind-count.sh handler-profile|server-profile PAYLOAD [N]
#   (PAYLOAD: v2-one, v3-one, v2-batch100, …; N: 2000 by default, 100 for batches;
#   server-profile h2c-PAYLOAD: N rounds of 64 HTTP/2 streams, 50 by default)
#
# Needs the payloads (scripts/bench.sh writes them to Benchmarks/.payloads) and
# valgrind (scripts/install-deps.sh valgrind). The callgrind outputs stay in
# $TMPDIR for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
program=${1:?usage: $0 handler-profile|server-profile PAYLOAD [N]}
payload=${2:?usage: $0 handler-profile|server-profile PAYLOAD [N]}
case "$payload" in h2c-*batch*) default=4 ;; h2c-*) default=50 ;; *batch*) default=100 ;; *) default=2000 ;; esac
n=${3:-$default}
# An h2c round is 64 requests.
case "$payload" in h2c-*) per_round=64 ;; *) per_round=1 ;; esac
scripts/install-deps.sh valgrind >/dev/null
swift build -c release --package-path Benchmarks --product "$program" >/dev/null
tmp=${TMPDIR:-/tmp}
# valgrind 3.19 cannot read the debug info of Swift 6 binaries: count a stripped copy.
cp "Benchmarks/.build/release/$program" "$tmp/$program.stripped"
strip -g "$tmp/$program.stripped"
export STATEFUN_BENCH_PAYLOADS=${STATEFUN_BENCH_PAYLOADS:-$PWD/Benchmarks/.payloads}
count() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.$program.$payload.$1" \
    "$tmp/$program.stripped" "$payload" "$1" 2>&1 | awk '/Collected/ {print $4}'
}
a=$(count "$n")
b=$(count $((n * 2)))
echo "$program $payload: $(( (b - a) / (n * per_round) )) instructions per request"
