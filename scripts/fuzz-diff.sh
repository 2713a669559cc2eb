#!/usr/bin/env bash
# Differential fuzzing, longer than CI's (DifferentialFuzzTests: 5,000 cases a
# protocol from seed 18): the example servers against the official Python SDKs
# (Tests/StatefunServiceTests/Python/fuzz_diff.py, whose docstring says what
# must agree). The committed regressions (Fuzz/DiffRegressions/v2, v3) are
# replayed first, then FUZZ_DIFF_CASES generated cases a protocol from
# FUZZ_DIFF_SEED (a fresh one by default; it is printed, to rerun the same).
# Every disagreement goes to FUZZ_DIFF_OUT/<protocol>/ (<category>-<sha>.bin,
# the input, and .txt, the input in hex and both answers). FUZZ_DIFF_KEEP=1
# also copies each new input into Fuzz/DiffRegressions/<protocol>/, to commit.
# FUZZ_DIFF_PROTOCOLS="v3" runs one. Exit status 1 on any disagreement.
set -uo pipefail
cd "$(dirname "$0")/.."

cases=${FUZZ_DIFF_CASES:-20000}
seed=${FUZZ_DIFF_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
out=${FUZZ_DIFF_OUT:-.build/fuzz-diff/seed-$seed}
protocols=${FUZZ_DIFF_PROTOCOLS:-v2 v3}

scripts/install-deps.sh >/dev/null || exit 1
swift build --product greeter >/dev/null && swift build --product greeter-v3 >/dev/null || exit 1
bin=$(swift build --show-bin-path)

echo "fuzz-diff: $cases cases a protocol, seed $seed, disagreements to $out"
status=0
for protocol in $protocols; do
  case $protocol in
    v2) python=.venv/bin/python; server=$bin/greeter ;;
    v3) python=.venv-v3/bin/python; server=$bin/greeter-v3 ;;
    *) echo "unknown protocol $protocol"; exit 2 ;;
  esac
  mkdir -p "$out/$protocol"
  "$python" Tests/StatefunServiceTests/Python/fuzz_diff.py --protocol "$protocol" --server "$server" \
    --cases "$cases" --seed "$seed" --regressions "Fuzz/DiffRegressions/$protocol" --out "$out/$protocol" \
    > "$out/$protocol/report.txt" 2>&1 || status=1
  # The summary: the line that starts it and the categories after it.
  sed -n "/^fuzz-diff $protocol: /,\$p" "$out/$protocol/report.txt"
  if [ "${FUZZ_DIFF_KEEP:-0}" = 1 ]; then
    kept=0
    for input in "$out/$protocol"/*.bin; do
      [ -e "$input" ] || continue
      target="Fuzz/DiffRegressions/$protocol/$(basename "$input")"
      [ -e "$target" ] || { cp "$input" "$target"; kept=$((kept + 1)); }
    done
    echo "kept $kept new regression inputs in Fuzz/DiffRegressions/$protocol"
  fi
done
exit $status
