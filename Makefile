# The commands people type. .ci/run calls `make test`, `make verify-deploy` and `make verify-image`.
.PHONY: deps build demo test docs verify-deploy verify-image test-asan test-tsan fuzz fuzz-smoke fuzz-corpus fuzz-diff soak generate clean bench bench-micro

deps:
	scripts/install-deps.sh

build: deps
	swift build

demo:
	scripts/demo.sh

test:
	scripts/test.sh

# The SDK's DocC documentation (.build/docs/StatefulFunctions.doccarchive); warnings are errors.
docs:
	scripts/build-docs.sh

# Checks deploy/ without Docker or a cluster: docker-compose config, the Kubernetes schemas
# (offline), the deployment's rules, every module.yaml parsed by statefun-local. See scripts/verify-deploy.sh.
verify-deploy:
	scripts/install-deps.sh --deploy docker-compose
	scripts/verify-deploy.sh

# The Dockerfile without Docker: its build, its runtime stage as a debootstrap root
# filesystem (cached in .build-image/), a real request, SIGTERM. Needs root.
verify-image:
	scripts/verify-image.sh

# Ten minutes of mixed valid and invalid load over HTTP/1.1 and h2c (SOAK_DURATION=seconds to change).
soak: deps
	scripts/soak.sh

# The load benchmark (release build, pinned cores; prints one table): see Benchmarks/README.md.
bench:
	scripts/bench.sh

# The handler micro-benchmarks (ordo-one/benchmark: time and allocations).
bench-micro:
	scripts/bench-micro.sh

# The test suite under AddressSanitizer (with LeakSanitizer) / ThreadSanitizer
# (no suppression of our code: scripts/tsan.supp is empty). CI runs both.
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

# Differential fuzzing against the official Python SDKs, longer than CI's and from a fresh seed:
# FUZZ_DIFF_CASES (20000 a protocol), FUZZ_DIFF_SEED, FUZZ_DIFF_OUT (every disagreement is written
# there), FUZZ_DIFF_KEEP=1 to add the new ones to Fuzz/DiffRegressions. See scripts/fuzz-diff.sh.
fuzz-diff:
	scripts/fuzz-diff.sh

# Regenerates the committed seed corpora (Fuzz/Corpus).
fuzz-corpus:
	scripts/generate-fuzz-corpus.sh

# Regenerates the committed protobuf-c and swift-protobuf code.
generate: deps
	scripts/generate-protocol.sh
	scripts/generate-examples.sh

clean:
	rm -rf .build .build-image .build-protoc .build-release .build-asan .build-tsan .build-fuzz Benchmarks/.build
