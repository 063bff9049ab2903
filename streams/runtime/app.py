"""`build_app(settings)`: the Faust application, its topics, tables and agents, made from one settings object.

Nothing happens on import. Building the app switches on the corrections the
broker needs (`streams.fixes`), declares the topics and tables, and makes one
agent per stage of `streams.topology` with the mover `streams.runtime.movers`
has for it; the web views are attached last. Tests and the benchmark build
their own app from their own settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import faust

from .. import topics, topology
from ..fixes import apply_fixes
from ..kafka_io import MAX_MESSAGE_BYTES
from ..kafka_security import KafkaSecurity
from ..pipeline import Pipeline
from ..settings import FAUST_BROKER_OPTIONS, Settings
from ..stories import StoryBook
from ..text.dedupe import SketchIndex
from ..trending.windows import WindowIndex
from .dead_letters import DeadLetters
from .movers import attach as attach_mover
from .observed_table import ObservedGlobalTable
from .progress import Progress
from .web.views import attach as attach_views


def _raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """Values and keys travel as bytes: every stage decodes (and dead-letters) what it reads itself."""
    return app.topic(name, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")


@dataclass
class Runtime:
    """What a worker's agents, timers and views share: built once per worker by `build_app`."""

    settings: Settings
    app: faust.App
    pipeline: Pipeline
    window_counts: faust.types.TableT
    """Per (window, start, entity): counts and the article ids already counted; per partition its progress."""
    near_duplicates: faust.types.TableT
    """Bottom-k sketches of recent articles, one record per original (global: copies meet their original)."""
    near_duplicate_index: SketchIndex
    window_index: WindowIndex = field(default_factory=WindowIndex)
    """Which table keys hold which partition's panes and closed windows; rebuilt on recovery."""
    stories: faust.types.TableT | None = None
    """Each story's state, each article's story, stream time (`streams.stories.assign`); one owner."""
    story_book: StoryBook | None = None
    """Story assignment over `stories`, with its candidate index (memory; rebuilt on recovery)."""
    _topics: dict[str, faust.TopicT] = field(default_factory=dict)
    dead_letters: DeadLetters = field(init=False)
    progress: Progress = field(init=False)
    """The stages' event-time progress: record headers and heartbeats."""

    def __post_init__(self) -> None:
        self.dead_letters = DeadLetters(self.topic(topics.DEADLETTER), self.app.conf.producer_max_request_size)
        self.progress = Progress(self)

    def topic(self, name: str) -> faust.TopicT:
        """The topic of that name; category topics are made on first use, so new rules need no restart."""
        found = self._topics.get(name)
        if found is None:
            found = self._topics[name] = _raw_topic(self.app, name)
        return found

    def table_inputs(self) -> dict[str, int]:
        """Topics whose records stages write tables for, and the partitions they must have (the tables')."""
        return {topics.MENTIONS: self.settings.partitions, topics.ENRICHED: self.settings.partitions}

    def declared_topics(self, category_ids=()) -> dict[str, tuple[int, dict]]:
        """Every topic the topology reads or writes and the tables' changelogs, with partitions and configs."""
        partitions = self.settings.partitions
        compacted = {"cleanup.policy": "compact"}
        declared = {name: (partitions, {}) for name in topology.topic_names(category_ids)}
        declared[topics.RAW] = (partitions, {"max.message.bytes": str(MAX_MESSAGE_BYTES)})
        declared[self.window_counts.changelog_topic.get_topic_name()] = (partitions, compacted)
        declared[self.near_duplicates.changelog_topic.get_topic_name()] = (1, compacted)
        if self.stories is not None and hasattr(self.stories, "changelog_topic"):
            declared[self.stories.changelog_topic.get_topic_name()] = (partitions, compacted)
        declared[topics.STORIES] = (partitions, compacted)
        declared[topics.KB] = (1, compacted)
        declared[topics.ROUTING_RULES] = (1, compacted)
        return declared


def faust_credentials(security: KafkaSecurity):
    """Faust's `broker_credentials` for the worker (None: plaintext)."""
    if security.protocol == "PLAINTEXT":
        return None
    if security.protocol == "SSL":
        return faust.SSLCredentials(security.ssl_context())
    return faust.SASLCredentials(username=security.username, password=security.password,
                                 mechanism=security.mechanism, ssl_context=security.ssl_context())


def build_app(settings: Settings, *, pipeline: Pipeline | None = None) -> Runtime:
    """The worker's Faust app with every stage's agent, its timers and its web views."""
    apply_fixes(embedded_broker=settings.embedded_broker)
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        store=settings.store,
        datadir=settings.data_dir,
        autodiscover=False,
        origin="streams",
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        **FAUST_BROKER_OPTIONS,
        broker_credentials=faust_credentials(KafkaSecurity.from_env(dict(settings.kafka_security))),
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
        canonical_url=settings.canonical_web_url,
        web_in_thread=False,
    )
    window_counts = app.Table("window-counts", default=None, key_type=str,
                              help="Mention counts per entity and event-time window")
    # The lookup by hash is kept in memory beside the sketches, in step with every
    # change (including other workers', through the changelog) and rebuilt after each
    # recovery. One partition and a recovery buffer of 1 avoid faust-streaming's
    # global-table recovery loop. (Built as `app.GlobalTable` builds one, with the observing class.)
    index_holder: list[SketchIndex] = []
    near_duplicates = app.tables.add(ObservedGlobalTable(
        app, name="near-duplicates", default=None, key_type=str, beacon=app.tables.beacon,
        partitions=1, recovery_buffer_size=1, standby_buffer_size=1, is_global=True, use_partitioner=True,
        on_change=lambda key, value: index_holder[0].apply(key, value),
        help="Bottom-k shingle sketches of recent articles",
    ))
    index_holder.append(SketchIndex(near_duplicates, rebuild=False, reports_changes=True))
    stories = app.Table("stories", default=None, key_type=str,
                        help="Stories: each story's state and each article's story (written on one partition)")
    runtime = Runtime(
        settings=settings, app=app,
        pipeline=pipeline or Pipeline(rules_path=settings.routing_rules),
        window_counts=window_counts, near_duplicates=near_duplicates, near_duplicate_index=index_holder[0],
        stories=stories, story_book=StoryBook(stories, quiet=settings.story_quiet, rebuild_now=False),
    )

    @stories.on_recover
    async def _rebuild_story_index() -> None:
        runtime.story_book.rebuild()

    @near_duplicates.on_recover
    async def _rebuild_near_duplicate_lookup() -> None:
        runtime.near_duplicate_index.rebuild()

    @window_counts.on_recover
    async def _rebuild_window_index() -> None:
        runtime.window_index.rebuild(window_counts)

    for declared in topology.STAGES:
        attach_mover(runtime, declared)
    runtime.progress.attach_timer()
    attach_views(runtime)
    return runtime
