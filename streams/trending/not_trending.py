"""Which entities of an enriched article may produce a trending mention record.

The tagger is right, by its training data, to find `الله` and `الإسلام`: ANERcorp
tags them as names (MISC). But they, or a preposition the tagger mistook for a
name (`على`), say nothing about what is happening today, and counted as
entities they crowd real news out of the trending tables. This module keeps
them out of the mention records only; the article's `entities` stay as the
extractor found them, and so does `eval-ner`.

Two sets decide, both computed from corpus statistics by
``newsstreams build-trend-filter`` (``streams.tools.build_not_trending``,
which documents the rule) and shipped in ``not_trending.json`` beside this
module:

- ``filtered_forms``: whole names that are not counted (`الله`, `الإسلام`);
- ``function_words``: words that are almost never part of a name; an entity
  whose whole name is made of them (`على`, `وفي`) is not counted. The tagger's
  name propagation (``streams.entities.ner.propagate``) reads the same list,
  so that one such word mistaken for a name is not repeated across a story.

Matching is on the whole name in a folded form, never on a word inside a longer
name: `عبد الله`, `عبدالله` and `حزب الله` are names and are counted. The key
is the project's matching form (``fold_phrase``: hamza and alef forms, ta
marbuta, harakat, tatweel, Persian letters), except that alef maksura stays
apart from ya, because `على` (on) and `علي` (Ali) differ only there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from streams.text.normalize import fold_phrase

DATA_FILE = "not_trending.json"
SCHEMA = "not_trending/1"

_ALEF_MAKSURA = "\u0649"
_KEEP = "\ue000"  # a private-use stand-in that folding leaves alone

__all__ = ["TrendFilter", "counts_for_trending", "packaged", "trend_key"]


@lru_cache(maxsize=1 << 15)
def trend_key(name: str) -> str:
    """Folded form of a whole name, with alef maksura kept (see the module docstring)."""
    return fold_phrase(name.replace(_ALEF_MAKSURA, _KEEP)).replace(_KEEP, _ALEF_MAKSURA)


@dataclass(frozen=True)
class TrendFilter:
    """The two sets of the module docstring, as folded keys."""

    filtered_forms: frozenset[str]
    function_words: frozenset[str]

    @classmethod
    def from_document(cls, document: Mapping) -> "TrendFilter":
        """From the JSON document the builder writes; ValueError if it is not one."""
        if not isinstance(document, Mapping) or document.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document")
        forms = document.get("filtered_forms")
        words = document.get("function_words")
        if not _strings(forms) or not _strings(words):
            raise ValueError("filtered_forms and function_words must be lists of strings")
        # Keys are folded again so that a hand-edited file cannot hold a form no name folds to.
        return cls(frozenset(trend_key(f) for f in forms), frozenset(trend_key(w) for w in words))

    def blocks_name(self, name: str) -> bool:
        """True when a name, as a whole, is a filtered form or only function words."""
        key = trend_key(name or "")
        if not key:
            return False
        if key in self.filtered_forms:
            return True
        return all(word in self.function_words for word in key.split())

    def allows(self, entity: Mapping) -> bool:
        """May this entity of an enriched article produce a mention record?"""
        return not self.blocks_name(entity.get("name") or "")


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


@lru_cache(maxsize=1)
def packaged() -> TrendFilter:
    """The filter shipped with the package, read once per process."""
    text = resources.files("streams.trending").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return TrendFilter.from_document(json.loads(text))


def counts_for_trending(entities: Iterable[Mapping]) -> list[Mapping]:
    """The entities of an article that may produce trending mention records."""
    allows = packaged().allows
    return [entity for entity in entities if allows(entity)]
