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
records and kept in memory beside them.
"""

from __future__ import annotations

import re
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
        self._first: dict[int, tuple[float, str]] = {}
        self._hashes: dict[str, tuple[int, ...]] = {}
        self._apply_own_writes = not reports_changes
        if rebuild:
            self.rebuild()

    def rebuild(self) -> None:
        self._first.clear()
        self._hashes.clear()
        for key, entry in list(self.sketches.items()):
            self.apply(key, entry)

    def apply(self, key: str, entry: dict | None) -> None:
        """Take one changed record of the mapping into the lookup (None: it was removed)."""
        if not isinstance(key, str) or not key.startswith(SKETCH_PREFIX):
            return
        article_id = key[len(SKETCH_PREFIX):]
        self._unindex(article_id)
        if not isinstance(entry, dict) or not isinstance(entry.get("sketch"), list):
            return
        ts = float(entry.get("ts") or 0.0)
        hashes = tuple(entry["sketch"][:LOOKUP_SIZE])
        self._hashes[article_id] = hashes
        for value in hashes:
            first = self._first.get(value)
            # Strictly earlier only: among articles remembered at the same moment
            # the one seen first keeps the hash, as arrival order had it.
            if first is None or ts < first[0]:
                self._first[value] = (ts, article_id)

    def _unindex(self, article_id: str) -> None:
        for value in self._hashes.pop(article_id, ()):
            first = self._first.get(value)
            if first is not None and first[1] == article_id:
                del self._first[value]

    def candidates(self, hashes: Iterable[int]) -> list[str]:
        """Articles found by these hashes, each once, in the order of the hashes."""
        found = (self._first.get(value) for value in hashes)
        return list(dict.fromkeys(first[1] for first in found if first is not None))

    def sketch_of(self, article_id: str) -> list[int] | None:
        entry = self.sketches.get(SKETCH_PREFIX + article_id)
        return entry["sketch"] if entry else None

    def __contains__(self, article_id: str) -> bool:
        return SKETCH_PREFIX + article_id in self.sketches

    def remember(self, article_id: str, own: tuple[int, ...], now: float) -> None:
        entry = {"sketch": list(own), "ts": now}
        self.sketches[SKETCH_PREFIX + article_id] = entry
        if self._apply_own_writes:
            self.apply(SKETCH_PREFIX + article_id, entry)

    def forget_before(self, cutoff: float) -> int:
        """Drop everything remembered before `cutoff`; returns how many records went."""
        stale = [key for key, entry in list(self.sketches.items()) if entry and entry.get("ts", cutoff) < cutoff]
        for key in stale:
            del self.sketches[key]
            if self._apply_own_writes:
                self.apply(key, None)
        return len(stale)


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
