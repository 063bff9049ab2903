"""Near-duplicate detection: syndicated copies of one agency story share most word shingles.

Each body becomes a bottom-k sketch: the `SKETCH_SIZE` smallest hashes of its
4-word shingles, taken on the matching form so that letter variants and
diacritics do not matter. The `LOOKUP_SIZE` smallest also find the article
again, so a copy finds its original with a handful of lookups; a candidate is a
duplicate when the sketches estimate a Jaccard similarity of at least
`SIMILARITY_THRESHOLD`. One hash per shingle keeps a sketch at about 0.4 ms
for a 1,700-character page.

What is stored is one record per original article, its sketch, in any mutable
mapping (a Faust global table in the worker, whose changelog thus carries one
record per article, not one per lookup hash). The lookup is derived from those
records and kept in memory beside them. Both are kept small (a sketch as hex,
the lookup naming each article once), and the oldest records are forgotten
beyond a fixed number, so memory stays bounded whatever the input rate.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass

from .normalize import fold

SHINGLE_WORDS = 4
SKETCH_SIZE = 64
LOOKUP_SIZE = 12
SIMILARITY_THRESHOLD = 0.6
MIN_SHINGLES = 8  # shorter texts are too small to call near-duplicates

_WORD_RE = re.compile(r"\w+")


def shingle_hashes(text: str) -> set[int]:
    """64-bit hashes of the 4-word shingles; two CRC32s keep it fast and stable across processes."""
    words = _WORD_RE.findall(fold(text))
    hashes = set()
    for i in range(len(words) - SHINGLE_WORDS + 1):
        data = " ".join(words[i:i + SHINGLE_WORDS]).encode()
        hashes.add((zlib.crc32(data) << 32) | zlib.crc32(data, 0x9E3779B9))
    return hashes


def sketch(text: str) -> tuple[int, ...] | None:
    """The bottom-k sketch of a body, smallest first; None when too short to compare."""
    values = shingle_hashes(text)
    if len(values) < MIN_SHINGLES:
        return None
    return tuple(sorted(values)[:SKETCH_SIZE])


def similarity(first: Sequence[int], second: Sequence[int]) -> float:
    """Estimated Jaccard similarity of two bodies from their bottom-k sketches."""
    a, b = set(first), set(second)
    union_sketch = sorted(a | b)[:SKETCH_SIZE]
    if not union_sketch:
        return 0.0
    return len((a & b).intersection(union_sketch)) / len(union_sketch)


SKETCH_PREFIX = "s:"


def encode_sketch(values: Sequence[int]) -> str:
    """A sketch as stored: 16 hex digits per hash, a third of the memory of a list of ints."""
    return struct.pack(f">{len(values)}Q", *values).hex()


def decode_sketch(stored) -> tuple[int, ...] | None:
    """The hashes of a stored sketch (hex, or a list of ints as records of an older layout have it)."""
    if isinstance(stored, str):
        try:
            raw = bytes.fromhex(stored)
        except ValueError:
            return None
        if len(raw) % 8:
            return None
        return struct.unpack(f">{len(raw) // 8}Q", raw)
    if isinstance(stored, list) and all(isinstance(value, int) for value in stored):
        return tuple(stored)
    return None


class SketchIndex:
    """Remembered sketches, and the lookup from their smallest hashes to the first article having each.

    `sketches` maps `s:<article id>` to {sketch, ts}, where `ts` is when the
    article was remembered. When the mapping also changes from elsewhere (other
    workers writing to a shared table), `apply` and `rebuild` keep the lookup
    in step with it. A mapping that reports every change to `apply` itself
    (`reports_changes`) is not applied a second time on its own writes.
    """

    def __init__(self, sketches: MutableMapping[str, dict] | None = None, *,
                 rebuild: bool = True, reports_changes: bool = False):
        self.sketches: MutableMapping[str, dict] = {} if sketches is None else sketches
        self._first: dict[int, str] = {}
        self._indexed: dict[str, tuple[float, tuple[int, ...]]] = {}  # article id -> (ts, lookup hashes)
        self._apply_own_writes = not reports_changes
        if rebuild:
            self.rebuild()

    def rebuild(self) -> None:
        self._first.clear()
        self._indexed.clear()
        for key, entry in list(self.sketches.items()):
            self.apply(key, entry)

    def apply(self, key: str, entry: dict | None) -> None:
        """Take one changed record of the mapping into the lookup (None: it was removed)."""
        if not isinstance(key, str) or not key.startswith(SKETCH_PREFIX):
            return
        article_id = key[len(SKETCH_PREFIX):]
        self._unindex(article_id)
        values = decode_sketch(entry.get("sketch")) if isinstance(entry, dict) else None
        if not values:
            return
        ts = float(entry.get("ts") or 0.0)
        hashes = values[:LOOKUP_SIZE]
        self._indexed[article_id] = (ts, hashes)
        for value in hashes:
            first = self._first.get(value)
            # Strictly earlier only: among articles remembered at the same moment
            # the one seen first keeps the hash, as arrival order had it.
            if first is None or ts < self._indexed[first][0]:
                self._first[value] = article_id

    def _unindex(self, article_id: str) -> None:
        _ts, hashes = self._indexed.pop(article_id, (0.0, ()))
        for value in hashes:
            if self._first.get(value) == article_id:
                del self._first[value]

    def candidates(self, hashes: Iterable[int]) -> list[str]:
        """Articles found by these hashes, each once, in the order of the hashes."""
        found = (self._first.get(value) for value in hashes)
        return list(dict.fromkeys(first for first in found if first is not None))

    def sketch_of(self, article_id: str) -> tuple[int, ...] | None:
        entry = self.sketches.get(SKETCH_PREFIX + article_id)
        return decode_sketch(entry.get("sketch")) if isinstance(entry, dict) else None

    def __contains__(self, article_id: str) -> bool:
        return SKETCH_PREFIX + article_id in self.sketches

    def remember(self, article_id: str, own: tuple[int, ...], now: float) -> None:
        entry = {"sketch": encode_sketch(own), "ts": now}
        self.sketches[SKETCH_PREFIX + article_id] = entry
        if self._apply_own_writes:
            self.apply(SKETCH_PREFIX + article_id, entry)

    def forget_before(self, cutoff: float) -> int:
        """Drop everything remembered before `cutoff`; returns how many records went."""
        stale = [key for key, entry in list(self.sketches.items()) if entry and entry.get("ts", cutoff) < cutoff]
        return self._forget(stale)

    def forget_oldest(self, keep: int) -> int:
        """Drop the oldest records beyond the newest `keep`, so memory stays bounded at any input rate."""
        excess = len(self.sketches) - keep
        if excess <= 0:
            return 0
        by_age = sorted((entry.get("ts", 0.0) if entry else 0.0, key) for key, entry in list(self.sketches.items()))
        return self._forget([key for _ts, key in by_age[:excess]])

    def _forget(self, keys: list[str]) -> int:
        for key in keys:
            del self.sketches[key]
            if self._apply_own_writes:
                self.apply(key, None)
        return len(keys)


MEMORY_SECONDS = 3 * 86400
"""Sketches older than this (in ingestion time) are forgotten: syndicated copies arrive within days."""
FORGET_EVERY = 1000
"""Articles between two clean-ups: scanning every sketch costs too much to do per article."""


class Forgetting:
    """When a long-running index forgets: every `every` articles, what is older than `memory_seconds`
    and, beyond `capacity` sketches, the oldest, so memory stays bounded at any input rate."""

    def __init__(self, index: SketchIndex, capacity: int, *, memory_seconds: float = MEMORY_SECONDS,
                 every: int = FORGET_EVERY):
        self.index, self.capacity, self.memory_seconds, self.every = index, capacity, memory_seconds, every
        self._seen = 0

    def tick(self, now: float) -> int:
        """One more article read; returns how many sketches were forgotten (0 between clean-ups)."""
        self._seen += 1
        if self._seen % self.every:
            return 0
        return self.index.forget_before(now - self.memory_seconds) + self.index.forget_oldest(self.capacity)


@dataclass(frozen=True, slots=True)
class DuplicateCheck:
    duplicate_of: str | None
    similarity: float


def check_and_remember(index: SketchIndex, article_id: str, body: str, now: float) -> DuplicateCheck:
    """Return the earlier article this body copies, or remember it as an original.

    The same article id seen again is never its own duplicate.
    """
    own = sketch(body)
    if own is None:
        return DuplicateCheck(None, 0.0)
    best_id, best = None, 0.0
    for candidate in index.candidates(own[:LOOKUP_SIZE]):
        if candidate == article_id:
            continue
        other = index.sketch_of(candidate)
        if other is None:
            continue
        score = similarity(own, other)
        if score > best:
            best_id, best = candidate, score
    if best_id is not None and best >= SIMILARITY_THRESHOLD:
        return DuplicateCheck(best_id, round(best, 3))
    if article_id not in index:
        index.remember(article_id, own, now)
    return DuplicateCheck(None, round(best, 3))
