# Multi-stage build: compile in the Rust image, run from a small distroless image as a non-root user.
# TLS roots are compiled into the binary (webpki-roots), so the runtime image needs no CA bundle.
FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, against an empty crate: this layer is rebuilt only when Cargo.toml or
# Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --bin libretto-sidecar \
 && rm -rf src
COPY src ./src
COPY fixtures ./fixtures
# Copied files keep their own timestamps, which may be older than the empty crate's build.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin libretto-sidecar \
 && strip target/release/libretto-sidecar

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/libretto-sidecar /usr/local/bin/libretto-sidecar
USER 65532:65532
# 8787: the proxy (keep it on loopback inside the pod); 8789: probes and metrics.
EXPOSE 8787 8789
ENTRYPOINT ["/usr/local/bin/libretto-sidecar"]
CMD ["serve", "--listen", "127.0.0.1:8787", "--admin-listen", "0.0.0.0:8789", "--api-key-file", "/var/run/secrets/libretto/api-key"]
