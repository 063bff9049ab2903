"""Category routing from an editable rules file.

Newsrooms disagree about what "economy" or "conflict" means, so the rules are
data (``categories.yaml``) rather than code: an editor changes a keyword list,
the worker picks the change up on the next article (``RulesWatcher``), and a
broken edit never takes routing down (the previous rules stay in force).

Matching works on the folded form of the text (``streams.text.normalize``), is
token-aware (``حرب`` never fires inside ``محارب``), and strips Arabic clitic
prefixes from article tokens (و ف, then ب ل ك, then ال or لل; with
``streams.text.arabic``, the module entity linking uses too) so that
``والاقتصاد`` meets the term ``اقتصاد`` and ``للانتخابات`` meets ``انتخابات``;
a final alif of the indefinite accusative (``حفلاً``) is dropped too.
A term ending in ``*`` matches any token that starts with it (``اقتصاد*`` covers
``اقتصادي`` and ``الاقتصادية``). English tokens also try their singular
without a final ``s``.

Scoring, per category:

* each matched term adds ``weight × (title_weight × n_title + body_weight ×
  n_body)``, where ``n`` is how often the term occurs in that zone, counted at
  most ``max_repeats`` times (a headline is the editor's own summary, so it
  counts double by default; repetition in a long body saturates quickly);
* each entity condition adds ``weight`` per distinct matching entity, at most
  ``max_repeats`` entities;
* at one position the longest matching term wins within a category, so
  ``كأس العالم`` is not also counted as ``كأس``;
* each combination (``all_of`` / ``any_of`` / ``none_of`` term lists and
  ``near``: two terms at most N words apart in one zone) adds its ``weight``
  once when every part holds.

A category is assigned when its score reaches its threshold and at least
``min_relative_score`` × the best score of the article; at most
``max_categories`` are returned, best first (``RuleSet.categorize``).

What the worker publishes comes from ``RuleSet.route``: these scores, the
file's ``force``/``forbid`` conditions and, when the file has a ``model:``
block, the section model's probabilities, merged by
``streams.routing.combine`` (never empty: ``other`` when nothing fits).
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from streams import topics
from streams.text.arabic import MIN_TERM_STEM, readings
from streams.text.normalize import fold

log = logging.getLogger(__name__)

DEFAULT_RULES_PATH = Path(__file__).with_name("categories.yaml")

# Category ids become Kafka topic suffixes and metric labels: lower-case ASCII
# words joined by single hyphens keep them legal and unambiguous everywhere
# ('.' and '_' collide in Kafka metric names).
_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_MAX_ID_LENGTH = 100
_ENTITY_TYPES = frozenset({"PER", "ORG", "LOC", "MISC"})

_TOKEN_RE = re.compile(r"[^\W_]+")
_TERM_TOKEN_RE = re.compile(r"[^\W_]+\*?|\S")
_MIN_STEM = MIN_TERM_STEM  # a clitic is only stripped if this much word remains
_MIN_PREFIX_TERM = 3   # `ab*` would match half the dictionary
_MAX_WEIGHT = 100.0

_TOP_KEYS = {"version", "settings", "model", "categories"}
_SETTING_KEYS = {
    "title_weight", "body_weight", "max_repeats", "max_categories",
    "min_relative_score", "default_threshold",
}
_CATEGORY_KEYS = {"id", "label", "iptc", "description", "threshold", "terms", "entities", "combinations",
                  "force", "forbid"}
_OVERRIDE_KEYS = {"name", "all_of", "any_of", "none_of", "near"}
_MODEL_KEYS = {"file", "min_probability", "fallback_probability", "secondary_probability", "rule_weight",
               "sections"}
_COMBINATION_KEYS = {"name", "weight", "all_of", "any_of", "none_of", "near"}
_NEAR_KEYS = {"terms", "within"}
_MAX_NEAR = 50
_LABEL_KEYS = {"ar", "en"}
_TERM_GROUP_KEYS = {"weight", "ar", "en"}
_ENTITY_KEYS = {"ids", "types", "weight"}


class RulesError(ValueError):
    """The rules file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class RoutingSettings:
    title_weight: float = 2.0
    body_weight: float = 1.0
    max_repeats: int = 3
    max_categories: int = 3
    min_relative_score: float = 0.25
    default_threshold: float = 4.0


@dataclass(frozen=True)
class ModelSettings:
    """How the section model takes part (the rules file's ``model:`` block).

    ``sections`` maps each class of the model to the categories of that
    section, the first being the one an article gets when no rule of the
    section fires.
    """
    sections: tuple[tuple[str, tuple[str, ...]], ...]
    file: str | None = None
    min_probability: float = 0.5
    fallback_probability: float = 0.3
    secondary_probability: float = 0.2
    rule_weight: float = 0.05

    def section_of(self) -> dict[str, str]:
        return {cid: section for section, cids in self.sections for cid in cids}


@dataclass(frozen=True)
class Category:
    id: str
    label_ar: str
    label_en: str
    threshold: float
    iptc: str | None = None
    description: str | None = None

    @property
    def topic(self) -> str:
        return topics.category_topic(self.id)


@dataclass(frozen=True)
class _Term:
    index: int
    category: int
    weight: float
    text: str                                  # as written in the file: shown in hits
    pattern: tuple[tuple[str, bool], ...]      # (folded token, is prefix)


@dataclass(frozen=True)
class _EntityCondition:
    category: int
    ids: frozenset[str]
    types: frozenset[str]
    weight: float


@dataclass(frozen=True)
class _Combination:
    """Boolean condition over terms; adds ``weight`` once when it holds.

    Pattern ids index ``RuleSet._combo_patterns``. ``near`` is a list of
    (pattern a, pattern b, at most this many words between them).
    """
    category: int
    name: str
    weight: float
    all_of: tuple[int, ...] = ()
    any_of: tuple[int, ...] = ()
    none_of: tuple[int, ...] = ()
    near: tuple[tuple[int, int, int], ...] = ()


def topic_for(category_id: str) -> str:
    """Kafka topic that carries the articles of one category."""
    if not isinstance(category_id, str) or not _ID_RE.match(category_id) or len(category_id) > _MAX_ID_LENGTH:
        raise ValueError(f"not a usable category id: {category_id!r}")
    return topics.category_topic(category_id)


# --------------------------------------------------------------------- matching

@lru_cache(maxsize=65536)
def _token_forms(token: str) -> tuple[str, ...]:
    """The token and its readings without clitic prefixes (``streams.text.arabic.readings``).

    English tokens also read without a plural ``s``.
    """
    if token.isascii():
        if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
            return (token, token[:-1])
        return (token,)
    return readings(token, _MIN_STEM)


def _tokens(folded: str) -> list[str]:
    return _TOKEN_RE.findall(folded)


class RuleSet:
    """Compiled rules: term index, entity conditions, thresholds."""

    def __init__(self, categories: Iterable[Category], terms: Iterable[_Term],
                 entity_conditions: Iterable[_EntityCondition], settings: RoutingSettings,
                 source: str = "<rules>", combinations: Iterable[_Combination] = (),
                 combo_patterns: Iterable[tuple[tuple[str, bool], ...]] = (),
                 overrides: Iterable[_Combination] = (), model: ModelSettings | None = None) -> None:
        self.categories: tuple[Category, ...] = tuple(categories)
        self.settings = settings
        self.source = source
        self._terms: tuple[_Term, ...] = tuple(terms)
        self._entity_conditions = tuple(entity_conditions)
        self._by_id = {c.id: c for c in self.categories}
        exact: dict[str, list[_Term]] = {}
        prefix: dict[str, list[_Term]] = {}
        for term in self._terms:
            first, is_prefix = term.pattern[0]
            keys = {first}
            # Terms written with the article (`الأمم المتحدة`) must also meet
            # tokens whose article was fused with a preposition (`للأمم`).
            if not first.isascii() and first.startswith("ال") and len(first) - 2 >= _MIN_STEM:
                keys.add(first[2:])
            for key in keys:
                (prefix if is_prefix else exact).setdefault(key, []).append(term)
        self._exact = {k: tuple(v) for k, v in exact.items()}
        self._prefix = {k: tuple(v) for k, v in prefix.items()}
        self._prefix_lengths = tuple(sorted({len(k) for k in self._prefix}))
        # token -> terms whose first token it matches; news vocabulary repeats a
        # lot, so this turns most lookups into one dict hit.
        self._first_cache: dict[str, tuple[_Term, ...]] = {}
        self._combinations = tuple(combinations)
        # force/forbid conditions: _Combination with name `force:...` / `forbid:...`
        self._overrides = tuple(overrides)
        self._combo_patterns = tuple(combo_patterns)
        self._combo_index = (_PatternIndex(self._combo_patterns)
                             if self._combinations or self._overrides else None)
        self.model = model
        self._section_of = model.section_of() if model is not None else {}

    # ------------------------------------------------------------ public API

    @property
    def category_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(c.topic for c in self.categories)

    def category(self, category_id: str) -> Category:
        return self._by_id[category_id]

    def categorize(self, title: str, body: str, entities: list[dict] | None = None, *,
                   folded_body: str | None = None) -> list[dict]:
        """Categories of one article by the rules' terms alone, best first: [{id, score, hits}].

        ``folded_body`` is the body's matching form when the caller already has
        it (``match_text(body).text`` from entity extraction), to save folding
        the longest text twice per article. The worker calls ``route``, which
        adds the section model, force/forbid and ``other`` to this.
        """
        scored, _, _ = self._rule_scores(title, body, entities, folded_body)
        return self._top(scored)

    def route(self, title: str, body: str, entities: list[dict] | None = None, *,
              language: str | None = None, folded_body: str | None = None, use_model: bool = True,
              probabilities: Mapping[str, float] | None = None) -> list[dict]:
        """The categories an article is published under: never empty (``other`` when nothing fits).

        Rules and the section model combine as ``streams.routing.combine``
        describes; every item says why it is there (``hits``, ``model``, ``via``).
        ``probabilities`` stand in for the model's (evaluation across outlets, tests).
        """
        from streams.routing import combine

        scored, title_tokens, body_tokens = self._rule_scores(title, body, entities, folded_body)
        rule_items = [{"id": category.id, "score": round(score, 3),
                       "hits": [name for name, _ in sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))]}
                      for score, _, category, hits in scored]
        forced: dict[str, list[str]] = {}
        forbidden: dict[str, list[str]] = {}
        if self._overrides:
            zones = self._zones(title_tokens, body_tokens)
            for condition in self._overrides:
                if self._holds(condition, zones):
                    target = forced if condition.name.startswith("force:") else forbidden
                    target.setdefault(self.categories[condition.category].id, []).append(condition.name)
        if not use_model or self.model is None:
            probabilities = None
        elif probabilities is None:
            probabilities = combine.section_probabilities(self.model.file, title, body, language)
        return combine.combine(rule_items, probabilities, forced=forced, forbidden=forbidden,
                               model=self.model, settings=self.settings)

    def _top(self, scored: list) -> list[dict]:
        settings = self.settings
        if not scored:
            return []
        floor = scored[0][0] * settings.min_relative_score
        result = []
        for score, _, category, hits in scored[: settings.max_categories]:
            if score < floor:
                break
            ordered = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
            result.append({"id": category.id, "score": round(score, 3),
                           "hits": [name for name, _ in ordered]})
        return result

    def _rule_scores(self, title: str, body: str, entities: list[dict] | None,
                     folded_body: str | None) -> tuple[list, list[str], list[str]]:
        """Every category reaching its threshold, best first, and the tokens of both zones."""
        settings = self.settings
        ncat = len(self.categories)
        title_tokens = _tokens(fold(title or ""))
        title_counts = self._scan(title_tokens, ncat)
        if folded_body is None:
            folded_body = fold(body or "")
        body_tokens = _tokens(folded_body)
        body_counts = self._scan(body_tokens, ncat)

        contributions: list[dict[str, float]] = [{} for _ in range(ncat)]
        cap = settings.max_repeats
        for index in title_counts.keys() | body_counts.keys():
            term = self._terms[index]
            value = term.weight * (
                settings.title_weight * min(title_counts.get(index, 0), cap)
                + settings.body_weight * min(body_counts.get(index, 0), cap)
            )
            if value > 0:
                hits = contributions[term.category]
                hits[term.text] = hits.get(term.text, 0.0) + value

        if entities and self._entity_conditions:
            self._score_entities(entities, contributions, cap)

        if self._combinations:
            self._score_combinations(title_tokens, body_tokens, contributions)

        scored = []
        for position, (category, hits) in enumerate(zip(self.categories, contributions)):
            if not hits:
                continue
            score = sum(hits.values())
            if score >= category.threshold:
                scored.append((score, position, category, hits))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return scored, title_tokens, body_tokens

    # -------------------------------------------------------------- internals

    def _first_matches(self, token: str) -> tuple[_Term, ...]:
        cached = self._first_cache.get(token)
        if cached is not None:
            return cached
        found: dict[int, _Term] = {}
        for form in _token_forms(token):
            for term in self._exact.get(form, ()):
                found.setdefault(term.index, term)
            for length in self._prefix_lengths:
                if length > len(form):
                    break
                for term in self._prefix.get(form[:length], ()):
                    found.setdefault(term.index, term)
        result = tuple(found.values())
        if len(self._first_cache) > 200_000:
            self._first_cache.clear()
        self._first_cache[token] = result
        return result

    def _scan(self, tokens: list[str], ncat: int) -> Counter:
        """Occurrences of each term, longest match per category and position."""
        counts: Counter = Counter()
        covered = [0] * ncat
        n = len(tokens)
        for i, token in enumerate(tokens):
            candidates = self._first_matches(token)
            if not candidates:
                continue
            best: dict[int, _Term] = {}
            for term in candidates:
                pattern = term.pattern
                length = len(pattern)
                if length > 1:
                    if i + length > n:
                        continue
                    ok = True
                    for offset in range(1, length):
                        text, is_prefix = pattern[offset]
                        other = tokens[i + offset]
                        if not (other.startswith(text) if is_prefix else other == text):
                            ok = False
                            break
                    if not ok:
                        continue
                current = best.get(term.category)
                if current is None or (length, term.weight) > (len(current.pattern), current.weight):
                    best[term.category] = term
            for category, term in best.items():
                if i < covered[category]:
                    continue
                counts[term.index] += 1
                covered[category] = i + len(term.pattern)
        return counts

    def _zones(self, title_tokens: list[str], body_tokens: list[str]) -> list[dict]:
        return [self._combo_index.find(title_tokens), self._combo_index.find(body_tokens)]

    @staticmethod
    def _holds(combo: _Combination, zones: list[dict]) -> bool:
        def present(pid: int) -> bool:
            return any(pid in zone for zone in zones)

        def near(a: int, b: int, within: int) -> bool:
            for zone in zones:
                for start_a, end_a in zone.get(a, ()):
                    for start_b, end_b in zone.get(b, ()):
                        gap = start_b - end_a if start_b >= end_a else start_a - end_b
                        if 0 <= gap <= within:
                            return True
            return False

        if not all(present(p) for p in combo.all_of):
            return False
        if combo.any_of and not any(present(p) for p in combo.any_of):
            return False
        if any(present(p) for p in combo.none_of):
            return False
        return all(near(a, b, n) for a, b, n in combo.near)

    def _score_combinations(self, title_tokens: list[str], body_tokens: list[str],
                            contributions: list[dict[str, float]]) -> None:
        zones = self._zones(title_tokens, body_tokens)
        for combo in self._combinations:
            if self._holds(combo, zones):
                hits = contributions[combo.category]
                hits[combo.name] = hits.get(combo.name, 0.0) + combo.weight

    def _score_entities(self, entities: list[dict], contributions: list[dict[str, float]], cap: int) -> None:
        by_id: dict[str, str | None] = {}
        for entity in entities:
            if not isinstance(entity, Mapping):
                continue
            entity_id = entity.get("id")
            if isinstance(entity_id, str) and entity_id:
                etype = entity.get("type")
                by_id.setdefault(entity_id, etype if isinstance(etype, str) else None)
        if not by_id:
            return
        for condition in self._entity_conditions:
            matched = [eid for eid, etype in by_id.items()
                       if eid in condition.ids or (etype is not None and etype in condition.types)]
            hits = contributions[condition.category]
            for eid in sorted(matched)[:cap]:
                name = f"entity:{eid}"
                hits[name] = hits.get(name, 0.0) + condition.weight


class _PatternIndex:
    """Where each of a set of term patterns occurs in a token list (for combinations).

    Unlike scoring, every pattern is reported at every position it matches:
    a combination asks "does X occur", not "which term explains this word".
    """

    def __init__(self, patterns: tuple[tuple[tuple[str, bool], ...], ...]) -> None:
        self._patterns = patterns
        exact: dict[str, list[int]] = {}
        prefix: dict[str, list[int]] = {}
        for pid, pattern in enumerate(patterns):
            first, is_prefix = pattern[0]
            keys = {first}
            if not first.isascii() and first.startswith("ال") and len(first) - 2 >= _MIN_STEM:
                keys.add(first[2:])
            for key in keys:
                (prefix if is_prefix else exact).setdefault(key, []).append(pid)
        self._exact = exact
        self._prefix = prefix
        self._prefix_lengths = tuple(sorted({len(k) for k in prefix}))
        self._cache: dict[str, tuple[int, ...]] = {}

    def _first(self, token: str) -> tuple[int, ...]:
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        found: set[int] = set()
        for form in _token_forms(token):
            found.update(self._exact.get(form, ()))
            for length in self._prefix_lengths:
                if length > len(form):
                    break
                found.update(self._prefix.get(form[:length], ()))
        result = tuple(sorted(found))
        if len(self._cache) > 200_000:
            self._cache.clear()
        self._cache[token] = result
        return result

    def find(self, tokens: list[str]) -> dict[int, list[tuple[int, int]]]:
        """pattern id -> [(start, end)] token spans, end exclusive."""
        out: dict[int, list[tuple[int, int]]] = {}
        n = len(tokens)
        for i, token in enumerate(tokens):
            for pid in self._first(token):
                pattern = self._patterns[pid]
                length = len(pattern)
                if i + length > n:
                    continue
                if all((tokens[i + k].startswith(text) if is_prefix else tokens[i + k] == text)
                       for k, (text, is_prefix) in enumerate(pattern[1:], 1)):
                    out.setdefault(pid, []).append((i, i + length))
        return out


# ---------------------------------------------------------------------- loading

class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys instead of silently keeping the last."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark) from None
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> RulesError:
        return RulesError(f"{self.source}: {where}: {problem}" if where else f"{self.source}: {problem}")

    def check_keys(self, value: Any, allowed: set[str], where: str, required: Iterable[str] = ()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise self.fail(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        for key in required:
            if key not in value:
                raise self.fail(where, f"missing key {key!r}")
        return value

    def number(self, value: Any, where: str, *, low: float, high: float,
               low_open: bool = False, integer: bool = False) -> float:
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise self.fail(where, f"must be {kind}, got {value!r}")
        if not math.isfinite(value) or value < low or (low_open and value == low) or value > high:
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            raise self.fail(where, f"must be {kind} {bound} and <= {high:g}, got {value!r}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            hint = " (quote it in YAML)" if isinstance(value, (bool, int, float)) else ""
            raise self.fail(where, f"must be non-empty text, got {value!r}{hint}")
        return value.strip()

    def pattern(self, raw: str, where: str) -> tuple[tuple[str, bool], ...]:
        folded = fold(raw).replace("-", " ")
        pieces = _TERM_TOKEN_RE.findall(folded)
        tokens: list[tuple[str, bool]] = []
        for piece in pieces:
            if piece == "*":
                raise self.fail(where, f"term {raw!r}: '*' may only end a word")
            if not _TOKEN_RE.fullmatch(piece.rstrip("*")):
                continue  # punctuation inside a term (`women's`) splits like article text
            is_prefix = piece.endswith("*")
            word = piece.rstrip("*")
            if is_prefix and len(word) < _MIN_PREFIX_TERM:
                raise self.fail(where, f"term {raw!r}: a '*' term needs at least {_MIN_PREFIX_TERM} letters before '*'")
            tokens.append((word, is_prefix))
        if not tokens:
            raise self.fail(where, f"term {raw!r} has no letters or digits to match")
        return tuple(tokens)

    def build(self, data: Any) -> RuleSet:
        if data is None:
            raise self.fail("", "the file is empty")
        top = self.check_keys(data, _TOP_KEYS, "top level", required=("categories",))
        version = top.get("version", 1)
        if version != 1:
            raise self.fail("version", f"unsupported version {version!r} (this code reads version 1)")
        settings = self.settings(top.get("settings") or {})
        raw_categories = top["categories"]
        if not isinstance(raw_categories, list) or not raw_categories:
            raise self.fail("categories", "must be a non-empty list")

        categories: list[Category] = []
        terms: list[_Term] = []
        conditions: list[_EntityCondition] = []
        combinations: list[_Combination] = []
        overrides: list[_Combination] = []
        combo_patterns: dict[tuple, int] = {}
        seen_ids: dict[str, int] = {}
        for position, raw in enumerate(raw_categories):
            where = f"categories[{position}]"
            item = self.check_keys(raw, _CATEGORY_KEYS, where, required=("id", "label"))
            cid = item["id"]
            if not isinstance(cid, str) or not _ID_RE.match(cid) or len(cid) > _MAX_ID_LENGTH:
                raise self.fail(f"{where}.id", (
                    f"{cid!r} cannot be a topic suffix: use lower-case ASCII letters and digits "
                    f"joined by single hyphens, at most {_MAX_ID_LENGTH} characters"))
            if cid in seen_ids:
                raise self.fail(f"{where}.id", f"duplicate id {cid!r} (first used at categories[{seen_ids[cid]}])")
            seen_ids[cid] = position
            where = f"{where} ({cid})"
            label = self.check_keys(item["label"], _LABEL_KEYS, f"{where}.label", required=("ar", "en"))
            threshold = self.number(item.get("threshold", settings.default_threshold), f"{where}.threshold",
                                    low=0.0, high=1e6, low_open=True)
            iptc = item.get("iptc")
            description = item.get("description")
            categories.append(Category(
                id=cid,
                label_ar=self.text(label["ar"], f"{where}.label.ar"),
                label_en=self.text(label["en"], f"{where}.label.en"),
                threshold=float(threshold),
                iptc=self.text(iptc, f"{where}.iptc") if iptc is not None else None,
                description=self.text(description, f"{where}.description") if description is not None else None,
            ))
            self.terms(item.get("terms") or [], position, where, terms)
            self.entities(item.get("entities") or [], position, where, conditions)
            self.combinations(item.get("combinations") or [], position, where, combinations, combo_patterns)
            for kind in ("force", "forbid"):
                self.combinations(item.get(kind) or [], position, where, overrides, combo_patterns, kind=kind)
            if (not any(t.category == position for t in terms) and not any(c.category == position for c in conditions)
                    and not any(c.category == position for c in combinations)):
                raise self.fail(where, "has neither terms, entity conditions nor combinations, so it could never match")
        model = self.model(top["model"], seen_ids) if top.get("model") is not None else None
        return RuleSet(categories, terms, conditions, settings, source=self.source,
                       combinations=combinations, combo_patterns=list(combo_patterns),
                       overrides=overrides, model=model)

    def model(self, raw: Any, known: Mapping[str, int]) -> ModelSettings:
        item = self.check_keys(raw, _MODEL_KEYS, "model", required=("sections",))
        sections = item["sections"]
        if not isinstance(sections, dict) or not sections:
            raise self.fail("model.sections", "must map each section of the model to a list of category ids")
        out = []
        owner: dict[str, str] = {}
        for section, cids in sections.items():
            where = f"model.sections.{section}"
            if not isinstance(section, str) or not section.strip():
                raise self.fail("model.sections", f"section names must be text, got {section!r}")
            if not isinstance(cids, list) or not cids:
                raise self.fail(where, "must be a non-empty list of category ids (the first is the default)")
            for cid in cids:
                if cid not in known:
                    raise self.fail(where, f"unknown category {cid!r} (not among the categories below)")
                if cid in owner:
                    raise self.fail(where, f"category {cid!r} is already in section {owner[cid]!r}")
                owner[cid] = section
            out.append((section, tuple(cids)))
        file = item.get("file")
        if file is not None:
            file = self.text(file, "model.file")
            if not os.path.isabs(file) and self.source not in ("<rules>",) and os.path.exists(self.source):
                file = os.path.join(os.path.dirname(self.source), file)  # relative to the rules file
        probability = {}
        for key, default in (("min_probability", 0.5), ("fallback_probability", 0.3), ("secondary_probability", 0.2)):
            probability[key] = float(self.number(item.get(key, default), f"model.{key}", low=0.0, high=1.0))
        rule_weight = float(self.number(item.get("rule_weight", 0.05), "model.rule_weight", low=0.0, high=10.0))
        return ModelSettings(sections=tuple(out), file=file, rule_weight=rule_weight, **probability)

    def settings(self, raw: Any) -> RoutingSettings:
        item = self.check_keys(raw, _SETTING_KEYS, "settings")
        base = RoutingSettings()
        return RoutingSettings(
            title_weight=float(self.number(item.get("title_weight", base.title_weight),
                                           "settings.title_weight", low=0.0, high=_MAX_WEIGHT)),
            body_weight=float(self.number(item.get("body_weight", base.body_weight),
                                          "settings.body_weight", low=0.0, high=_MAX_WEIGHT, low_open=True)),
            max_repeats=int(self.number(item.get("max_repeats", base.max_repeats),
                                        "settings.max_repeats", low=1, high=1000, integer=True)),
            max_categories=int(self.number(item.get("max_categories", base.max_categories),
                                           "settings.max_categories", low=1, high=1000, integer=True)),
            min_relative_score=float(self.number(item.get("min_relative_score", base.min_relative_score),
                                                 "settings.min_relative_score", low=0.0, high=1.0)),
            default_threshold=float(self.number(item.get("default_threshold", base.default_threshold),
                                                "settings.default_threshold", low=0.0, high=1e6, low_open=True)),
        )

    def terms(self, raw: Any, category: int, where: str, out: list[_Term]) -> None:
        if not isinstance(raw, list):
            raise self.fail(f"{where}.terms", "must be a list of groups (weight + ar/en lists)")
        seen: dict[tuple, str] = {}
        for g, group in enumerate(raw):
            gwhere = f"{where}.terms[{g}]"
            group = self.check_keys(group, _TERM_GROUP_KEYS, gwhere, required=("weight",))
            weight = float(self.number(group["weight"], f"{gwhere}.weight", low=0.0, high=_MAX_WEIGHT, low_open=True))
            if "ar" not in group and "en" not in group:
                raise self.fail(gwhere, "needs an 'ar' or 'en' list of terms")
            for lang in ("ar", "en"):
                words = group.get(lang)
                if words is None:
                    continue
                if not isinstance(words, list):
                    raise self.fail(f"{gwhere}.{lang}", "must be a list of terms")
                for w, word in enumerate(words):
                    twhere = f"{gwhere}.{lang}[{w}]"
                    text = self.text(word, twhere)
                    pattern = self.pattern(text, twhere)
                    # `بنك` and `البنك` match the same words: one of them is a slip
                    first, is_prefix = pattern[0]
                    if not first.isascii() and first.startswith("ال") and len(first) - 2 >= _MIN_STEM:
                        first = first[2:]
                    key = ((first, is_prefix),) + pattern[1:]
                    if key in seen:
                        raise self.fail(twhere, f"term {text!r} repeats {seen[key]!r} of the same category")
                    seen[key] = text
                    out.append(_Term(index=len(out), category=category, weight=weight, text=text, pattern=pattern))

    def combinations(self, raw: Any, category: int, where: str, out: list[_Combination],
                     patterns: dict[tuple, int], kind: str = "combination") -> None:
        """Combinations (``kind`` "combination", with a weight) or force/forbid conditions (no weight)."""
        weighted = kind == "combination"
        key = "combinations" if weighted else kind
        if not isinstance(raw, list):
            raise self.fail(f"{where}.{key}", "must be a list of conditions (all_of/any_of/none_of/near"
                                              + (" + weight)" if weighted else ")"))

        def term_list(value: Any, cwhere: str) -> tuple[int, ...]:
            if not isinstance(value, list) or not value:
                raise self.fail(cwhere, "must be a non-empty list of terms")
            ids = []
            for t, word in enumerate(value):
                twhere = f"{cwhere}[{t}]"
                pattern = self.pattern(self.text(word, twhere), twhere)
                ids.append(patterns.setdefault(pattern, len(patterns)))
            return tuple(ids)

        names: set[str] = set()
        for c, combo in enumerate(raw):
            cwhere = f"{where}.{key}[{c}]"
            if weighted:
                combo = self.check_keys(combo, _COMBINATION_KEYS, cwhere, required=("weight",))
                weight = float(self.number(combo["weight"], f"{cwhere}.weight", low=0.0, high=_MAX_WEIGHT,
                                           low_open=True))
            else:
                combo = self.check_keys(combo, _OVERRIDE_KEYS, cwhere)
                weight = 0.0
            if not any(key in combo for key in ("all_of", "any_of", "near")):
                raise self.fail(cwhere, "needs at least one of 'all_of', 'any_of' or 'near' "
                                        "('none_of' alone would fire on almost every article)")
            name = self.text(combo["name"], f"{cwhere}.name") if "name" in combo else f"{key}[{c}]"
            if name in names:
                raise self.fail(f"{cwhere}.name", f"duplicate combination name {name!r}")
            names.add(name)
            all_of = term_list(combo["all_of"], f"{cwhere}.all_of") if "all_of" in combo else ()
            any_of = term_list(combo["any_of"], f"{cwhere}.any_of") if "any_of" in combo else ()
            none_of = term_list(combo["none_of"], f"{cwhere}.none_of") if "none_of" in combo else ()
            near: list[tuple[int, int, int]] = []
            if "near" in combo:
                raw_near = combo["near"]
                items = raw_near if isinstance(raw_near, list) else [raw_near]
                if not items:
                    raise self.fail(f"{cwhere}.near", "must be a condition {terms: [a, b], within: N} or a list of them")
                for n, cond in enumerate(items):
                    nwhere = f"{cwhere}.near" + (f"[{n}]" if isinstance(raw_near, list) else "")
                    cond = self.check_keys(cond, _NEAR_KEYS, nwhere, required=("terms", "within"))
                    pair = term_list(cond["terms"], f"{nwhere}.terms")
                    if len(pair) != 2:
                        raise self.fail(f"{nwhere}.terms", f"must name exactly two terms, got {len(pair)}")
                    within = int(self.number(cond["within"], f"{nwhere}.within", low=0, high=_MAX_NEAR, integer=True))
                    near.append((pair[0], pair[1], within))
            overlap = set(none_of) & (set(all_of) | set(any_of) | {p for a, b, _ in near for p in (a, b)})
            if overlap:
                raise self.fail(f"{cwhere}.none_of", "repeats a term the combination requires, so it could never fire")
            prefix = "combo" if weighted else kind
            out.append(_Combination(category=category, name=f"{prefix}:{name}", weight=weight, all_of=all_of,
                                    any_of=any_of, none_of=none_of, near=tuple(near)))

    def entities(self, raw: Any, category: int, where: str, out: list[_EntityCondition]) -> None:
        if not isinstance(raw, list):
            raise self.fail(f"{where}.entities", "must be a list of conditions")
        for e, cond in enumerate(raw):
            ewhere = f"{where}.entities[{e}]"
            cond = self.check_keys(cond, _ENTITY_KEYS, ewhere, required=("weight",))
            weight = float(self.number(cond["weight"], f"{ewhere}.weight", low=0.0, high=_MAX_WEIGHT, low_open=True))
            ids = cond.get("ids") or []
            types = cond.get("types") or []
            if not ids and not types:
                raise self.fail(ewhere, "needs 'ids' or 'types'")
            if not isinstance(ids, list) or not all(isinstance(i, str) and i.strip() for i in ids):
                raise self.fail(f"{ewhere}.ids", "must be a list of entity ids such as 'org:nato'")
            if not isinstance(types, list) or any(t not in _ENTITY_TYPES for t in types):
                raise self.fail(f"{ewhere}.types", f"must be a list of entity types from {sorted(_ENTITY_TYPES)}")
            out.append(_EntityCondition(category=category, ids=frozenset(i.strip() for i in ids),
                                        types=frozenset(types), weight=weight))


def parse_rules(data: Any, source: str = "<rules>") -> RuleSet:
    """Build a RuleSet from already-parsed YAML data (a dict)."""
    return _Builder(source).build(data)


def load_rules(path: str | os.PathLike | None = None) -> RuleSet:
    """Read and compile a rules file; the packaged ``categories.yaml`` by default."""
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{source}: cannot read: {exc}") from None
    return rules_from_text(text, source)


def rules_from_bytes(data: bytes | None, source: str = "<rules>") -> RuleSet:
    """Compile a rules document received as bytes (a ``routing.rules`` record)."""
    if data is None:
        raise RulesError(f"{source}: no document (an empty record)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RulesError(f"{source}: not UTF-8 text: {exc}") from None
    return rules_from_text(text, source)


def rules_from_text(text: str, source: str = "<rules>") -> RuleSet:
    """Compile a complete rules document given as YAML text."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulesError(f"{source}: not valid YAML: {where}{problem}") from None
    return parse_rules(data, source)


class RulesWatcher:
    """Hands out the current rules, reloading them when the file changes.

    Checking is a ``stat`` at most every ``check_interval`` seconds, cheap
    enough to call per article. A bad edit is logged and the rules in force are
    kept, so routing never stops because of a typo; ``last_error`` says why.
    The first load must succeed (there is nothing to fall back on).

    Rules can also arrive as whole documents (``apply_document``: records of
    the compacted ``routing.rules`` topic). File and topic are two ways to make
    a change, and the newest change wins: a file edit is dated by its mtime, a
    document by its record timestamp. At run time every change is newer than
    the last, so each one simply replaces the rules in force; after a restart
    the worker loads the file and then replays the topic, where documents
    older than the file are skipped and newer ones are applied.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, check_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path) if path is not None else DEFAULT_RULES_PATH
        self.check_interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._signature = self._stat()
        self._rules = load_rules(self.path)
        self._checked_at = clock()
        self.last_error: RulesError | None = None
        self.reloads = 0
        # where the rules in force come from ("file" or the record's source)
        # and the wall-clock time of that change
        self.origin = "file"
        self.changed_at = self._file_time()

    def _file_time(self) -> float:
        return self._signature[0] / 1e9 if self._signature is not None else 0.0

    def apply_document(self, data: bytes | None, *, source: str, timestamp: float | None = None) -> str:
        """Swap in the rules of a complete YAML document; returns what happened.

        ``None`` (a tombstone) withdraws published rules: the file is in force
        again. Raises RulesError for a document that cannot be used; the rules
        in force are then kept.
        """
        timestamp = time.time() if timestamp is None or timestamp <= 0 else timestamp
        with self._lock:
            if data is None:
                if self.origin == "file":
                    return "tombstone ignored: the file's rules are in force"
                rules = load_rules(self.path)  # RulesError: keep the document's rules
                self._signature = self._stat()
                self._install(rules, "file", max(timestamp, self._file_time()))
                return f"published rules withdrawn, back to {self.path} ({len(rules.categories)} categories)"
            if self.origin == "file" and timestamp < self.changed_at:
                return (f"document from {source} skipped: older than the last edit of {self.path} "
                        f"(the newest change wins)")
            try:
                rules = rules_from_bytes(data, source)
            except RulesError as exc:
                self.last_error = exc
                raise
            self._install(rules, source, timestamp)
            return f"rules from {source} in force ({len(rules.categories)} categories)"

    def _install(self, rules: RuleSet, origin: str, changed_at: float) -> None:
        self._rules = rules
        self.origin = origin
        self.changed_at = changed_at
        self.last_error = None
        self.reloads += 1

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> RuleSet:
        now = self._clock()
        if now - self._checked_at < self.check_interval:
            return self._rules
        with self._lock:
            self._checked_at = now
            signature = self._stat()
            if signature == self._signature:
                return self._rules
            self._signature = signature
            try:
                rules = load_rules(self.path)
            except RulesError as exc:
                self.last_error = exc
                log.error("routing rules not reloaded, keeping the previous ones: %s", exc)
                return self._rules
            self._install(rules, "file", max(self._file_time(), self.changed_at))
            log.info("routing rules reloaded from %s (%d categories)", self.path, len(rules.categories))
            return rules
