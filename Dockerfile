# newsstreams worker / producer image. Used by docker-compose.yml; on its own:
#   docker build -t newsstreams . && docker run -p 6066:6066 -e KAFKA_BROKER=kafka://HOST:9092 newsstreams
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install from a throw-away copy so that only the installed package is in the
# image (no second `streams/` in the working directory shadowing it).
COPY pyproject.toml README.md /tmp/src/
COPY streams /tmp/src/streams
RUN pip install /tmp/src && rm -rf /tmp/src

RUN useradd --create-home --uid 10001 --user-group newsstreams \
    && mkdir -p /data \
    && chown newsstreams:newsstreams /data
USER newsstreams
WORKDIR /data

# Listen on all interfaces inside the container so a published port reaches the API.
ENV NEWSSTREAMS_WEB_HOST=0.0.0.0 \
    NEWSSTREAMS_WEB_PORT=6066 \
    NEWSSTREAMS_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 6066

ENTRYPOINT ["newsstreams"]
CMD ["worker"]
