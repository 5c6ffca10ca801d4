# The adic-stream image: adic-edge (the default command), adic-publisher and adic-stream.
#
#   docker build -t adic-stream .
#   docker run --rm -p 9121:9121 adic-stream demo --listen 0.0.0.0:9121
#   docker run --rm -e NATS_URL=nats://nats:4222 adic-stream             # adic-edge serve
#   docker run --rm --entrypoint adic-publisher adic-stream simulate --nats-url nats://nats:4222
#
# Stages: `runtime-base` (Debian slim, user, healthcheck: everything but the binaries),
# `prebuilt` (the same with binaries from deploy/docker/bin/, for images made from binaries built
# outside Docker), `build` (compiles the workspace; dependencies in a layer of their own, so a
# source change does not rebuild them) and `runtime` (the default: runtime-base plus the binaries
# of `build`). docs/deploy.md says how to build it on a machine without a registry.

ARG RUST_IMAGE=rust:1.88-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUNTIME_IMAGE} AS runtime-base
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="adic-stream" \
      org.opencontainers.image.description="The real-time event tier for the ADIC ledger: stateless WebSocket, SSE and polling edges over NATS JetStream" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/adic/adic-stream" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
# CA certificates for TLS to NATS and to an OTLP collector; a numeric user, so Kubernetes'
# runAsNonRoot can check it without a passwd lookup.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && echo 'adic:x:10001:10001:adic-stream:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'adic:x:10001:' >> /etc/group
USER 10001:10001
ENV ADIC_EDGE_LISTEN=0.0.0.0:9121 RUST_LOG=info
EXPOSE 9121
# SIGTERM starts the edge's paced drain (and the publisher's flush); exec form, so the binary is
# PID 1 and receives it.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
  CMD ["adic-edge", "probe", "/healthz"]
ENTRYPOINT ["adic-edge"]
CMD ["serve"]

FROM runtime-base AS prebuilt
COPY deploy/docker/bin/ /usr/local/bin/

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Dependencies first: the manifests with empty sources, so this layer is reused until
# Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
# Crates vendored by deploy/docker/vendor.sh, for a build without a crate registry; with the
# folder empty (the default) cargo downloads them.
COPY deploy/docker/vendor/ vendor/
RUN if [ -d vendor/crates ]; then \
      mkdir -p .cargo \
      && printf '[source.crates-io]\nreplace-with = "vendored"\n[source.vendored]\ndirectory = "vendor/crates"\n' > .cargo/config.toml; \
    fi
COPY protocol/Cargo.toml protocol/
COPY publisher/Cargo.toml publisher/
COPY edge/Cargo.toml edge/
COPY client/Cargo.toml client/
COPY loadgen/Cargo.toml loadgen/
COPY tests/Cargo.toml tests/
RUN set -eu; \
    for manifest in */Cargo.toml; do \
      crate="${manifest%/Cargo.toml}"; \
      mkdir -p "$crate/src" "$crate/benches"; \
      touch "$crate/src/lib.rs"; \
      for target in $(sed -n 's/^path = "\(.*\)"$/\1/p' "$manifest"); do \
        mkdir -p "$crate/$(dirname "$target")"; echo 'fn main() {}' > "$crate/$target"; \
      done; \
      for bench in $(sed -n '/^\[\[bench\]\]/,/^name/s/^name = "\(.*\)"$/\1/p' "$manifest"); do \
        echo 'fn main() {}' > "$crate/benches/$bench.rs"; \
      done; \
    done; \
    cargo build --release --locked -p adic-edge -p adic-publisher -p adic-client --lib
COPY protocol/ protocol/
COPY publisher/ publisher/
COPY edge/ edge/
COPY client/ client/
COPY loadgen/ loadgen/
COPY tests/ tests/
# The real sources must look newer than the stubs' build.
RUN find protocol publisher edge client loadgen tests -name '*.rs' -exec touch {} + \
 && cargo build --release --locked -p adic-edge -p adic-publisher -p adic-client --bins \
 && mkdir /out \
 && cp target/release/adic-edge target/release/adic-publisher target/release/adic-stream /out/

FROM runtime-base AS runtime
COPY --from=build /out/ /usr/local/bin/
