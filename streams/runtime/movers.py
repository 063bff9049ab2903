"""How each stage of `streams.topology` moves its messages: read, call the pure core, send, acknowledge.

A mover is made per stage from its declaration (topics, batch, dead-letter
name) and the worker's `Runtime`. It does no work of its own: the work is in
the functions the topology names, reached through `runtime.pipeline` and the
trending cores, and every call to them goes through `DeadLetters.attempt`, so
a record the work cannot handle is dead-lettered and the stream goes on.

What differs between movers is only how messages move: parse and enrich take
records one by one and send what the work returns to their one output topic
(`transform`); route takes batches and fans out to the category topics and the
mentions' partitions; aggregate takes batches and keeps the windows' state;
kb and rules follow a whole control topic in every worker.

Adding a stage: declare it in `streams/topology.py`, write its pure function,
and give it a mover here (`transform` for one record in, records out).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone

import orjson

from .. import metrics, topics
from ..clock import iso_to_epoch
from ..entities.kb_updates import KbRecordError, apply_record
from ..pipeline import RejectedArticle, event_time, mentions_of
from ..routing.rules_file import RulesError
from ..stories import story_record
from ..stories.assign import story_key
from ..text.dedupe import Forgetting
from ..topology import Stage
from ..trending.mention_batch import mention_batches, read_mention_batch
from ..trending.progress import PartitionWatermark, StageProgress
from ..trending.windows import advance_windows, count_mention, progress_entry, progress_key
from ..trending.write_back import WriteBack
from .dead_letters import REFUSED, log, write_tables_for
from .follow import apply_rules_message, follow_whole_topic
from .progress import headers_of, is_heartbeat, progress_of

Work = Callable[..., "tuple[list[tuple[bytes, bytes]], float | None]"]
"""A transform's work: (key, value) messages to send, and the latest event time among them (None: unknown)."""


def decode_json(payload: bytes) -> dict:
    value = orjson.loads(payload)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def transform(runtime, stage: Stage, work: Callable[[object], tuple], progress: StageProgress, *,
              before: Callable[[], None] | None = None, after: Callable[[object, float | None], None] | None = None,
              heartbeats: bool = True, partition: int | None = None):
    """One record in, the messages `work(event)` returns out to the stage's output topic, one by one.

    The records sent carry the stage's progress header; heartbeats (records
    with progress only) pass the progress on without reaching `work`.
    `before` runs (timed as the stage) ahead of each record, `after` once its
    messages are sent, with the latest event time among them. `partition`
    sends every record to that partition (None: the key decides).
    """
    output = runtime.topic(stage.writes[0])
    dead_letters = runtime.dead_letters

    async def send_messages(event) -> float | None:
        done = await dead_letters.attempt(event, stage.name, work, event)
        if done is REFUSED:
            return None
        messages, latest = done
        headers = headers_of(progress)
        for key, value in messages:
            if await dead_letters.send_output(output, key=key, value=value, event=event, stage=stage.name,
                                              headers=headers, partition=partition):
                metrics.ARTICLES.labels(stage.name).inc()
        return latest

    async def move(stream):
        async for event in stream.events():
            if before is not None:
                with metrics.stage_cpu(stage.name):
                    before()
            latest = None if heartbeats and is_heartbeat(event) else await send_messages(event)
            if after is not None:
                after(event, latest)
            else:
                progress.observe(event.message.partition, progress_of(event))
            await runtime.progress.before_ack(progress, [event])

    return move


def arrival_time(event) -> str:
    """When the raw message reached the broker: the article's ingestion time."""
    timestamp = event.message.timestamp
    moment = datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else datetime.now(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_mover(runtime, stage: Stage):
    """articles.raw -> articles.parsed, one message per article found in a page; near-duplicates marked."""
    pipeline, index, progress = runtime.pipeline, runtime.near_duplicate_index, runtime.progress
    forgetting = Forgetting(index, runtime.settings.dedupe_capacity)

    def parsed_messages(event):
        articles = pipeline.parse(event.value, arrival_time(event), dedupe_index=index)
        messages = [(article["id"].encode(), orjson.dumps(article)) for article in articles]
        return messages, max((event_time(article) for article in articles), default=None)

    def parsed(event, latest: float | None) -> None:
        progress.parsed(event.message.partition, event.message.offset, latest)

    return transform(runtime, stage, parsed_messages, progress.parse,
                     before=lambda: forgetting.tick(time.time()), after=parsed, heartbeats=False)


STORY_PARTITION = 0
"""The one partition of articles.enriched that carries articles: stories need one owner (see route_mover)."""


def enrich_mover(runtime, stage: Stage):
    """articles.parsed -> articles.enriched: entities and categories added; every article to `STORY_PARTITION`."""
    pipeline = runtime.pipeline

    def enriched_message(event):
        enriched = pipeline.enrich(decode_json(event.value))
        ingested_at = enriched.get("ingested_at")
        if ingested_at:
            try:
                metrics.LATENCY.observe(max(0.0, time.time() - iso_to_epoch(ingested_at)))
            except ValueError:
                pass
        return [(enriched["id"].encode(), orjson.dumps(enriched))], None

    return transform(runtime, stage, enriched_message, runtime.progress.enrich, partition=STORY_PARTITION)


def route_mover(runtime, stage: Stage):
    """articles.enriched -> a story for each article, then articles.enriched.<category> and the mentions.

    One mover does all three so that each enriched article is delivered and
    decoded once, and so that the articles reach their category topics with
    their `story_id` (the story stage of SPEC section 1 runs inside route).
    Stories need one owner to be consistent: enrich sends every article to
    partition `STORY_PARTITION` of articles.enriched, so the worker that owns
    it places every article, in that partition's order, in the `stories` table
    (changelogged, its writes all on that partition). The other partitions
    carry only heartbeats. Each changed story is written once per batch, to the
    table and to the compacted `stories` topic. The mentions of a whole batch
    leave as one message per owning partition, so the aggregate stage pays one
    delivery for many articles. A batch is acknowledged only once all of it is
    sent: a worker stopped inside one sends it again, and the counting
    downstream is idempotent; so is story assignment (an article placed keeps
    its story; one whose placement was not yet written is placed again, the
    same way, from the same state).
    """
    attempt, progress = runtime.dead_letters.attempt, runtime.progress
    mentions_topic = runtime.topic(topics.MENTIONS)
    stories_topic = runtime.topic(topics.STORIES)
    partitions = runtime.settings.partitions
    book = runtime.story_book

    def place(article: dict) -> tuple[bytes, str | None]:
        """The article with its story (duplicates of unknown originals and all others are placed)."""
        placed = book.assign(article, event_time(article))
        article["story_id"] = placed.story_id
        return orjson.dumps(article), (None if placed.repeated else placed.story_id)

    async def route_one(event, changed: dict) -> list[dict]:
        article = await attempt(event, stage.name, decode_json, event.value)
        if article is REFUSED:
            return []
        placed = await attempt(event, stage.name, place, article, timed_as="story")
        if placed is REFUSED:
            return []
        value, story_id = placed
        if story_id is not None:
            changed[story_id] = event
        categories = await attempt(event, stage.name, lambda: [c["id"] for c in article.get("categories", ())])
        if categories is not REFUSED:
            for category in categories:
                await runtime.topic(topics.category_topic(category)).send(key=event.key, value=value)
                metrics.ROUTED.labels(category).inc()
        mentions = await attempt(event, "mentions", mentions_of, article, timed_as=stage.name)
        return [] if mentions is REFUSED else mentions

    async def move(stream):
        async for events in stream.noack_take(stage.batch, within=stage.batch_seconds):
            mentions: list[dict] = []
            changed: dict[str, object] = {}
            writes = book.store = WriteBack(runtime.stories)
            try:
                for event in events:
                    if not is_heartbeat(event):
                        mentions += await route_one(event, changed)
                articles = [event for event in events if not is_heartbeat(event)]
                with metrics.stage_cpu("story"):
                    # The changed stories' records first: tidying may close them (a later record says
                    # so) or, for an article far behind stream time, drop its story at once.
                    records = [(story_id, story_record(book.store[story_key(story_id)]))
                               for story_id in sorted(changed)]
                    records += [(story["id"], story_record(story)) for story in (book.tidy() if articles else ())]
            finally:
                book.store = runtime.stories
            for story_id, record in records:
                await stories_topic.send(key=story_id.encode(), value=orjson.dumps(record))
            if records:
                # The table writes follow the records they describe, on the stories' partition.
                write_tables_for(next((e for e in reversed(articles) if e.message.partition == STORY_PARTITION),
                                      articles[-1]))
                with metrics.stage_cpu("story"):
                    writes.flush()
            with metrics.stage_cpu(stage.name):
                outgoing = [(partition, orjson.dumps(batch))
                            for partition, batch in mention_batches(mentions, partitions)]
            # What the batch's records say about progress holds once all their mentions are out.
            headers = headers_of(progress.route)
            for partition, value in outgoing:
                await mentions_topic.send(value=value, partition=partition, headers=headers)
            for event in events:
                progress.route.observe(event.message.partition, progress_of(event))
            await progress.before_ack(progress.route, events)
            for event in events:
                await stream.ack(event)

    return move


def aggregate_mover(runtime, stage: Stage):
    """entities.mentions -> windowed counts; each window closed by the watermark -> trending.entities.

    Windows close on each partition's watermark: the event-time progress of the
    slowest upstream input, less the grace period (`PartitionWatermark`); never
    on the wall clock. Mentions are counted through a write-back overlay: each
    pane an entity touches in a batch is written to the table (and so to its
    changelog) once. A batch is acknowledged only after all of it is counted
    and flushed, and counting is idempotent per article, so nothing counts twice.
    """
    dead_letters, settings = runtime.dead_letters, runtime.settings
    table, index, windows = runtime.window_counts, runtime.window_index, settings.windows
    trending_topic = runtime.topic(topics.TRENDING)

    def read_batch(payload: bytes) -> list[dict]:
        try:
            return read_mention_batch(decode_json(payload))
        except Exception as exc:
            raise RejectedArticle(f"bad mention batch: {type(exc).__name__}: {exc}") from exc

    def count_mentions(mentions: list[dict], partition: int, counts: WriteBack, watermark: float | None):
        """Count mentions into their panes: (closed windows changed, descriptions of late mentions)."""
        late, revised = [], set()
        for mention in mentions:
            metrics.MENTION_RECORDS.inc()
            result = count_mention(counts, mention, windows, watermark, partition, index)
            metrics.MENTIONS.inc(1 if result.counted else 0)
            revised.update(result.revised)
            if result.repeated:
                metrics.REPEATED.inc()
            if result.late:
                metrics.LATE.inc()
                counted = f" (counted in {', '.join(result.counted)})" if result.counted else ""
                late.append(f"{', '.join(result.late)}{counted}")
        return revised, late

    async def count_message(event, partition: int, counts: WriteBack, watermark: float | None) -> set[str]:
        mentions = await dead_letters.attempt(event, stage.name, read_batch, event.value)
        if mentions is REFUSED:
            return set()
        counted = await dead_letters.attempt(event, stage.name, count_mentions, mentions, partition, counts,
                                             watermark)
        if counted is REFUSED:
            return set()
        revised, late = counted
        if late:
            await dead_letters.send(
                event, stage.name,
                f"late: past the windows' allowed lateness (watermark {watermark}): {'; '.join(late)}",
            )
        return revised

    async def count_partition(partition: int, events: list) -> None:
        """Count one partition's share of a batch in offset order, advance its windows, write what changed once."""
        index.ensure(table, partition)
        part_key = progress_key(partition)
        state = table.get(part_key)
        clock = PartitionWatermark.from_entry(state, runtime.progress.partitions_of(topics.ENRICHED), settings.grace)
        counts = WriteBack(table)
        revised: set[str] = set()
        for event in events:
            if not is_heartbeat(event):
                revised |= await count_message(event, partition, counts, clock.previous)
            clock.observe(progress_of(event))
        advanced = clock.advanced()
        published = []
        if revised or advanced != clock.previous:
            published = await dead_letters.attempt(
                events[-1], stage.name, advance_windows, counts, windows, partition=partition,
                previous=clock.previous, watermark=advanced, index=index, revised=revised)
            if published is REFUSED:  # the counts are kept; closing is tried again with the next batch
                published, advanced = [], clock.previous
        # Records first, then the table writes that say they were made: a worker stopped in between
        # closes the windows again from the older state it recovers, and publishes them again.
        for record in published:
            await trending_topic.send(key=record["entity_id"].encode(), value=orjson.dumps(record))
            (metrics.WINDOWS_REVISED if record["revision"] else metrics.WINDOWS_CLOSED).labels(record["window"]).inc()
        with metrics.stage_cpu(stage.name):
            new_state = progress_entry(partition, clock.merge.to_dict(), advanced)
            if new_state != (state or {}):
                counts[part_key] = new_state  # written last: after the counts it stands for
            write_tables_for(events[-1])
            counts.flush()
        if advanced is not None:
            metrics.WATERMARK.labels(str(partition)).set(advanced)
        if published:
            log.info("published %d windows on partition %d", len(published), partition)

    async def move(stream):
        async for events in stream.noack_take(stage.batch, within=stage.batch_seconds):
            by_partition = defaultdict(list)
            for event in events:
                by_partition[event.message.partition].append(event)
            for partition, own in by_partition.items():
                await count_partition(partition, own)
            for event in events:
                await stream.ack(event)

    return move


def kb_follower(runtime, stage: Stage):
    """Every worker applies the whole `entities.kb` topic to its knowledge base, without a restart."""
    pipeline = runtime.pipeline

    def apply(message) -> str:
        done = apply_record(pipeline.extractor.kb, message.key, message.value)
        metrics.KB_UPDATES.inc()
        return done

    async def follow() -> None:
        await follow_whole_topic(runtime, stage.reads, apply, refused=KbRecordError, stage=stage.name)

    return follow


def rules_follower(runtime, stage: Stage):
    """Every worker follows the whole `routing.rules` topic and swaps in the rules it carries (see `follow`)."""
    pipeline = runtime.pipeline

    async def follow() -> None:
        if pipeline.rules_are_fixed:  # rules handed in (tests, bench): nothing to swap
            return
        await follow_whole_topic(
            runtime, stage.reads, lambda message: apply_rules_message(pipeline.rules_watcher, message),
            refused=RulesError, stage=stage.name,
        )

    return follow


MOVERS: dict[str, Callable] = {
    "parse": parse_mover,
    "enrich": enrich_mover,
    "route": route_mover,
    "aggregate": aggregate_mover,
    "kb": kb_follower,
    "rules": rules_follower,
}


def attach(runtime, stage: Stage) -> None:
    """Make the stage's agent (a task reading the whole topic, for `every_worker` stages) on the runtime's app."""
    make = MOVERS.get(stage.name)
    if make is None:
        raise LookupError(f"stage {stage.name!r} is declared in streams.topology but has no mover in "
                          f"streams.runtime.movers (known: {', '.join(MOVERS)})")
    mover = make(runtime, stage)
    if stage.every_worker:
        runtime.app.task(mover)
    else:
        runtime.app.agent(runtime.topic(stage.reads), name=stage.name)(mover)
