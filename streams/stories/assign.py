"""Online story assignment in event time, over a mutable mapping (a dict, or a worker's changelogged table).

Each article joins the open story whose centroid it is most similar to
(cosine of `features.article_vector` against the story's centroid, at least
`threshold`) or starts a story of its own. A story is open while the
article's event time is within `quiet` (default 48 h) of the story's
first/last article; later it is closed: no article joins it any more and it
leaves the in-memory candidate index.

Keys in the mapping (the `stories` table in a worker):

* ``a/<article id>`` -> the story id the article was given. An article seen
  again (a replay after a restart, a page produced twice) gets the same story
  and changes nothing: assignment is idempotent per article.
* ``s/<story id>`` -> the story's state (`new_story`): counts, members,
  centroid, time buckets for the breaking score.
* ``clock`` -> stream time, the latest event time seen; stories quiet for
  longer than `quiet` behind it are closed, and dropped `keep` later.

A story's id is ``s-`` and the id of the article that started it. For a given
input order everything here is deterministic (no wall clock, no randomness,
ties broken by story id), so a worker that restarts from the changelog and
reads the same records again makes the same stories. The runtime gives the
whole stream one owner (see docs/stories.md: one partition), which is what
makes two workers agree.

Duplicates (`duplicate_of` an article already placed) join their original's
story as copies: counted, but adding no distinct outlet and not moving the
centroid.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from dataclasses import dataclass, field

from .features import Idf, article_vector, cosine

DEFAULT_QUIET = 48 * 3600
DEFAULT_THRESHOLD = 0.20
DEFAULT_SPAN = 72 * 3600
"""A story takes articles for this long after its first one: a story is an event, not a topic. Without
it, a subject in the news every day (the Iran nuclear deal in May 2018) grows into one story of weeks,
its centroid drifting from the decision to every later reaction; see docs/stories.md."""
KEEP_CLOSED = 7 * 86400
"""How long a closed story stays in the table (queryable by id) before it is dropped."""
CENTROID_TERMS = 120
INDEX_TERMS = 40
"""A story is found by its heaviest centroid terms; an article looks up with its own heaviest."""
LOOKUP_TERMS = 25
CANDIDATES = 5
BUCKET_SECONDS = 900
MAX_BUCKETS = 4 * 24 * 4
"""15-minute buckets of outlets, kept for four days: enough for a 24 h window and its recent past."""
MAX_MEMBERS = 200
MAX_ENTITIES = 20
CLOCK_KEY = "clock"
FORGET_EVERY = 3600
"""Stream time between two scans of the table for closed stories to drop."""


def story_key(story_id: str) -> str:
    return f"s/{story_id}"


def article_key(article_id: str) -> str:
    return f"a/{article_id}"


@dataclass
class Assignment:
    story_id: str
    story: dict
    new: bool
    """The article started the story."""
    repeated: bool = False
    """The article had been placed before (a replay): nothing changed."""
    similarity: float = 0.0


@dataclass
class StoryBook:
    """The stories in `store`; `assign` places one article, `expire` closes and forgets quiet stories."""

    store: MutableMapping
    quiet: int = DEFAULT_QUIET
    threshold: float = DEFAULT_THRESHOLD
    span: int = DEFAULT_SPAN
    idf: Idf | None = None
    rebuild_now: bool = field(default=True, repr=False)
    """Build the candidate index from `store` now (a worker's table is empty until recovered: it rebuilds then)."""
    _index: dict[str, dict[str, float]] = field(default_factory=dict)
    _indexed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _forgotten_at: float | None = None

    def __post_init__(self) -> None:
        if self.rebuild_now:
            self.rebuild()

    # -- the candidate index (memory only, rebuilt from the store after a recovery)

    def rebuild(self) -> None:
        self._index.clear()
        self._indexed.clear()
        for key in list(self.store):
            if isinstance(key, str) and key.startswith("s/"):
                story = self.store.get(key)
                if story and not story.get("closed"):
                    self._index_story(story)

    def _index_story(self, story: dict) -> None:
        story_id = story["id"]
        self._unindex(story_id)
        norm = story["centroid_norm"] or 1.0
        top = sorted(story["centroid"].items(), key=lambda i: (-i[1], i[0]))[:INDEX_TERMS]
        self._indexed[story_id] = tuple(term for term, _ in top)
        for term, weight in top:
            self._index.setdefault(term, {})[story_id] = weight / norm

    def _unindex(self, story_id: str) -> None:
        for term in self._indexed.pop(story_id, ()):
            holders = self._index.get(term)
            if holders is not None:
                holders.pop(story_id, None)
                if not holders:
                    del self._index[term]

    @property
    def open_stories(self) -> int:
        return len(self._indexed)

    # -- assignment

    def assign(self, article: dict, ts: float) -> Assignment:
        """Place `article` (an enriched article) published at event time `ts`; the store is updated."""
        article_id = article["id"]
        placed = self.store.get(article_key(article_id))
        if placed is not None:
            story = self.store.get(story_key(placed)) or {}
            return Assignment(placed, story, new=False, repeated=True)
        self._advance_clock(ts)
        original = article.get("duplicate_of")
        if original:
            original_story = self.store.get(article_key(original))
            story = self.store.get(story_key(original_story)) if original_story else None
            if story is not None:
                story = _with_member(story, article, ts, copy=True)
                return self._placed(article_id, story, new=False, similarity=1.0)
        vector = article_vector(article, self.idf)
        best, best_id, best_similarity = None, None, 0.0
        for story_id in self._candidates(vector, ts):
            story = self.store.get(story_key(story_id))
            if story is None or not _open_at(story, ts, self.quiet, self.span):
                continue
            similarity = cosine(vector, story["centroid"], story["centroid_norm"])
            if similarity > best_similarity or (similarity == best_similarity and best_id is not None
                                                and story_id < best_id):
                best, best_id, best_similarity = story, story_id, similarity
        if best is not None and best_similarity >= self.threshold:
            story = _with_member(best, article, ts, copy=False, vector=vector)
            return self._placed(article_id, story, new=False, similarity=best_similarity)
        story = new_story(article, ts, vector)
        return self._placed(article_id, story, new=True, similarity=1.0)

    def _placed(self, article_id: str, story: dict, *, new: bool, similarity: float) -> Assignment:
        self.store[story_key(story["id"])] = story
        self.store[article_key(article_id)] = story["id"]
        self._index_story(story)
        return Assignment(story["id"], story, new=new, similarity=similarity)

    def _candidates(self, vector: dict[str, float], ts: float) -> list[str]:
        """The open stories most likely to be the article's, by a dot product over their indexed terms.

        The index holds each story's heaviest centroid terms with their weight
        (over the centroid's norm), so the sum is a lower bound of the cosine,
        computed without reading a story. Only the best `CANDIDATES` are then
        compared in full: a rare term shared with one story counts as much as
        a common one shared with hundreds.
        """
        scores: dict[str, float] = {}
        for term, weight in sorted(vector.items(), key=lambda i: (-i[1], i[0]))[:LOOKUP_TERMS]:
            for story_id, story_weight in self._index.get(term, {}).items():
                scores[story_id] = scores.get(story_id, 0.0) + weight * story_weight
        ranked = sorted(scores.items(), key=lambda i: (-i[1], i[0]))
        return [story_id for story_id, _ in ranked[:CANDIDATES]]

    # -- event time

    def _advance_clock(self, ts: float) -> None:
        clock = self.store.get(CLOCK_KEY)
        if clock is None or ts > clock:
            self.store[CLOCK_KEY] = ts

    @property
    def clock(self) -> float | None:
        return self.store.get(CLOCK_KEY)

    def expire(self) -> list[dict]:
        """Close the stories quiet for longer than `quiet` behind stream time; drop those closed `KEEP_CLOSED` ago.

        Returns the stories closed now (their final records, `closed` true).
        """
        now = self.clock
        if now is None:
            return []
        closed = []
        for story_id in sorted(self._indexed):
            story = self.store.get(story_key(story_id))
            if story is None:
                self._unindex(story_id)
            elif story["last_ts"] + self.quiet < now:
                story = {**story, "closed": True}
                self.store[story_key(story_id)] = story
                self._unindex(story_id)
                closed.append(story)
        return closed

    def tidy(self) -> list[dict]:
        """`expire`, and once per hour of stream time `forget_closed`: what a stream calls after each batch."""
        closed = self.expire()
        now = self.clock
        if now is not None and (self._forgotten_at is None or now - self._forgotten_at >= FORGET_EVERY):
            self._forgotten_at = now
            self.forget_closed()
        return closed

    def forget_closed(self) -> int:
        """Drop closed stories (and their articles' entries) `KEEP_CLOSED` after they closed. Scans the store."""
        now = self.clock
        if now is None:
            return 0
        dropped = 0
        for key in [k for k in list(self.store) if isinstance(k, str) and k.startswith("s/")]:
            story = self.store.get(key)
            if story and story.get("closed") and story["last_ts"] + self.quiet + KEEP_CLOSED < now:
                for member in story["members"]:
                    self.store.pop(article_key(member["id"]), None)
                del self.store[key]
                dropped += 1
        return dropped


def _open_at(story: dict, ts: float, quiet: int, span: int) -> bool:
    """Whether an article of event time `ts` may join: the story is not quiet, and not older than `span`."""
    return (not story.get("closed") and story["first_ts"] - quiet <= ts <= story["last_ts"] + quiet
            and ts - story["first_ts"] <= span)


def _source(article: dict) -> str:
    source = article.get("source")
    name = source.get("name") if isinstance(source, dict) else source
    return str(name or "")


def _bucket(ts: float) -> str:
    return str(int(ts // BUCKET_SECONDS * BUCKET_SECONDS))


def new_story(article: dict, ts: float, vector: dict[str, float]) -> dict:
    story = {
        "id": f"s-{article['id']}",
        "title": article.get("title") or "",
        "language": article.get("language") or "",
        "first_ts": ts,
        "last_ts": ts,
        "articles": 0,
        "copies": 0,
        "sources": {},
        "entities": {},
        "categories": {},
        "members": [],
        "buckets": {},
        "centroid": {},
        "centroid_norm": 0.0,
        "sums": 0,
        "closed": False,
    }
    return _with_member(story, article, ts, copy=False, vector=vector)


def _with_member(story: dict, article: dict, ts: float, *, copy: bool, vector: dict | None = None) -> dict:
    """A new story dict with `article` added (the stored one is not changed in place: the store may be shared)."""
    if any(member["id"] == article["id"] for member in story["members"]):
        return story  # already counted (a replay whose table writes were half flushed): count it once
    story = dict(story)
    source = _source(article)
    story["articles"] += 1
    sources = dict(story["sources"])
    new_outlet = source not in sources
    sources[source] = sources.get(source, 0) + 1
    story["sources"] = sources
    if copy or not new_outlet:
        story["copies"] += 1
    story["first_ts"] = min(story["first_ts"], ts)
    story["last_ts"] = max(story["last_ts"], ts)
    if not story["title"] and article.get("title"):
        story["title"], story["language"] = article["title"], article.get("language") or ""
    entities = dict(story["entities"])
    for entity in article.get("entities") or ():
        if isinstance(entity, dict) and entity.get("id"):
            held = entities.get(entity["id"])
            entities[entity["id"]] = [entity.get("name") or entity["id"], entity.get("type") or "MISC",
                                      (held[2] if held else 0) + 1]
    if len(entities) > 4 * MAX_ENTITIES:
        entities = dict(sorted(entities.items(), key=lambda i: (-i[1][2], i[0]))[:2 * MAX_ENTITIES])
    story["entities"] = entities
    categories = dict(story["categories"])
    for category in article.get("categories") or ():
        category_id = category.get("id") if isinstance(category, dict) else category
        if category_id:
            categories[category_id] = categories.get(category_id, 0) + 1
    story["categories"] = categories
    member = {"id": article["id"], "url": article.get("url"), "source": source, "title": article.get("title") or "",
              "ts": ts, "copy": bool(copy),
              "categories": [c.get("id") if isinstance(c, dict) else c for c in article.get("categories") or ()]}
    story["members"] = sorted([*story["members"], member], key=lambda m: (m["ts"], m["id"]))[-MAX_MEMBERS:]
    buckets = dict(story["buckets"])
    bucket = dict(buckets.get(_bucket(ts), {}))
    bucket[source] = bucket.get(source, 0) + 1
    buckets[_bucket(ts)] = bucket
    if len(buckets) > MAX_BUCKETS:
        buckets = dict(sorted(buckets.items(), key=lambda i: int(i[0]))[-MAX_BUCKETS:])
    story["buckets"] = buckets
    if vector and not copy:
        story["centroid"], story["centroid_norm"] = _add_to_centroid(story["centroid"], story["sums"], vector)
        story["sums"] += 1
    return story


def _add_to_centroid(centroid: dict[str, float], n: int, vector: dict[str, float]) -> tuple[dict[str, float], float]:
    """The mean of the member vectors, kept to its heaviest `CENTROID_TERMS` terms (rounded: stable JSON)."""
    summed = {term: w * n for term, w in centroid.items()}
    for term, w in vector.items():
        summed[term] = summed.get(term, 0.0) + w
    top = sorted(summed.items(), key=lambda i: (-i[1], i[0]))[:CENTROID_TERMS]
    mean = {term: round(w / (n + 1), 6) for term, w in top}
    return mean, math.sqrt(sum(w * w for w in mean.values()))
