# The commands people type. .ci/run calls `make test`.
.PHONY: deps build demo test test-asan test-tsan fuzz fuzz-smoke fuzz-corpus generate clean

deps:
	scripts/install-deps.sh

build: deps
	swift build

demo:
	scripts/demo.sh

test:
	scripts/test.sh

# The test suite under AddressSanitizer (with LeakSanitizer) / ThreadSanitizer.
test-asan:
	scripts/test-sanitizer.sh address

test-tsan:
	scripts/test-sanitizer.sh thread

# libFuzzer targets (Fuzz/): each runs FUZZ_SECONDS; `make fuzz FUZZ_TARGETS="http2"` for some.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
export FUZZ_SECONDS

fuzz: deps
	scripts/fuzz.sh $(FUZZ_TARGETS)

# What CI runs: the committed crash inputs, then 15 s of each target.
fuzz-smoke: deps
	FUZZ_SECONDS=15 scripts/fuzz.sh

# Regenerates the committed seed corpora (Fuzz/Corpus).
fuzz-corpus:
	scripts/generate-fuzz-corpus.sh

# Regenerates the committed protobuf-c and swift-protobuf code.
generate: deps
	scripts/generate-protocol.sh
	scripts/generate-examples.sh

clean:
	rm -rf .build .build-protoc .build-asan .build-tsan .build-fuzz
