# syntax=docker/dockerfile:1
# wa-onprem sandbox: a local WhatsApp Cloud API simulator (development, tests,
# demos). Keeps its state in memory. Never point production at it.
#
# The build context is the repository root:
#   docker build -f docker/sandbox.Dockerfile -t wa-onprem/sandbox .

FROM rust:1-bookworm AS build
# Not linked by this binary: installed so that the three images share this
# builder layer (and the cargo caches below) with coreapp.Dockerfile.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmariadb-dev libmariadb-dev-compat pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Every workspace member is needed for cargo to read the workspace.
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY wire wire
COPY media media
COPY coreapp coreapp
COPY webapp webapp
COPY sandbox sandbox
COPY tests tests
COPY bench bench
COPY migrations migrations
RUN --mount=type=cache,id=wa-onprem-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=wa-onprem-target,target=/src/target,sharing=locked \
    cargo build --release --locked --bin sandbox \
 && cp target/release/sandbox /usr/local/bin/sandbox

FROM debian:bookworm-slim
# ca-certificates: for webhook targets over HTTPS when
# WA_SANDBOX_WEBHOOK_TLS_VERIFY is on; curl is for the healthcheck.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 10001 wa \
 && useradd --uid 10001 --gid wa --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin wa
COPY --from=build /usr/local/bin/sandbox /usr/local/bin/sandbox
# The code's default, 127.0.0.1:9080, is unreachable from other containers.
ENV WA_SANDBOX_LISTEN=0.0.0.0:9080
USER 10001:10001
EXPOSE 9080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fs", "-o", "/dev/null", "http://127.0.0.1:9080/_sandbox/health"]
ENTRYPOINT ["/usr/local/bin/sandbox"]
