# flexroute container image.
#
#   docker build -t flexroute .
#   docker run --rm -p 8080:8080 -p 9090:9090 flexroute serve --config /etc/flexroute/flexroute.toml --sandbox
#
# Production runs mount their routing table at /etc/flexroute and pass credentials as
# environment variables (deploy/ and docs/operations.md). deploy/check.sh lints this file and
# checks that it ships the binary `cargo build --release` makes.

# ---- build ------------------------------------------------------------------------------------
# Bookworm to match the runtime below: the binary links glibc dynamically, so the builder's glibc
# must not be newer than distroless/cc-debian12's (2.36).
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /app

# Dependencies first, in a layer of their own: it is rebuilt only when Cargo.toml or Cargo.lock
# change, not on every source edit. Placeholder targets let cargo compile the dependencies.
# Cargo refuses a manifest whose [[bench]] targets have no file, and benches/ is not in the
# build context: each bench Cargo.toml names gets an empty placeholder, kept for the real build.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && sed -n '/^\[\[bench\]\]$/{n;s/^name = "\(.*\)"$/\1/p}' Cargo.toml > benches/names \
    && while read -r bench; do echo 'fn main() {}' > "benches/$bench.rs"; done < benches/names \
    && cargo build --release --locked \
    && rm -rf src benches/names

# The real sources. touch: COPY keeps the files' old modification times, which can be older than
# the placeholders' build, and cargo would then keep the placeholder binary.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked

# Files the runtime image takes: the example table for `docker run` (a real deployment mounts
# its own over it) and an empty state directory that the non-root user owns (distroless has no
# shell to create one in the runtime stage).
COPY config/flexroute.toml /rootfs/etc/flexroute/flexroute.toml
RUN mkdir -p /rootfs/var/lib/flexroute

# ---- runtime ----------------------------------------------------------------------------------
# distroless/cc: glibc, libgcc and nothing else; no shell, no package manager. No CA bundle is
# needed: reqwest uses rustls with the webpki roots compiled in.
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="flexroute" \
      org.opencontainers.image.description="HTTP gateway that routes Twilio Flex WebChat visitors to the chat address of their site and language" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder /app/target/release/flexroute /usr/local/bin/flexroute
COPY --from=builder /rootfs/etc/flexroute/flexroute.toml /etc/flexroute/flexroute.toml
COPY --from=builder --chown=65532:65532 /rootfs/var/lib/flexroute /var/lib/flexroute

# Container-wide defaults: listen on every interface (inside the pod network), keep state on the
# volume, log JSON lines for the log collector. Each can be overridden with `-e` or in the pod.
ENV FLEXROUTE_SERVER_LISTEN=0.0.0.0:8080 \
    FLEXROUTE_SERVER_ADMIN_LISTEN=0.0.0.0:9090 \
    FLEXROUTE_PROVISIONING_STATE=file:/var/lib/flexroute/state \
    FLEXROUTE_LOG_FORMAT=json

# Routing table (read-only; hot-reloaded when it changes) and provisioned SIDs (read-write).
VOLUME ["/etc/flexroute", "/var/lib/flexroute"]

# 8080: public API (/v1/webchat/config, /healthz, /readyz). 9090: ops (/metrics, /healthz, /admin/*).
EXPOSE 8080 9090

# The numeric user of distroless "nonroot", so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532

# Liveness only: /readyz is for load balancers, a restart would not fix "not ready yet".
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/flexroute", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]

ENTRYPOINT ["/usr/local/bin/flexroute"]
CMD ["serve", "--config", "/etc/flexroute/flexroute.toml"]
