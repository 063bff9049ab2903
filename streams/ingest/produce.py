"""`newsstreams produce`: read targets, publish their raw bytes to articles.raw.

One bad input never stops the rest: a file that cannot be read, a line or
page over the message limit, a message the broker refuses and a feed that
fails are each reported on stderr with where they came from, and the next
one is sent. The exit status says whether anything was left out.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys

from aiokafka.errors import KafkaError
from tqdm import tqdm

from .. import topics
from ..kafka_io import MAX_MESSAGE_BYTES, BrokerUnavailable, start_producer
from ..text.decode import MAX_PAYLOAD_BYTES
from .feeds import FeedPoller
from .sources import IngestError, estimate_total, iter_raw_articles

FEED_SUFFIXES = (".xml", ".rss", ".atom")
LEFT_OUT = 1
"""Exit status when something was reported and left out while the rest was sent."""


class ProduceError(Exception):
    """Nothing was sent: a target cannot be read, or the broker cannot be reached."""


class Report:
    """What was left out, printed as it happens: one line naming it and why."""

    def __init__(self) -> None:
        self.skipped = 0

    def __call__(self, where: str, reason: str) -> None:
        self.skipped += 1
        print(f"skipped {where}: {reason}", file=sys.stderr, flush=True)


class PagePoller:
    """`--every` on pages and article files: send what is new since the last look."""

    def __init__(self, target: str, *, allow_private: bool = False):
        self.target = target
        self.allow_private = allow_private
        self.last_error: str | None = None
        self._seen: set[str] = set()

    def poll_once(self) -> list:
        self.last_error = None
        problems: list[str] = []
        try:
            items = list(iter_raw_articles(self.target, allow_private=self.allow_private,
                                           on_skip=lambda where, why: problems.append(f"{where}: {why}")))
        except IngestError as exc:
            self.last_error = str(exc)
            return []
        if problems:
            self.last_error = "; ".join(problems)
        fresh = []
        for item in items:
            digest = hashlib.sha1(item.value).hexdigest()
            if digest not in self._seen:
                self._seen.add(digest)
                fresh.append(item)
        return fresh


def _poller_for(target: str, state_path: str | None, allow_private: bool):
    if target.lower().startswith(("http://", "https://")) or target.lower().endswith(FEED_SUFFIXES):
        return FeedPoller(target, state_path=state_path, allow_private=allow_private)
    return PagePoller(target, allow_private=allow_private)


async def _send_all(producer, topic: str, items, progress: tqdm | None, report: Report) -> int:
    """Send every item; the ones over the limit or refused by the broker are reported, not fatal."""
    pending = []
    for item in items:
        if progress is not None:
            progress.update(1)
        if len(item.value) > MAX_PAYLOAD_BYTES:
            report(item.origin, f"message of {len(item.value) / 1048576:.1f} MiB is over the "
                                f"{MAX_PAYLOAD_BYTES // 1048576} MiB limit")
            continue
        try:
            future = await producer.send(topic, value=item.value, key=item.key.encode() if item.key else None)
        except KafkaError as exc:
            report(item.origin, f"not sent: {type(exc).__name__}: {exc}")
            continue
        pending.append((item.origin, future))
    sent = 0
    for origin, future in pending:
        try:
            await future
            sent += 1
        except KafkaError as exc:
            report(origin, f"refused by the broker: {type(exc).__name__}: {exc}")
    return sent


async def produce_targets(
    bootstrap: str, targets: list[str], *, every: int | None, progress: bool, topic: str | None,
    state_path: str | None = None, allow_private: bool = False,
) -> int:
    """Publish every target; `allow_private` lets URLs (and redirects) reach loopback and private addresses."""
    topic = topic or topics.RAW
    # Every target is checked before anything is sent: a typo fails alone, at once.
    for target in targets:
        try:
            iter_raw_articles(target)
        except IngestError as exc:
            raise ProduceError(str(exc)) from None
    try:
        producer = await start_producer(bootstrap, linger_ms=5, max_request_size=MAX_MESSAGE_BYTES)
    except BrokerUnavailable as exc:
        raise ProduceError(str(exc)) from None
    report = Report()
    try:
        if every is None:
            total = 0
            for target in targets:
                bar = tqdm(total=estimate_total(target), desc=target[-40:], unit="article", disable=not progress,
                           file=sys.stderr)
                with bar:
                    try:
                        items = iter_raw_articles(target, on_skip=report, allow_private=allow_private)
                        total += await _send_all(producer, topic, items, bar, report)
                    except IngestError as exc:  # a URL that cannot be fetched
                        report(target, str(exc))
            left_out = f"; {report.skipped} left out (listed above)" if report.skipped else ""
            print(f"published {total} messages to {topic}{left_out}", file=sys.stderr)
            return LEFT_OUT if report.skipped else 0
        pollers = [_poller_for(target, state_path, allow_private) for target in targets]
        while True:
            for poller in pollers:
                await _poll(poller, producer, topic, report)
            await asyncio.sleep(every)
    finally:
        await producer.stop()


async def _poll(poller, producer, topic: str, report: Report) -> None:
    """One look at one target; whatever goes wrong with it is its own line, and the others are polled."""
    try:
        items = poller.poll_once()
        sent = await _send_all(producer, topic, items, None, report)
    except Exception as exc:  # noqa: BLE001 - one feed must never stop the others
        print(f"{poller.target}: 0 new (error: {type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
        return
    status = f"error: {poller.last_error}" if poller.last_error else "ok"
    print(f"{poller.target}: {sent} new ({status})", file=sys.stderr, flush=True)
