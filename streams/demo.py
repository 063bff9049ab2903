"""`run --demo`: publish the bundled sample pages once the worker is up."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register_demo(app, paths: list[Path]) -> None:
    from .app import raw_topic
    from .ingest.sources import iter_raw_articles

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
