# Debian's redis-server for docker-compose.yml (no image can be pulled here:
# debian:bookworm itself may come from shared/tools/docker-local.sh base-image).
# Its options (port, bind, AOF) are given by the compose file's command.
FROM debian:bookworm
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
ENTRYPOINT ["redis-server"]
CMD ["--bind", "127.0.0.1", "--port", "6379", "--dir", "/data"]
