# syntax=docker/dockerfile:1
# herald's container image: the static (musl) herald binary on an empty base, with CA roots
# for TLS (the Engati API, PostgreSQL with sslmode=verify-*), run as a non-root user in
# /project, where the project is mounted:
#
#   docker build -t herald .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/project" herald validate
#
# `--user` lets herald write the state (.herald/) and plan files as the mounted files' owner.
# There is no git in the image: `herald diff` needs the release binary (action.yml).

# The oldest Rust herald supports (rust-version in Cargo.toml).
ARG RUST_VERSION=1.89

FROM rust:${RUST_VERSION}-alpine AS builder
# musl-dev to link; ca-certificates for the roots the final image carries (unpinned: the
# newest roots of the Alpine release the Rust image is built on).
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# On Alpine the host target is *-unknown-linux-musl, linked statically by default.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin herald \
 && install -D -m 0755 target/release/herald /rootfs/usr/local/bin/herald
# Everything the final image holds, as a tree: herald, the CA roots, a non-root user (uid
# 65532, as distroless's "nonroot"), a /tmp and the /project mount point.
RUN install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nherald:x:65532:65532:herald:/project:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'root:x:0:\nherald:x:65532:\n' > /rootfs/etc/group \
 && install -d -m 1777 /rootfs/tmp \
 && install -d -m 0755 -o 65532 -g 65532 /rootfs/project

FROM scratch AS herald
COPY --from=builder /rootfs/ /
# rustls-native-certs (the Engati client, through rustls-platform-verifier, and PostgreSQL's
# TLS) reads the roots from SSL_CERT_FILE first.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PATH=/usr/local/bin
USER 65532:65532
WORKDIR /project
ENTRYPOINT ["herald"]
CMD ["--help"]
LABEL org.opencontainers.image.title="herald" \
      org.opencontainers.image.description="Campaigns as code for the Engati chatbot platform" \
      org.opencontainers.image.source="https://github.com/your-org/herald"
