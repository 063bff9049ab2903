"""Near-duplicate detection: syndicated copies of one agency story share most word shingles.

Each body becomes a bottom-k sketch: the `SKETCH_SIZE` smallest hashes of its
4-word shingles, taken on the matching form so that letter variants and
diacritics do not matter. The `LOOKUP_SIZE` smallest are also index keys, so a
copy finds its original with a handful of lookups; a candidate is a duplicate
when the sketches estimate a Jaccard similarity of at least
`SIMILARITY_THRESHOLD`. One hash per shingle keeps this well under a
millisecond per article.

The index is any mutable mapping (a Faust table in the worker), so the same
code runs offline and in the stream.
"""

from __future__ import annotations

import heapq
import re
import zlib
from collections.abc import MutableMapping
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
    return tuple(heapq.nsmallest(SKETCH_SIZE, values))


def similarity(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity of two bodies from their bottom-k sketches."""
    a, b = set(first), set(second)
    union_sketch = heapq.nsmallest(SKETCH_SIZE, a | b)
    if not union_sketch:
        return 0.0
    return sum(1 for value in union_sketch if value in a and value in b) / len(union_sketch)


@dataclass(frozen=True, slots=True)
class DuplicateCheck:
    duplicate_of: str | None
    similarity: float


def check_and_remember(index: MutableMapping[str, dict], article_id: str, body: str, now: float) -> DuplicateCheck:
    """Return the earlier article this body copies, or remember it as an original.

    Index entries: `h:<hash>` -> {id, ts} of the first article whose sketch
    starts with that hash; `s:<id>` -> {sketch, ts}. `ts` (when the article was
    remembered) lets `forget_before` bound the index. The same article id seen
    again is never its own duplicate.
    """
    own = sketch(body)
    if own is None:
        return DuplicateCheck(None, 0.0)
    keys = [f"h:{value:x}" for value in own[:LOOKUP_SIZE]]
    best_id, best = None, 0.0
    candidates = dict.fromkeys(entry["id"] for entry in (index.get(key) for key in keys) if entry)
    for candidate in candidates:
        if candidate == article_id:
            continue
        other = index.get(f"s:{candidate}")
        if other is None:
            continue
        score = similarity(own, tuple(other["sketch"]))
        if score > best:
            best_id, best = candidate, score
    if best_id is not None and best >= SIMILARITY_THRESHOLD:
        return DuplicateCheck(best_id, round(best, 3))
    if f"s:{article_id}" not in index:
        index[f"s:{article_id}"] = {"sketch": list(own), "ts": now}
        for key in keys:
            if key not in index:
                index[key] = {"id": article_id, "ts": now}
    return DuplicateCheck(None, round(best, 3))


def remembered(index: MutableMapping[str, dict], article_id: str) -> bool:
    """Whether this exact article (by id) has been seen before."""
    return f"s:{article_id}" in index


def forget_before(index: MutableMapping[str, dict], cutoff: float) -> int:
    """Drop everything remembered before `cutoff`; returns how many entries went."""
    stale = [key for key, entry in list(index.items()) if entry and entry.get("ts", cutoff) < cutoff]
    for key in stale:
        del index[key]
    return len(stale)
