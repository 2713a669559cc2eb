#!/usr/bin/env bash
# Regenerates the committed seed corpora of the fuzz targets (Fuzz/Corpus/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
rm -rf Fuzz/Corpus
.venv/bin/python Fuzz/generate_corpus.py v2
.venv/bin/python Fuzz/generate_corpus.py http
.venv-v3/bin/python Fuzz/generate_corpus.py v3
for d in Fuzz/Corpus/*/; do echo "$d: $(ls "$d" | wc -l) seeds"; done
