#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/, with -sanitize=fuzzer,address) and runs
# each for FUZZ_SECONDS (default 60) on a scratch copy of its committed seed
# corpus (Fuzz/Corpus/<target>), after replaying the committed crash
# regressions (Fuzz/Regressions/<target>). New crashes land in .build-fuzz/artifacts.
#   scripts/fuzz.sh                    every target
#   scripts/fuzz.sh http2 http-parser  some targets
#   FUZZ_SECONDS=15 scripts/fuzz.sh    a short smoke (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
all=(http-parser http1-connection http2 tofunction-v2 tofunction-v3)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
seconds=${FUZZ_SECONDS:-60}
scratch=.build-fuzz
export STATEFUN_FUZZ=1

for t in "${targets[@]}"; do
  nice swift build -c debug --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld --product "fuzz-$t" 2>&1 \
    | { grep -v "^\[[0-9]*/[0-9]*\] \(Compiling\|Write\|Wrapping\|Emitting\)" || true; }
done
bin=$(STATEFUN_FUZZ=1 swift build -c debug --scratch-path "$scratch" --show-bin-path)

mkdir -p "$scratch/artifacts" "$scratch/logs"
for t in "${targets[@]}"; do
  exe="$bin/fuzz-$t"
  log="$scratch/logs/$t.log"
  if [ -d "Fuzz/Regressions/$t" ] && [ -n "$(ls -A "Fuzz/Regressions/$t")" ]; then
    echo "== fuzz-$t: replaying Fuzz/Regressions/$t"
    if ! "$exe" "Fuzz/Regressions/$t"/* > "$log" 2>&1; then
      tail -n 30 "$log" >&2
      echo "fuzz-$t: a regression input fails again" >&2
      exit 1
    fi
  fi
  corpus="$scratch/corpus/$t"
  mkdir -p "$corpus"
  echo "== fuzz-$t: ${seconds}s"
  set +e
  nice "$exe" -max_total_time="$seconds" -timeout=25 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$scratch/artifacts/$t-" "$corpus" "Fuzz/Corpus/$t" > "$log" 2>&1
  status=$?
  set -e
  grep -E "^(stat::number_of_executed_units|stat::peak_rss|#[0-9]+ +DONE|INFO: seed corpus)" "$log" || true
  if [ "$status" -ne 0 ]; then
    grep -E -A 30 "ERROR|Fatal error|deadly signal|Test unit written" "$log" | head -n 60 >&2 || true
    echo "fuzz-$t failed (exit $status); log $log, inputs in $scratch/artifacts" >&2
    exit "$status"
  fi
done
