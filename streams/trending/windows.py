"""Event-time window counting over any mutable mapping.

The worker hands a Faust table in as the mapping; tests hand a dict. Keeping the
arithmetic here, free of Kafka, is what lets a brute-force recount check it.

State layout: one entry per (window size, window start, entity id) holding the
mention count and the sets of article ids and sources seen. Counting is
idempotent per article: the same article id adds nothing the second time, so a
redelivered message cannot count twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timezone

from .score import baseline_and_score

TRENDING_SCHEMA = "trending_window/1"


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A tumbling window (`step == size`) or a hopping one (`step < size`)."""

    size: int
    step: int = 0

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError("window size must be positive")
        if self.step == 0:
            object.__setattr__(self, "step", self.size)
        if not 0 < self.step <= self.size:
            raise ValueError("window step must be in (0, size]")

    @property
    def name(self) -> str:
        base = format_duration(self.size)
        return base if self.step == self.size else f"{base}/{format_duration(self.step)}"

    def starts(self, ts: float) -> list[int]:
        """Start times of every window of this spec that contains `ts`."""
        last = int(ts // self.step) * self.step
        first = last - self.size + self.step
        return [start for start in range(first, last + 1, self.step) if start <= ts < start + self.size]


def format_duration(seconds: int) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % length == 0:
            return f"{seconds // length}{unit}"
    return f"{seconds}s"


def window_key(spec: WindowSpec, start: int, entity_id: str) -> str:
    return f"{spec.name}|{start}|{entity_id}"


def parse_window_key(key: str) -> tuple[str, int, str]:
    name, start, entity_id = key.split("|", 2)
    return name, int(start), entity_id


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
    """Add one mention record to every window it falls in.

    A window whose end is at or before the watermark is closed: a mention for it
    is late and is reported, not counted.
    """
    counted, late, repeated = [], [], []
    ts = float(mention["event_ts"])
    article = mention["article_id"]
    for spec in specs:
        for start in spec.starts(ts):
            key = window_key(spec, start, mention["entity_id"])
            entry = store.get(key)
            if (watermark is not None and start + spec.size <= watermark) or (entry and entry["closed"]):
                late.append(key)
                continue
            if entry is None:
                entry = {
                    "entity_id": mention["entity_id"],
                    "name": mention.get("name", mention["entity_id"]),
                    "type": mention.get("type", "MISC"),
                    "window": spec.name,
                    "size": spec.size,
                    "start": start,
                    "mentions": 0,
                    "articles": [],
                    "sources": [],
                    "partition": partition,
                    "closed": False,
                }
            elif article in entry["articles"]:
                repeated.append(key)
                continue
            else:
                entry = dict(entry)
            entry["mentions"] = entry["mentions"] + int(mention["mentions"])
            entry["articles"] = [*entry["articles"], article]
            source = mention.get("source") or ""
            if source and source not in entry["sources"]:
                entry["sources"] = [*entry["sources"], source]
            store[key] = entry
            counted.append(key)
    return CountResult(counted, late, repeated)


def close_windows(
    store: MutableMapping[str, dict],
    *,
    partition: int,
    watermark: float,
    retention: float,
) -> list[dict]:
    """Close every open window of `partition` that ends at or before the watermark.

    Returns one final record per closed (window, entity), scored against the
    entity's earlier windows. Closed windows stay queryable for `retention`
    seconds of stream time, then are dropped.
    """
    mine = [(key, entry) for key, entry in list(store.items()) if entry.get("partition") == partition]
    history: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for _, entry in mine:
        history[(entry["window"], entry["entity_id"])][entry["start"]] = entry["mentions"]
    finals = []
    for key, entry in sorted(mine, key=lambda item: (item[1]["start"], item[0])):
        end = entry["start"] + entry["size"]
        if entry["closed"]:
            if end + retention <= watermark:
                del store[key]
            continue
        if end > watermark:
            continue
        store[key] = {**entry, "closed": True}
        baseline, score = baseline_and_score(
            entry["mentions"], history[(entry["window"], entry["entity_id"])], entry["start"], entry["size"],
        )
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
            "articles": len(entry["articles"]),
            "sources": len(entry["sources"]),
            "baseline": baseline,
            "score": score,
        })
    return finals


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
