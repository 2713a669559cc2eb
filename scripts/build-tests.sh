#!/usr/bin/env bash
# Builds what the test suite uses, and nothing else: the test bundle and the
# programs the tests start (or compile as the README writes them). Not
# `swift build --build-tests`, which also builds the dependencies' own tools
# (swift-protobuf's protoc-gen-swift, argument-parser's manual and DocC
# generators) that no test runs. Options (--sanitize, --scratch-path …) go to
# every build. Used by scripts/test.sh and scripts/test-sanitizer.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# The programs the tests start: the examples, statefun-local, the crash-test
# server; and the README's blocks, which ReadmeTests requires to compile.
programs=(greeter greeter-v3 verification statefun-local statefun-crash-test readme-snippets readme-module)
swift build --product swift-statefunPackageTests "$@"
for program in "${programs[@]}"; do
  swift build --product "$program" "$@"
done
