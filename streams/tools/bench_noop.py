"""The yardstick for `newsstreams bench`: a Faust agent that forwards and does nothing else.

It runs with the same broker settings and corrections as the real worker, so the ratio between
the two is the cost of the pipeline itself.
"""

from __future__ import annotations

import os
import sys

import faust

from streams.fixes import apply_fixes
from streams.settings import FAUST_BROKER_OPTIONS, Settings, pin_library_log_levels

IN_TOPIC = "bench.in"
OUT_TOPIC = "bench.out.faust"

apply_fixes(embedded_broker=Settings.from_env().embedded_broker)  # the same corrections as the worker

app = faust.App(
    os.environ.get("NEWSSTREAMS_APP_ID", "newsstreams-bench-noop"),
    broker=os.environ.get("KAFKA_BROKER", "kafka://127.0.0.1:9092"),
    store="memory://",
    datadir=os.environ.get("NEWSSTREAMS_DATA_DIR", ".newsstreams-bench"),
    autodiscover=False,
    **FAUST_BROKER_OPTIONS,
    web_enabled=False,
)
source = app.topic(IN_TOPIC, value_serializer="raw", key_serializer="raw")
sink = app.topic(OUT_TOPIC, value_serializer="raw", key_serializer="raw")


@app.agent(source, name="noop")
async def forward(stream):
    async for event in stream.events():
        await sink.send(key=event.key, value=event.value)


if __name__ == "__main__":
    pin_library_log_levels("warn")
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()
