#!/usr/bin/env bash
# Instructions per request of a whole server (user space: parser, handler,
# encoding, event loop), counted by callgrind, which is repeatable on a noisy
# machine where wall-clock figures are not. Runs the server under callgrind
# twice, answering N and 2N requests, and prints the difference divided by N
# (start-up and shutdown cancel out).
#
# usage: callgrind_server.sh BINARY PAYLOAD.bin [N] [h1|h2c]
set -euo pipefail
binary=$1 payload=$2 n=${3:-5000} mode=${4:-h1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {  # count REQUESTS -> total Ir
  local requests=$1 port=$((20000 + RANDOM % 20000))
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$requests" "$binary" \
    --host 127.0.0.1 --port "$port" --loops 1 >/dev/null 2>"$out/valgrind.$requests" &
  local pid=$!
  for _ in $(seq 1 300); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
  done
  local flags=(--h1)
  [ "$mode" = h2c ] && flags=(-m 16)
  h2load "${flags[@]}" -n "$requests" -c 16 -d "$payload" -H 'content-type: application/octet-stream' \
    "http://127.0.0.1:$port/statefun" | grep -q "$requests succeeded" || { echo "requests failed" >&2; exit 1; }
  kill -INT $pid
  wait $pid || true
  callgrind_annotate "$out/cg.$requests" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
one=$(count "$n")
two=$(count $((2 * n)))
echo "$(basename "$binary") $(basename "$payload") $mode: $(( (two - one) / n )) instructions per request"
