#!/usr/bin/env bash
# The SDK's documentation (Sources/StatefulFunctions/StatefulFunctions.docc and the
# symbols' comments) as a DocC archive: .build/docs/StatefulFunctions.doccarchive.
# `make docs`; CI runs it (warnings are errors: a broken link or symbol reference fails).
# The toolchain's own docc, with the symbol graphs SwiftPM dumps, so the package needs no
# plugin dependency (whose tools every `swift build` would build).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(swift package dump-symbol-graph --minimum-access-level public)
graphs=$(printf '%s\n' "$out" | sed -n 's/^Files written to //p' | tail -1)
[ -d "$graphs" ] || { printf '%s\n' "$out" >&2; echo "no symbol graphs written" >&2; exit 1; }
work=.build/docs
rm -rf "$work" && mkdir -p "$work/symbols"
cp "$graphs"/StatefulFunctions.symbols.json "$graphs"/StatefulFunctions@*.symbols.json "$work/symbols/"
docc convert Sources/StatefulFunctions/StatefulFunctions.docc \
    --additional-symbol-graph-dir "$work/symbols" \
    --fallback-display-name StatefulFunctions --fallback-bundle-identifier org.swift-statefun.StatefulFunctions \
    --output-path "$work/StatefulFunctions.doccarchive" --warnings-as-errors
echo "documentation: $work/StatefulFunctions.doccarchive"
