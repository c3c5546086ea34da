# kamea-wss container image. The build stage uses the very scripts CI uses
# (scripts/install-deps.sh, make build), so the image builds what CI tested.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN scripts/install-deps.sh && make build

FROM debian:12-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
        libboost-json1.81.0 libboost-url1.81.0 libssl3 libspdlog1.10 libfmt9 liburing2 librabbitmq4 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 kamea
COPY --from=build /src/build/kamea-wss /opt/kamea-wss/kamea-wss
COPY --from=build /src/build/doc /opt/kamea-wss/doc
USER kamea
# Public: Socket.IO and /doc. Internal: ingestion, health, metrics (do not publish it).
EXPOSE 3000 3001
ENV WSS_INTERNAL_HOST=0.0.0.0
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/kamea-wss/kamea-wss"]
