#!/usr/bin/env bash
# The test suite under a sanitizer: scripts/test-sanitizer.sh address|thread [swift test options]
# Builds in a scratch path of its own (.build-asan, .build-tsan), so the plain
# build stays as it is. `make test-asan`, `make test-tsan`.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer=${1:?usage: scripts/test-sanitizer.sh address|thread [swift test options]}
shift
case "$sanitizer" in
  address) scratch=.build-asan ;;
  thread) scratch=.build-tsan ;;
  *) echo "unknown sanitizer: $sanitizer (address or thread)" >&2; exit 2 ;;
esac
scripts/install-deps.sh
# halt_on_error: the first report fails the run (a report alone would not fail a test).
# (Not abort_on_error: an abort inside LeakSanitizer's exit-time check can hang the process.)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:suppressions=$PWD/scripts/asan.supp}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp}
# A test's blocking read calls the server hung after this long (30 s otherwise): under
# ThreadSanitizer a handler's task can wait behind many test tasks on Swift's task pool.
export STATEFUN_TEST_HANG_SECONDS=${STATEFUN_TEST_HANG_SECONDS:-120}
# Swift's own crash backtracer and a sanitizer's report collide (the process can hang).
export SWIFT_BACKTRACE=enable=no
nice scripts/build-tests.sh --sanitize="$sanitizer" --scratch-path "$scratch"
# Every test is a Swift Testing test: the XCTest pass would run none, and its
# exit reports leaks of the XCTest runtime's own start-up allocations.
if [ "$sanitizer" != address ]; then
  exec swift test --skip-build --disable-xctest --sanitize="$sanitizer" --scratch-path "$scratch" "$@"
fi
# LeakSanitizer checks the test process at exit, and any leak it reports fails
# the run (the suppressions in scripts/lsan.supp aside). Its report used to be
# mostly swift-corelibs-foundation's Process objects (reference cycles) of the test
# helpers; since the tests start programs with posix_spawn (Tests/ChildProcess) it
# is empty. Leaked blocks allocated from our code (Sources/, Examples/) are
# repeated after the run, as they are the ones to look at first.
log="$scratch/test-asan.log"
status=0
swift test --skip-build --disable-xctest --sanitize=address --scratch-path "$scratch" "$@" 2>&1 | tee "$log" || status=$?
if grep -Eq '^(Direct|Indirect) leak of' "$log"; then
  ours=$(awk '/^(Direct|Indirect) leak of/ { block = $0; next }
              block != "" && /^$/ { if (block ~ /\/(Sources|Examples)\//) print block "\n"; block = ""; next }
              block != "" { block = block "\n" $0 }' "$log")
  [ -z "$ours" ] || printf 'Leaks allocated from Sources/ or Examples/:\n%b\n' "$ours" >&2
  echo "LeakSanitizer reported leaks (see $log)" >&2
  status=1
fi
exit "$status"
