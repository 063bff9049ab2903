"""The Faust application: topics, tables and settings, nothing else.

Agents live in `streams.agents` and web views in `streams.web`; importing
`streams.worker` wires them all. The broker address comes from KAFKA_BROKER,
which `newsstreams run` points at the embedded broker before importing this.
"""

from __future__ import annotations

import faust

from . import topics, topology
from .fixes import apply_fixes
from .kafka_io import MAX_MESSAGE_BYTES
from .kafka_security import KafkaSecurity
from .observed_table import ObservedGlobalTable
from .settings import FAUST_BROKER_OPTIONS, Settings
from .text.dedupe import SketchIndex
from .trending.windows import WindowIndex, WindowSpec

settings = Settings.from_env()
apply_fixes(embedded_broker=settings.embedded_broker)

app = faust.App(
    settings.app_id,
    broker=settings.broker or "kafka://127.0.0.1:9092",
    store=settings.store,
    datadir=settings.data_dir,
    autodiscover=False,
    origin="streams",
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    topic_allow_declare=True,
    **FAUST_BROKER_OPTIONS,
    broker_credentials=KafkaSecurity.from_env().faust_credentials(),
    processing_guarantee=settings.processing_guarantee,
    # The check compares offsets a RocksDB store persisted with the broker's end
    # offsets. An in-memory store persists nothing, and the embedded broker reports
    # a partition's end as one past the first record of its last batch: a global
    # table that read the whole batch then looks ahead of the broker and the
    # worker stops with ConsistencyError at the next rebalance.
    recovery_consistency_check=not settings.store.startswith("memory:"),
    stream_wait_empty=False,
    web_enabled=True,
    web_bind=settings.web_host,
    web_host=settings.web_host,
    web_port=settings.web_port,
    canonical_url=settings.web_url or f"http://{settings.web_host}:{settings.web_port}",
    web_in_thread=False,
)

raw_topic = app.topic(topics.RAW, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")
parsed_topic = app.topic(topics.PARSED, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")
enriched_topic = app.topic(topics.ENRICHED, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")
mentions_topic = app.topic(topics.MENTIONS, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")
trending_topic = app.topic(topics.TRENDING, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")
deadletter_topic = app.topic(topics.DEADLETTER, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")

_category_topics: dict[str, faust.TopicT] = {}


def category_topic(category_id: str) -> faust.TopicT:
    """Topics per category are made on first use, so new rules need no restart."""
    topic = _category_topics.get(category_id)
    if topic is None:
        topic = app.topic(
            topics.category_topic(category_id),
            key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw",
        )
        _category_topics[category_id] = topic
    return topic


def declared_topics(category_ids=()) -> dict[str, tuple[int, dict]]:
    """Every topic the topology reads or writes and the tables' changelogs, with partitions and configs."""
    partitions = settings.partitions
    compacted = {"cleanup.policy": "compact"}
    declared = {name: (partitions, {}) for name in topology.topic_names(category_ids)}
    declared[topics.RAW] = (partitions, {"max.message.bytes": str(MAX_MESSAGE_BYTES)})
    for table in (window_counts,):
        declared[table.changelog_topic.get_topic_name()] = (partitions, compacted)
    declared[near_duplicates.changelog_topic.get_topic_name()] = (1, compacted)
    declared[topics.KB] = (1, compacted)
    declared[topics.ROUTING_RULES] = (1, compacted)
    return declared


WINDOW_SPECS: tuple[WindowSpec, ...] = settings.windows

# Per (window, start, entity): counts and the article ids already counted.
window_counts = app.Table(
    "window-counts", default=None, key_type=str,
    help="Mention counts per entity and event-time window",
)
# Sketches of recent articles, for near-duplicate detection: one record per
# original article. Global: a copy must find its original whichever partition
# either arrived on. The lookup by hash is kept in memory beside it, in step
# with every change and rebuilt after each recovery. One partition and a
# recovery buffer of 1 avoid faust-streaming's global-table recovery loop.
# (Built as `app.GlobalTable` builds one, with the observing class.)
near_duplicates = app.tables.add(ObservedGlobalTable(
    app, name="near-duplicates", default=None, key_type=str, beacon=app.tables.beacon,
    partitions=1, recovery_buffer_size=1, standby_buffer_size=1, is_global=True, use_partitioner=True,
    on_change=lambda key, value: near_duplicate_index.apply(key, value),
    help="Bottom-k shingle sketches of recent articles",
))
near_duplicate_index = SketchIndex(near_duplicates, rebuild=False, reports_changes=True)


@near_duplicates.on_recover
async def _rebuild_near_duplicate_lookup() -> None:
    near_duplicate_index.rebuild()


# Which table keys hold which partition's panes and closed windows, by start:
# closing reads only what it closes. Rebuilt whenever the table is recovered.
window_index = WindowIndex()


@window_counts.on_recover
async def _rebuild_window_index() -> None:
    window_index.rebuild(window_counts)
