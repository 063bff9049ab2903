"""The pipeline, stage by stage in data-flow order: what each reads, calls and writes.

This is the one place that says it. The worker's agents take their topics,
batch sizes and dead-letter names from here, the topics a worker creates are
derived from here, and `newsstreams topology` prints it. The functions named
are the pure, Kafka-free cores the stages call; everything around them (Faust
agents, tables, heartbeats) lives in the runtime.

Adding a stage: write its pure function, declare it here, and give it a mover
(`streams/runtime/movers.py`) that moves messages from `reads` to `writes`
through it; `build_app` makes the stage's agent from the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import topics
from .entities.kb_updates import apply_record
from .pipeline import Pipeline, mentions_of
from .routing.watcher import RulesWatcher
from .stories import StoryBook
from .trending.mention_batch import mention_batches
from .trending.windows import advance_windows, count_mention


@dataclass(frozen=True)
class Stage:
    name: str
    """Also the `stage` of its dead letters."""
    reads: str
    writes: tuple[str, ...]
    calls: tuple[Callable, ...]
    """The pure functions that do the stage's work, in the order it calls them."""
    does: str
    keyed_by: str = ""
    """How the records it writes are keyed, which decides their partition."""
    batch: int = 1
    """Records taken at a time (1: one by one)."""
    batch_seconds: float = 0.0
    """How long a partial batch waits for company."""
    state: tuple[str, ...] = ()
    """Tables the stage keeps (changelogged)."""
    every_worker: bool = False
    """Every worker reads the whole topic (control topics), instead of a share of its partitions."""

    @property
    def function_names(self) -> list[str]:
        return [f"{function.__module__}.{function.__qualname__}" for function in self.calls]


CATEGORY_TOPICS = topics.category_topic("<category>")

STAGES: tuple[Stage, ...] = (
    Stage(
        "parse", reads=topics.RAW, writes=(topics.PARSED,), calls=(Pipeline.parse,),
        does="decode, validate, normalise, segment aggregator pages, mark near-duplicates",
        keyed_by="article id", state=("near-duplicates",),
    ),
    Stage(
        "enrich", reads=topics.PARSED, writes=(topics.ENRICHED,), calls=(Pipeline.enrich,),
        does="named entities, linked to canonical ids; categories",
        keyed_by="article id, all on partition 0: the stories that route places need one owner",
    ),
    Stage(
        "route", reads=topics.ENRICHED, writes=(topics.STORIES, CATEGORY_TOPICS, topics.MENTIONS),
        calls=(StoryBook.assign, mentions_of, mention_batches),
        does="join each article to a story (story_id; the story's state to the compacted stories topic), "
             "then send it to its category topics and its mentions to the partition of their entity",
        keyed_by="story id (stories); article id (categories); entity partition (mentions)",
        batch=100, batch_seconds=0.1, state=("stories",),
    ),
    Stage(
        "aggregate", reads=topics.MENTIONS, writes=(topics.TRENDING,), calls=(count_mention, advance_windows),
        does="count mentions in event-time windows; publish each window as it closes",
        keyed_by="entity id", batch=200, batch_seconds=0.2, state=("window-counts",),
    ),
    Stage(
        "kb", reads=topics.KB, writes=(), calls=(apply_record,),
        does="add, change or remove knowledge-base entities at run time", every_worker=True,
    ),
    Stage(
        "rules", reads=topics.ROUTING_RULES, writes=(), calls=(RulesWatcher.apply_document,),
        does="swap in a published routing rules document", every_worker=True,
    ),
)


def stage(name: str) -> Stage:
    for declared in STAGES:
        if declared.name == name:
            return declared
    raise KeyError(f"no stage {name!r}; stages: {', '.join(s.name for s in STAGES)}")


def topic_names(category_ids: Iterable[str] = ()) -> list[str]:
    """Every topic the stages read or write, the category pattern expanded (with `other`), and the dead letters."""
    names: list[str] = []
    for declared in STAGES:
        for name in (declared.reads, *declared.writes):
            expanded = ([topics.category_topic(c) for c in (*category_ids, topics.OTHER_CATEGORY)]
                        if name == CATEGORY_TOPICS else [name])
            names += [n for n in expanded if n not in names]
    if topics.DEADLETTER not in names:
        names.append(topics.DEADLETTER)
    return names


def describe() -> str:
    """The chain as text, one block per stage in data-flow order (like Kafka Streams' `describe()`)."""
    lines = []
    for declared in STAGES:
        taken = f"batches of up to {declared.batch} (or {declared.batch_seconds:g} s)" if declared.batch > 1 else "one by one"
        lines.append(f"{declared.name}: {declared.does}")
        lines.append(f"  reads   {declared.reads}" + ("  (whole topic, every worker)" if declared.every_worker
                                                     else f"  ({taken})"))
        lines.append(f"  calls   {', '.join(declared.function_names)}")
        if declared.writes:
            lines.append(f"  writes  {', '.join(declared.writes)}" + (f"  (keyed by {declared.keyed_by})"
                                                                     if declared.keyed_by else ""))
        if declared.state:
            lines.append(f"  state   {', '.join(declared.state)}")
        lines.append(f"  refused {topics.DEADLETTER} (stage {declared.name!r})")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
