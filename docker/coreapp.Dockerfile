# syntax=docker/dockerfile:1
# wa-onprem coreapp: the engine (gRPC on 6250, the database, the media
# volume, the Cloud API client and the background workers).
#
# The build context is the repository root:
#   docker build -f docker/coreapp.Dockerfile -t wa-onprem/coreapp .
# Commands: `coreapp` (serve, the default) and `coreapp migrate` (create the
# database if missing and apply the migrations; run it before serving).

FROM rust:1-bookworm AS build
# The binary links the MariaDB client library (even when it uses SQLite);
# SQLite is bundled and the protobuf files are compiled with protox, so no
# protoc is needed.
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
# Embedded into the binary at compile time.
COPY migrations migrations
RUN --mount=type=cache,id=wa-onprem-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=wa-onprem-target,target=/src/target,sharing=locked \
    cargo build --release --locked --bin coreapp \
 && cp target/release/coreapp /usr/local/bin/coreapp

FROM debian:bookworm-slim
# libmariadb3: the MySQL/MariaDB client; ca-certificates: HTTPS to the Cloud
# API and to the business's webhook server.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmariadb3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid, so a bind-mounted (NFS) media volume can be owned by it on
# every host: chown 10001:10001 <the shared folder>. The cluster folders
# exist owned by it, so a named volume mounted there (compose/dev.yml) is
# writable by `coreapp cluster-certs`.
RUN groupadd --gid 10001 wa \
 && useradd --uid 10001 --gid wa --no-create-home --home-dir /var/lib/wa --shell /usr/sbin/nologin wa \
 && install -d -o wa -g wa -m 0755 /usr/local/wamedia /var/lib/wa \
 && install -d -o wa -g wa -m 0700 /etc/wa-onprem/cluster /var/lib/wa-cluster-ca
COPY --from=build /usr/local/bin/coreapp /usr/local/bin/coreapp
# WA_DB_SQLITE_PATH matters only with WA_DB_ENGINE=SQLITE (the default); mount
# a volume at /var/lib/wa to keep that database.
ENV WA_CORE_LISTEN=0.0.0.0:6250 \
    WA_MEDIA_DIR=/usr/local/wamedia \
    WA_DB_SQLITE_PATH=/var/lib/wa/wa.db
USER 10001:10001
WORKDIR /var/lib/wa
# The shared media volume: the same one on every coreapp.
VOLUME ["/usr/local/wamedia"]
EXPOSE 6250
# A TCP connect shows the process is up: it binds the port before opening the
# database and the volume, and exits when it cannot open them.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/6250"]
# On SIGTERM it stops taking requests and lets the workers finish the work in
# hand for up to 25 s: give it a stop timeout of 30 s.
ENTRYPOINT ["/usr/local/bin/coreapp"]
CMD ["serve"]
