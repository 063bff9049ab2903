"""An article as weighted terms: what story assignment compares.

Terms are entity ids (``e:<id>``) and content words in their matching form
(`streams.text.normalize.fold`, then the longest proclitic run stripped by
`streams.text.arabic.feature_stem`, so `وبوتين` and `بوتين` meet). A word's
weight is its inverse document frequency in the ANT corpus (`data/idf.tsv.gz`,
built by `streams/tools/build_story_idf.py`; ANT, A. Chouigui, O. Ben Khiroun
and B. Elayeb, Arabian Journal for Science and Engineering 46(8), 2021,
https://antcorpus.github.io), so function words weigh almost nothing without a
stop list and a rare name weighs most. Title words count `TITLE_WEIGHT` times
a body word; only the lead of the body (`BODY_WORDS` words) is read, where an
article says what happened. Entities weigh by type: places are named by most
articles of a region (`LOC_WEIGHT`), people and organisations say more.
The vector is L2-normalised; cosine is then a dot product.
"""

from __future__ import annotations

import gzip
import math
import re
from functools import lru_cache
from importlib import resources

from ..text.arabic import feature_stem
from ..text.normalize import fold

TITLE_WEIGHT = 3.0
BODY_WORDS = 250
ENTITY_WEIGHT = 7.5
LOC_WEIGHT = 3.0
CHARS_PER_WORD = 12
"""Generous: Arabic words average about six letters with the space; a lead is cut at this many per word."""
MIN_WORD = 3
"""Shorter words (after stripping) are mostly particles and fragments."""
VECTOR_TERMS = 60
"""An article keeps its heaviest terms only: what it is about, not every word it uses."""

_WORD_RE = re.compile(r"[^\W\d_]{2,}")


class Idf:
    """Inverse document frequency of folded, stripped words, from the committed ANT table."""

    def __init__(self, documents: int, frequencies: dict[str, int]):
        self.documents = documents
        self.frequencies = frequencies
        self.unknown = math.log((documents + 1) / 1.5)
        """A word the table does not have is rare (the table keeps words seen at least 3 times)."""
        self.weights = {term: math.log((documents + 1) / (df + 0.5)) for term, df in frequencies.items()}

    def __call__(self, term: str) -> float:
        return self.weights.get(term, self.unknown)

    @classmethod
    @lru_cache(maxsize=1)
    def packaged(cls) -> "Idf":
        path = resources.files(__package__).joinpath("data", "idf.tsv.gz")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(1, {})
        lines = gzip.decompress(raw).decode("utf-8").splitlines()
        documents = int(lines[0].split("\t")[1])
        frequencies = {}
        for line in lines[1:]:
            term, _, df = line.partition("\t")
            frequencies[term] = int(df)
        return cls(documents, frequencies)


@lru_cache(maxsize=1 << 17)
def word_term(token: str) -> str | None:
    """The matching form of one folded word, or None for what says nothing (short, particles)."""
    stem = feature_stem(token)
    return stem if len(stem) >= MIN_WORD else None


def words(text: str, limit: int | None = None) -> list[str]:
    if limit is not None:
        text = (text or "")[:limit * CHARS_PER_WORD]  # folding the whole of a long body would be wasted
    tokens = _WORD_RE.findall(fold(text or ""))
    if limit is not None:
        tokens = tokens[:limit]
    return [term for term in map(word_term, tokens) if term]


def article_vector(article: dict, idf: Idf | None = None) -> dict[str, float]:
    """The article's heaviest terms with their weights, L2-normalised (empty: nothing to compare)."""
    idf = idf or Idf.packaged()
    weights: dict[str, float] = {}
    counts: dict[str, int] = {}
    for term in words(article.get("body") or "", BODY_WORDS):
        counts[term] = counts.get(term, 0) + 1
    for term, n in counts.items():
        weights[term] = (1.0 + math.log(n)) * idf(term)
    for term in set(words(article.get("title") or "")):
        weights[term] = weights.get(term, 0.0) + TITLE_WEIGHT * idf(term)
    for entity in article.get("entities") or ():
        entity_id = entity.get("id") if isinstance(entity, dict) else None
        if not entity_id:
            continue
        weight = LOC_WEIGHT if entity.get("type") == "LOC" else ENTITY_WEIGHT
        mentions = entity.get("mentions") or 1
        weights[f"e:{entity_id}"] = weight * (1.0 + math.log(max(1, mentions)))
    top = sorted(weights.items(), key=lambda item: (-item[1], item[0]))[:VECTOR_TERMS]
    norm = math.sqrt(sum(w * w for _, w in top))
    if norm == 0:
        return {}
    return {term: w / norm for term, w in top}


def cosine(vector: dict[str, float], centroid: dict[str, float], centroid_norm: float) -> float:
    if centroid_norm == 0:
        return 0.0
    if len(vector) > len(centroid):
        vector, centroid = centroid, vector
    return sum(w * centroid.get(term, 0.0) for term, w in vector.items()) / centroid_norm
