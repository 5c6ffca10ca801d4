FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends prometheus wget \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /prometheus
ENTRYPOINT ["/usr/bin/prometheus"]
