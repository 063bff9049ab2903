"""Event-time window counting over any mutable mapping.

The worker hands a Faust table in as the mapping; tests hand a dict. Keeping the
arithmetic here, free of Kafka, is what lets a brute-force recount check it.

State layout: mentions are counted once, into a pane (the largest slice of time
that every window is made of, 5 minutes with the default windows), keyed by
pane start and entity. An open window is the sum of its panes, so a mention
costs one table write however many windows contain it, and no entry holds more
article ids than one entity gets in one pane. When a window closes, its counts
are kept as a small closed entry (no article ids) that later queries, late
mentions and baselines read; panes are dropped once every window over them has
closed. Counting is idempotent per article: an article id already in the pane
adds nothing, so a redelivered message cannot count twice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone

from .score import baseline_and_score

TRENDING_SCHEMA = "trending_window/1"
PANE = "pane"


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A tumbling window (`step == size`) or a hopping one (`step < size`)."""

    size: int
    step: int = 0
    name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError("window size must be positive")
        if self.step == 0:
            object.__setattr__(self, "step", self.size)
        if not 0 < self.step <= self.size:
            raise ValueError("window step must be in (0, size]")
        base = format_duration(self.size)
        object.__setattr__(self, "name", base if self.step == self.size else f"{base}/{format_duration(self.step)}")

    def last_start(self, ts: float) -> int:
        """Start of the latest window of this spec that contains `ts`."""
        return int(ts // self.step) * self.step

    def starts(self, ts: float) -> list[int]:
        """Start times of every window of this spec that contains `ts`."""
        last = self.last_start(ts)
        first = last - self.size + self.step
        return [start for start in range(first, last + 1, self.step) if start <= ts < start + self.size]


def format_duration(seconds: int) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % length == 0:
            return f"{seconds // length}{unit}"
    return f"{seconds}s"


@lru_cache(maxsize=16)
def pane_size(specs: tuple[WindowSpec, ...]) -> int:
    """The longest time slice that tiles every window and every step exactly (once per set of windows)."""
    return math.gcd(*(length for spec in specs for length in (spec.size, spec.step)))


def window_key(spec: WindowSpec, start: int, entity_id: str) -> str:
    return f"{spec.name}|{start}|{entity_id}"


def pane_key(start: int, entity_id: str) -> str:
    return f"{PANE}|{start}|{entity_id}"


@dataclass(frozen=True, slots=True)
class CountResult:
    counted: list[str]
    late: list[str]
    repeated: list[str]


def count_mention(
    store: MutableMapping[str, dict],
    mention: dict,
    specs: Iterable[WindowSpec],
    watermark: float | None,
    partition: int = 0,
) -> CountResult:
    """Add one mention record to every window it falls in (through its pane).

    A window whose end is at or before the watermark is closed: a mention for it
    is late and is reported, not counted. The keys returned name windows.
    """
    specs = tuple(specs)
    ts = float(mention["event_ts"])
    entity_id = mention["entity_id"]
    open_windows, late = [], []
    for spec in specs:
        for start in spec.starts(ts):
            key = window_key(spec, start, entity_id)
            closed = (watermark is not None and start + spec.size <= watermark) or key in store
            (late if closed else open_windows).append(key)
    if not open_windows:
        return CountResult([], late, [])
    size = pane_size(specs)
    start = int(ts // size) * size
    key = pane_key(start, entity_id)
    pane = store.get(key)
    article = mention["article_id"]
    if pane is None:
        pane = {
            "entity_id": entity_id,
            "name": mention.get("name", entity_id),
            "type": mention.get("type", "MISC"),
            "window": PANE,
            "size": size,
            "start": start,
            "mentions": 0,
            "articles": [],
            "sources": [],
            "partition": partition,
        }
    elif article in pane["articles"]:
        return CountResult([], late, open_windows)
    else:
        pane = dict(pane)
    pane["mentions"] = pane["mentions"] + int(mention["mentions"])
    pane["articles"] = [*pane["articles"], article]
    source = mention.get("source") or ""
    if source and source not in pane["sources"]:
        pane["sources"] = [*pane["sources"], source]
    store[key] = pane
    return CountResult(open_windows, late, [])


def open_windows(panes: Iterable[dict], spec: WindowSpec) -> dict[tuple[int, str], dict]:
    """Every window of `spec` over these panes, summed: (start, entity id) -> counts.

    Articles are disjoint across panes (an article has one event time), so their
    counts add; sources are merged as sets.
    """
    sums: dict[tuple[int, str], dict] = {}
    sources: dict[tuple[int, str], set] = defaultdict(set)
    for pane in panes:
        for start in spec.starts(pane["start"]):
            slot = (start, pane["entity_id"])
            total = sums.get(slot)
            if total is None:
                total = sums[slot] = {
                    "entity_id": pane["entity_id"], "name": pane["name"], "type": pane["type"],
                    "window": spec.name, "size": spec.size, "start": start,
                    "mentions": 0, "articles": 0, "sources": 0, "partition": pane["partition"],
                }
            total["mentions"] += pane["mentions"]
            total["articles"] += len(pane["articles"])
            sources[slot].update(pane["sources"])
    for slot, total in sums.items():
        total["sources"] = len(sources[slot])
    return sums


def window_entries(store: Mapping[str, dict], spec: WindowSpec) -> list[dict]:
    """Counts of every window of `spec` in the store, closed and open alike."""
    closed = {}
    panes = []
    for entry in store.values():
        if entry["window"] == spec.name:
            closed[(entry["start"], entry["entity_id"])] = entry
        elif entry["window"] == PANE:
            panes.append(entry)
    still_open = [entry for slot, entry in open_windows(panes, spec).items() if slot not in closed]
    return [*closed.values(), *still_open]


def window_may_end(previous: float | None, watermark: float, specs: Iterable[WindowSpec]) -> bool:
    """Whether the watermark crossed a step boundary since `previous`: only then can a window end."""
    step = min(spec.step for spec in specs)
    return previous is None or watermark // step > previous // step


def close_windows(
    store: MutableMapping[str, dict],
    specs: Iterable[WindowSpec],
    *,
    partition: int,
    watermark: float,
    keep_windows: int,
) -> list[dict]:
    """Close every open window of `partition` that ends at or before the watermark.

    Returns one final record per closed (window, entity), scored against the
    entity's earlier windows. A closed window stays queryable, and serves as
    baseline, for `keep_windows` of its own length in stream time, and at least
    until the panes under it are dropped: with 8 and the default windows, a
    five-minute window lives about a day, a day window 8 days. One retention
    for all (8 days) kept 2,304 five-minute windows per entity for a baseline
    that reads 6, and every close reads the partition's whole table.
    """
    specs = tuple(specs)
    panes: dict[str, list[dict]] = defaultdict(list)
    closed = {}
    for key, entry in list(store.items()):
        if entry.get("partition") != partition:
            continue
        if entry["window"] == PANE:
            panes[entry["entity_id"]].append(entry)
        else:
            closed[key] = entry
    closing = []
    for spec in specs:
        due: set[tuple[int, str]] = set()
        for entity_id, own in panes.items():
            for pane in own:
                last = spec.last_start(pane["start"])
                if last + spec.step > watermark:
                    continue  # not even the earliest window over this pane has ended
                if window_key(spec, last, entity_id) in closed:
                    continue  # windows close in order of their end: the last one closed, so did the rest
                starts = spec.starts(pane["start"])
                due.update((start, entity_id) for start in starts if start + spec.size <= watermark)
        for start, entity_id in due:
            key = window_key(spec, start, entity_id)
            if key not in closed:
                inside = [p for p in panes[entity_id] if start <= p["start"] < start + spec.size]
                closing.append((key, open_windows(inside, spec)[(start, entity_id)]))
    history: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    wanted = {(entry["window"], entry["entity_id"]) for _, entry in closing}
    for entry in closed.values():
        if (entry["window"], entry["entity_id"]) in wanted:
            history[(entry["window"], entry["entity_id"])][entry["start"]] = entry["mentions"]
    for _, entry in closing:
        history[(entry["window"], entry["entity_id"])][entry["start"]] = entry["mentions"]
    finals = []
    for key, entry in sorted(closing, key=lambda item: (item[1]["start"], item[0])):
        store[key] = {**entry, "closed": True}
        baseline, score = baseline_and_score(
            entry["mentions"], history[(entry["window"], entry["entity_id"])], entry["start"], entry["size"],
        )
        end = entry["start"] + entry["size"]
        finals.append({
            "schema": TRENDING_SCHEMA,
            "window": entry["window"],
            "start": _iso(entry["start"]),
            "end": _iso(end),
            "start_ts": entry["start"],
            "end_ts": end,
            "entity_id": entry["entity_id"],
            "name": entry["name"],
            "type": entry["type"],
            "mentions": entry["mentions"],
            "articles": entry["articles"],
            "sources": entry["sources"],
            "baseline": baseline,
            "score": score,
        })
    for pane in (pane for own in panes.values() for pane in own):
        if _last_end(pane["start"], specs) <= watermark:
            del store[pane_key(pane["start"], pane["entity_id"])]
    last_pane = pane_size(specs)
    for key, entry in closed.items():
        end = entry["start"] + entry["size"]
        # Never before its panes are gone: a pane with no closed window over it would close that window again.
        if max(end + entry["size"] * keep_windows, _last_end(end - last_pane, specs)) <= watermark:
            del store[key]
    return finals


def _last_end(pane_start: int, specs: tuple[WindowSpec, ...]) -> int:
    """When the last window over a pane ends: after that nothing reads the pane."""
    return max(spec.last_start(pane_start) + spec.size for spec in specs)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def brute_force_counts(mentions: Iterable[dict], specs: Iterable[WindowSpec]) -> dict[str, dict]:
    """The reference answer: count everything from scratch, once per article."""
    mentions_by_key: dict[str, int] = defaultdict(int)
    articles: dict[str, set] = defaultdict(set)
    specs = list(specs)
    for mention in mentions:
        for spec in specs:
            for start in spec.starts(float(mention["event_ts"])):
                key = window_key(spec, start, mention["entity_id"])
                if mention["article_id"] in articles[key]:
                    continue
                articles[key].add(mention["article_id"])
                mentions_by_key[key] += int(mention["mentions"])
    return {key: {"mentions": mentions_by_key[key], "articles": len(articles[key])} for key in mentions_by_key}
