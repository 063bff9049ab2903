"""The yardstick for `newsstreams bench`: a Faust agent that forwards and does nothing else.

It runs with the same broker settings and corrections as the real worker, so the ratio between
the two is the cost of the pipeline itself. Run as `python -m streams.tools.bench_noop`.
"""

from __future__ import annotations

import sys

import faust

from streams.fixes import apply_fixes
from streams.settings import FAUST_BROKER_OPTIONS, Settings, pin_library_log_levels

IN_TOPIC = "bench.in"
OUT_TOPIC = "bench.out.faust"


def build_noop_app(settings: Settings) -> faust.App:
    """A one-agent app that forwards `bench.in` to `bench.out.faust`, corrected like the worker."""
    apply_fixes(embedded_broker=settings.embedded_broker)
    app = faust.App(
        settings.app_id, broker=settings.broker_url, store="memory://", datadir=settings.data_dir,
        autodiscover=False, **FAUST_BROKER_OPTIONS, web_enabled=False,
    )
    source = app.topic(IN_TOPIC, value_serializer="raw", key_serializer="raw")
    sink = app.topic(OUT_TOPIC, value_serializer="raw", key_serializer="raw")

    @app.agent(source, name="noop")
    async def forward(stream):
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value)

    return app


def main() -> None:
    app = build_noop_app(Settings.from_env())
    pin_library_log_levels("warn")
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
