# The hub, built from this repository: one image, every service (`hub all`,
# `hub router`, ...), plus migrate, provision and demo.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p hub --bins

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 hub
COPY --from=build /src/target/release/hub /usr/local/bin/hub
COPY policy/catalog.toml /etc/hub/catalog.toml
ENV HUB_CATALOG=/etc/hub/catalog.toml \
    HUB_LOG_FORMAT=json
USER hub
ENTRYPOINT ["hub"]
CMD ["all"]
