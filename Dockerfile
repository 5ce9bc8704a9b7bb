# kronjob controller image.
#
#   docker build -t kronjob:0.1.0 .
#
# Stage 1 compiles a release binary against glibc (Debian 12); stage 2 copies
# it into distroless/cc (glibc + libgcc, no shell, no package manager) and
# runs it as the distroless "nonroot" user, UID/GID 65532. The time-zone
# database is compiled into the binary and TLS is rustls, so the runtime
# image needs nothing else.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src

# Strip symbols from the release binary (smaller image; panics still show
# messages, and RUST_BACKTRACE still prints frames without file names).
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never

# Dependency layer: build every dependency against placeholder sources, so
# this layer is reused for as long as Cargo.toml and Cargo.lock do not change.
# bench/ (the `make bench` driver) is a workspace member that the image does
# not build: only its manifest and a placeholder are needed to load the
# workspace (cargo build builds the default member, kronjob).
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/Cargo.toml
RUN mkdir -p src bench/src \
 && echo 'fn main() {}' > bench/src/main.rs \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The real sources. Touch them so cargo sees them as newer than the
# placeholder build (COPY keeps the build context's mtimes) and remove the
# placeholder's own artifacts for good measure.
COPY src ./src
RUN find src -name '*.rs' -exec touch {} + \
 && rm -f target/release/kronjob target/release/deps/kronjob-* target/release/deps/libkronjob-* \
 && cargo build --release --locked \
 && cp target/release/kronjob /kronjob \
 && test -x /kronjob

FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kronjob" \
      org.opencontainers.image.description="Kubernetes batch/v1 CronJob controller that replaces the kube-controller-manager built-in one" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

# Owned by root and not writable by the runtime user.
COPY --from=builder --chown=0:0 /kronjob /kronjob

USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/kronjob"]
CMD ["run"]
