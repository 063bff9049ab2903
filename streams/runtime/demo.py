"""`run --demo`: publish the bundled sample pages once the worker is up."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from .. import topics
from ..ingest.sources import iter_raw_articles

log = logging.getLogger(__name__)


def attach_demo(runtime, paths: list[Path]) -> None:
    """A task on the runtime's app that sends the pages at `paths` to `articles.raw` once."""
    app, raw_topic = runtime.app, runtime.topic(topics.RAW)

    @app.task
    async def publish_samples() -> None:
        await raw_topic.maybe_declare()
        await asyncio.sleep(0.5)
        sent = 0
        for path in paths:
            for item in iter_raw_articles(str(path)):
                await raw_topic.send(key=item.key.encode() if item.key else None, value=item.value)
                sent += 1
        log.warning("demo: published %d sample pages to %s", sent, raw_topic.get_topic_name())
        print(f"demo: published {sent} sample pages; open http://{app.conf.web_host}:{app.conf.web_port}/", flush=True)
