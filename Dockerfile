# Multi-stage build: compile in the Rust image, run from a small distroless image as a non-root user.
# TLS roots are compiled into the binary (webpki-roots), so the runtime image needs no CA bundle.
#
#   docker build -t libretto-sidecar .                    # the sidecar: production build, no mock
#   docker build --target mock -t libretto-mock .         # the built-in mock on its own, for dev
#
# The default (last) stage is the production build: `--no-default-features` leaves the mock out.
FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, against an empty crate: this layer is rebuilt only when Cargo.toml or
# Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --no-default-features --bin libretto-sidecar \
 && rm -rf src
COPY src ./src
COPY fixtures ./fixtures
# Copied files keep their own timestamps, which may be older than the empty crate's build.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --no-default-features --bin libretto-sidecar \
 && strip target/release/libretto-sidecar \
 && cp target/release/libretto-sidecar /libretto-sidecar

# The same sources with the default features, the mock among them (built only for --target mock).
FROM build AS build-mock
RUN cargo build --release --locked --bin libretto-sidecar \
 && strip target/release/libretto-sidecar \
 && cp target/release/libretto-sidecar /libretto-sidecar

# The mock of the Libretto API, preloaded with the demo tenant (key `demo-api-key`). It listens on
# every address of its container: it holds only demo data, and is meant for a compose network.
FROM gcr.io/distroless/cc-debian12:nonroot AS mock
COPY --from=build-mock /libretto-sidecar /usr/local/bin/libretto-sidecar
COPY fixtures/demo.json /etc/libretto/demo.json
USER 65532:65532
EXPOSE 8788
ENTRYPOINT ["/usr/local/bin/libretto-sidecar"]
CMD ["mock", "--listen", "0.0.0.0:8788", "--fixtures", "/etc/libretto/demo.json"]

FROM gcr.io/distroless/cc-debian12:nonroot AS sidecar
COPY --from=build /libretto-sidecar /usr/local/bin/libretto-sidecar
USER 65532:65532
# 8787: the proxy, on loopback: right inside a pod, where the app shares the network namespace,
# but unreachable through `docker run -p`; there, pass `serve --listen 0.0.0.0:8787 ...` (see
# docs/operations.md#docker). 8789: probes and metrics.
EXPOSE 8787 8789
ENTRYPOINT ["/usr/local/bin/libretto-sidecar"]
CMD ["serve", "--listen", "127.0.0.1:8787", "--admin-listen", "0.0.0.0:8789", "--api-key-file", "/var/run/secrets/libretto/api-key"]
