"""`newsstreams produce`: read targets, publish their raw bytes to articles.raw."""

from __future__ import annotations

import asyncio
import hashlib
import sys

from tqdm import tqdm

from .. import topics
from ..kafka_io import BrokerUnavailable, start_producer
from .feeds import FeedPoller
from .sources import IngestError, estimate_total, iter_raw_articles

FEED_SUFFIXES = (".xml", ".rss", ".atom")


class PagePoller:
    """`--every` on pages and article files: send what is new since the last look."""

    def __init__(self, target: str):
        self.target = target
        self.last_error: str | None = None
        self._seen: set[str] = set()

    def poll_once(self) -> list:
        self.last_error = None
        try:
            items = list(iter_raw_articles(self.target))
        except IngestError as exc:
            self.last_error = str(exc)
            return []
        fresh = []
        for item in items:
            digest = hashlib.sha1(item.value).hexdigest()
            if digest not in self._seen:
                self._seen.add(digest)
                fresh.append(item)
        return fresh


def _poller_for(target: str, state_path: str | None):
    if target.lower().startswith(("http://", "https://")) or target.lower().endswith(FEED_SUFFIXES):
        return FeedPoller(target, state_path=state_path)
    return PagePoller(target)


async def _send_all(producer, topic: str, items, progress: tqdm | None) -> int:
    pending = []
    for item in items:
        pending.append(await producer.send(topic, value=item.value, key=item.key.encode() if item.key else None))
        if progress is not None:
            progress.update(1)
    if pending:
        await asyncio.gather(*pending)
    return len(pending)


async def produce_targets(
    bootstrap: str, targets: list[str], *, every: int | None, progress: bool, topic: str | None,
    state_path: str | None = None,
) -> int:
    from ..cli import UsageError

    topic = topic or topics.RAW
    try:
        producer = await start_producer(bootstrap, linger_ms=5)
    except BrokerUnavailable as exc:
        raise UsageError(str(exc)) from None
    try:
        if every is None:
            total = 0
            for target in targets:
                try:
                    expected = estimate_total(target)
                    bar = tqdm(total=expected, desc=target[-40:], unit="article", disable=not progress, file=sys.stderr)
                    with bar:
                        total += await _send_all(producer, topic, iter_raw_articles(target), bar)
                except IngestError as exc:
                    raise UsageError(str(exc)) from None
            print(f"published {total} messages to {topic}", file=sys.stderr)
            return 0
        pollers = [_poller_for(target, state_path) for target in targets]
        while True:
            for poller in pollers:
                items = poller.poll_once()
                sent = await _send_all(producer, topic, items, None)
                status = f"error: {poller.last_error}" if poller.last_error else "ok"
                print(f"{poller.target}: {sent} new ({status})", file=sys.stderr, flush=True)
            await asyncio.sleep(every)
    finally:
        await producer.stop()
