# syntax=docker/dockerfile:1
# wa-onprem webapp: the on-prem REST API over HTTPS. Stateless: no database
# connection and no volume; it reaches the coreapps over gRPC (WA_CORE_ADDRS).
#
# The build context is the repository root:
#   docker build -f docker/webapp.Dockerfile -t wa-onprem/webapp .

FROM rust:1-bookworm AS build
# This binary does not link the MariaDB client library; it is installed all
# the same so that the three images share this builder layer (and the cargo
# caches below) with coreapp.Dockerfile.
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
    cargo build --release --locked --bin webapp \
 && cp target/release/webapp /usr/local/bin/webapp

FROM debian:bookworm-slim
# The binary needs only libc (TLS is rustls, also for the gRPC to the
# coreapps). curl is for the healthcheck only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 10001 wa \
 && useradd --uid 10001 --gid wa --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin wa \
 && install -d -o wa -g wa -m 0700 /etc/wa-onprem/cluster
COPY --from=build /usr/local/bin/webapp /usr/local/bin/webapp
# The code's default is 0.0.0.0:443, like the old client, but a non-root user
# cannot bind a port below 1024 without CAP_NET_BIND_SERVICE: the image
# listens on 8443 and compose publishes it (9090:8443 in development,
# 443:8443 in production).
ENV WA_WEB_LISTEN=0.0.0.0:8443
USER 10001:10001
EXPOSE 8443
# GET / answers 200 without credentials. The certificate is self-signed by
# default (-k); with WA_WEB_TLS=off the second try speaks plain HTTP.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsk -o /dev/null https://127.0.0.1:8443/ || curl -fs -o /dev/null http://127.0.0.1:8443/
# On SIGTERM it stops accepting and lets requests in flight finish (up to 20 s).
ENTRYPOINT ["/usr/local/bin/webapp"]
