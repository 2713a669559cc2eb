#!/usr/bin/env bash
# The whole test suite: unit tests, server tests with real clients, and
# conformance with the official Python SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build-tests.sh
swift test --skip-build "$@"
