#!/usr/bin/env bash
# The whole test suite: unit tests, server tests with real clients, and
# conformance with the official Python SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
