"""The breaking score of a story, and the ranked list `GET /stories` and `newsstreams stories` show.

Breaking score, at time `at` for a window `W` (default 6 h):

* *weight* of a stretch of time = distinct outlets that published in it, plus
  `COPY_WEIGHT` (0.25) for each further article (a second article of an outlet,
  a syndicated copy): ten outlets reporting an event say more than one outlet
  publishing it ten times;
* *recent* = the weight of the last window (at - W, at];
* *past* = the weight of the four windows before it, per window: the story's
  own recent past, so that a story that has been running all day at the same
  pace does not outrank one that just erupted;
* *growth* = recent / (1 + past);  *score* = recent x growth.

A story first reported by five outlets in the last six hours scores 25; the
same five outlets after a steady day of five per window scores 25/6 = 4.2; a
lone article scores 1. Buckets are 15 minutes, so windows are counted to the
quarter hour.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from functools import lru_cache

STORY_SCHEMA = "story/1"
MAX_ENTITIES = 20
COPY_WEIGHT = 0.25
PAST_WINDOWS = 4
DEFAULT_WINDOW = 6 * 3600


@lru_cache(maxsize=1 << 16)
def epoch_to_iso(ts: float) -> str:
    """Cached: a story's record repeats its members' and buckets' times batch after batch."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _weight(story: dict, start: float, end: float) -> tuple[float, int, int]:
    """(weight, articles, distinct outlets) of the buckets in (start, end]."""
    outlets: dict[str, int] = {}
    for bucket, by_source in story["buckets"].items():
        if start < int(bucket) <= end:
            for source, n in by_source.items():
                outlets[source] = outlets.get(source, 0) + n
    articles = sum(outlets.values())
    return len(outlets) + COPY_WEIGHT * (articles - len(outlets)), articles, len(outlets)


def breaking(story: dict, *, at: float, window: int = DEFAULT_WINDOW) -> dict:
    """The story's growth at `at`: recent and past weights, growth and score (see the module docstring)."""
    recent, articles, outlets = _weight(story, at - window, at)
    past_total, _, _ = _weight(story, at - (PAST_WINDOWS + 1) * window, at - window)
    past = past_total / PAST_WINDOWS
    growth = recent / (1.0 + past)
    return {"window": _window_name(window), "at": epoch_to_iso(at), "articles": articles, "sources": outlets,
            "recent": round(recent, 4), "past": round(past, 4), "growth": round(growth, 4),
            "score": round(recent * growth, 4)}


def _window_name(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def top_stories(stories: Iterable[dict], *, at: float | None, window: int = DEFAULT_WINDOW, top: int = 10,
                category: str | None = None, entity: str | None = None) -> dict:
    """The `top` stories by breaking score at `at` (None: the latest event time among them).

    `category` keeps the stories with an article of that category, `entity`
    those whose articles name that entity id.
    """
    stories = [s for s in stories if s and (category is None or category in s["categories"])
               and (entity is None or entity in s["entities"])]
    if at is None:
        at = max((s["last_ts"] for s in stories), default=None)
    if at is None:
        return {"at": None, "window": _window_name(window), "stories": []}
    scored = []
    for story in stories:
        if story["first_ts"] > at:
            continue
        growth = breaking(story, at=at, window=window)
        if growth["recent"] > 0:
            scored.append((growth["score"], story["last_ts"], story["id"], story))
    scored.sort(key=lambda item: (-item[0], -item[1], item[2]))
    return {"at": epoch_to_iso(at), "window": _window_name(window),
            "stories": [story_record(story, at=at, window=window) for *_, story in scored[:top]]}


def merge_top(parts: list[dict], top: int) -> dict:
    """Answers of several workers as one (the stories have one owner; a story found twice keeps its newest)."""
    by_id: dict[str, dict] = {}
    for part in parts:
        for record in part.get("stories", ()):
            held = by_id.get(record["id"])
            if held is None or record["last_seen"] > held["last_seen"]:
                by_id[record["id"]] = record
    ranked = sorted(by_id.values(), key=lambda r: (-r["growth"]["score"], r["last_seen"], r["id"]))
    first = next((p for p in parts if p.get("at")), parts[0] if parts else {"at": None, "window": None})
    return {"at": first.get("at"), "window": first.get("window"), "stories": ranked[:top]}


def story_record(story: dict, *, at: float | None = None, window: int = 6 * 3600) -> dict:
    """The `story/1` message of the compacted `stories` topic (and of the HTTP API) for a stored story."""
    top_entities = sorted(story["entities"].items(), key=lambda i: (-i[1][2], i[0]))[:MAX_ENTITIES]
    return {
        "schema": STORY_SCHEMA,
        "id": story["id"],
        "title": story["title"],
        "language": story["language"],
        "first_seen": epoch_to_iso(story["first_ts"]),
        "last_seen": epoch_to_iso(story["last_ts"]),
        "closed": bool(story.get("closed")),
        "articles": story["articles"],
        "sources": len(story["sources"]),
        "copies": story["copies"],
        "outlets": sorted(story["sources"]),
        "entities": [{"id": eid, "name": name, "type": etype, "articles": n}
                     for eid, (name, etype, n) in top_entities],
        "categories": [c for c, _ in sorted(story["categories"].items(), key=lambda i: (-i[1], i[0]))],
        "members": [{"id": m["id"], "url": m["url"], "source": m["source"], "title": m["title"],
                     "published_at": epoch_to_iso(m["ts"]), "copy": m["copy"]} for m in story["members"]],
        "growth": breaking(story, at=story["last_ts"] if at is None else at, window=window),
        "timeline": [{"start": epoch_to_iso(int(start)), "articles": sum(by_source.values()),
                      "sources": len(by_source)}
                     for start, by_source in sorted(story["buckets"].items(), key=lambda i: int(i[0]))],
    }


def category_rates(stories: Iterable[dict], *, at: float | None, window: int = 3600) -> dict:
    """Articles per category published in (at - window, at], from the stories' members (event time).

    `at` None: the latest event time among the stories. Copies count (they
    are articles the category topics carried); a story keeps its latest 200
    members, so a window older than a very large story's latest 200 articles
    undercounts it.
    """
    stories = [s for s in stories if s]
    if at is None:
        at = max((s["last_ts"] for s in stories), default=None)
    counts: dict[str, int] = {}
    if at is not None:
        for story in stories:
            if story["last_ts"] <= at - window or story["first_ts"] > at:
                continue
            for member in story["members"]:
                if at - window < member["ts"] <= at:
                    for category in member.get("categories") or ():
                        counts[category] = counts.get(category, 0) + 1
    ranked = sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    return {"at": None if at is None else epoch_to_iso(at), "window": _window_name(window),
            "categories": [{"id": c, "articles": n, "per_hour": round(n * 3600 / window, 2)} for c, n in ranked]}


def merge_rates(parts: list[dict]) -> dict:
    """Several workers' answers as one: counts added (only the stories' owner has any)."""
    counts: dict[str, int] = {}
    for part in parts:
        for item in part.get("categories", ()):
            counts[item["id"]] = counts.get(item["id"], 0) + item["articles"]
    first = next((p for p in parts if p.get("at")), parts[0])
    ranked = sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    seconds = parse_window_name(first["window"]) if first.get("window") else 3600
    return {"at": first.get("at"), "window": first.get("window"),
            "categories": [{"id": c, "articles": n, "per_hour": round(n * 3600 / seconds, 2)} for c, n in ranked]}


def parse_window_name(name: str) -> int:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return int(name[:-1]) * units[name[-1]]
