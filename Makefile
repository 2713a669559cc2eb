# The commands people type. .ci/run calls `make test`.
.PHONY: deps build demo test soak generate clean bench bench-micro

deps:
	scripts/install-deps.sh

build: deps
	swift build

demo:
	scripts/demo.sh

test:
	scripts/test.sh

# Ten minutes of mixed valid and invalid load over HTTP/1.1 and h2c (SOAK_DURATION=seconds to change).
soak: deps
	scripts/soak.sh

# The load benchmark (release build, pinned cores; prints one table): see Benchmarks/README.md.
bench:
	scripts/bench.sh

# The handler micro-benchmarks (ordo-one/benchmark: time and allocations).
bench-micro:
	scripts/bench-micro.sh

# Regenerates the committed protobuf-c and swift-protobuf code.
generate: deps
	scripts/generate-protocol.sh
	scripts/generate-examples.sh

clean:
	rm -rf .build .build-protoc .build-release Benchmarks/.build
