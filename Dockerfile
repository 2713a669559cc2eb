# A remote module image. Build: docker build -t swift-statefun-greeter .
# Run:   docker run -p 8000:8000 swift-statefun-greeter
# Another example: docker build --build-arg PRODUCT=greeter-v3 -t swift-statefun-greeter-v3 .
# Verified without Docker by `make verify-image` (scripts/verify-image.sh), which reads
# this file and runs its build command, runtime RUN lines, USER, ENV and ENTRYPOINT.
ARG PRODUCT=greeter

# Build stage: a Swift toolchain at least as new as Package.swift's swift-tools-version,
# plus the C libraries' headers.
FROM swift:6.2-bookworm AS build
ARG PRODUCT
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libprotobuf-c-dev libnghttp2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Examples ./Examples
COPY Tests ./Tests
RUN swift build -c release --product "$PRODUCT" --static-swift-stdlib \
 && cp "$(swift build -c release --show-bin-path)/$PRODUCT" /server

# Run stage: only the runtime libraries (the Swift runtime is linked statically).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libprotobuf-c1 libnghttp2-14 libstdc++6 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 statefun
COPY --from=build /server /usr/local/bin/statefun-server
USER statefun
EXPOSE 8000
# Supervised (the default, spelled out): a function that traps costs one worker process, not the endpoint.
ENV STATEFUN_HOST=0.0.0.0 STATEFUN_PORT=8000 STATEFUN_PATH=/statefun STATEFUN_WORKERS=1
ENTRYPOINT ["/usr/local/bin/statefun-server"]
