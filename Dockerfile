# syntax=docker/dockerfile:1
#
# hunkscan container image: `hunkscan serve` on $PORT (3000), data in /data.
#
#   docker build -t hunkscan .
#   docker run --init -p 3000:3000 --env-file hunkscan.env -v hunkscan-data:/data hunkscan
#
# Needs BuildKit (Docker's default builder since 23.0; fly's builders use it)
# for the cache mounts below. Settings come from the environment; see
# docs/github-app.md. Never bake secrets into the image.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build -------------------------------------------------------------------
# The full rust image has gcc, which ring and the tree-sitter grammars need.
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src

# Only what a build of the binary reads (see .dockerignore): the manifest, the
# lock file, build.rs, the sources, the rules (embedded at build time) and the
# bench sources (declared as [[bench]] targets, so the manifest needs them).
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY rules ./rules
COPY benches ./benches

# The registry, git checkouts and target/ live in BuildKit cache mounts, so a
# rebuild after a source change downloads and recompiles no dependency. The
# binary is copied out of the cache mount, which is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin hunkscan \
    && install -D -m 0755 target/release/hunkscan /out/hunkscan

# ---- run ---------------------------------------------------------------------
# Same Debian release as the builder, so the glibc the binary links is there.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# ca-certificates: TLS to GitHub uses rustls with the OS trust store
# (rustls-native-certs reads /etc/ssl/certs); without it start-up fails.
# curl: for HEALTHCHECK only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged uid/gid, and /data (the embedded database) owned by it.
# A bind-mounted host directory must be owned by 10001 too
# (chown 10001:10001 DIR); a new named Docker volume and a Fly volume take the
# ownership from the image.
RUN groupadd --gid 10001 hunkscan \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin hunkscan \
    && install -d -o 10001 -g 10001 -m 0750 /data

COPY --from=builder /out/hunkscan /usr/local/bin/hunkscan

USER 10001:10001

ENV PORT=3000 \
    RUST_LOG=info \
    DATABASE_URL=sqlite:///data/hunkscan.db

EXPOSE 3000

# Shell form so that $PORT is the container's at run time.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORT}/healthz" || exit 1

ENTRYPOINT ["hunkscan"]
CMD ["serve"]
