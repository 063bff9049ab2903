"""Category routing from an editable rules file.

Newsrooms disagree about what "economy" or "conflict" means, so the rules are
data (``categories.yaml``) rather than code: an editor changes a keyword list,
the worker picks the change up on the next article (``RulesWatcher``), and a
broken edit never takes routing down (the previous rules stay in force).

This module is the compiled form of the file and how it scores an article.
Reading and checking the YAML is ``streams.routing.rules_file``; reloading it
on change is ``streams.routing.watcher``; how a term meets the tokens of an
article (folding, clitics, ``*`` prefixes) is ``streams.routing.matching``.

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

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

from streams import topics
from streams.routing.matching import FirstTokenIndex, Pattern, PatternIndex, continues, word_tokens
from streams.text.normalize import fold

# Category ids become Kafka topic suffixes and metric labels: lower-case ASCII
# words joined by single hyphens keep them legal and unambiguous everywhere
# ('.' and '_' collide in Kafka metric names).
CATEGORY_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_CATEGORY_ID_LENGTH = 100


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
class Term:
    index: int
    category: int
    weight: float
    text: str                                  # as written in the file: shown in hits
    pattern: Pattern                          # (folded token, is prefix) per token


@dataclass(frozen=True)
class EntityCondition:
    category: int
    ids: frozenset[str]
    types: frozenset[str]
    weight: float


@dataclass(frozen=True)
class Combination:
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
    if (not isinstance(category_id, str) or not CATEGORY_ID_RE.match(category_id)
            or len(category_id) > MAX_CATEGORY_ID_LENGTH):
        raise ValueError(f"not a usable category id: {category_id!r}")
    return topics.category_topic(category_id)


class RuleSet:
    """Compiled rules: term index, entity conditions, thresholds."""

    def __init__(self, categories: Iterable[Category], terms: Iterable[Term],
                 entity_conditions: Iterable[EntityCondition], settings: RoutingSettings,
                 source: str = "<rules>", combinations: Iterable[Combination] = (),
                 combo_patterns: Iterable[Pattern] = (),
                 overrides: Iterable[Combination] = (), model: ModelSettings | None = None) -> None:
        self.categories: tuple[Category, ...] = tuple(categories)
        self.settings = settings
        self.source = source
        self._terms: tuple[Term, ...] = tuple(terms)
        self._entity_conditions = tuple(entity_conditions)
        self._by_id = {c.id: c for c in self.categories}
        self._first = FirstTokenIndex((term.pattern, term) for term in self._terms)
        self._combinations = tuple(combinations)
        # force/forbid conditions: Combination with name `force:...` / `forbid:...`
        self._overrides = tuple(overrides)
        self._combo_patterns = tuple(combo_patterns)
        self._combo_index = (PatternIndex(self._combo_patterns)
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
        title_tokens = word_tokens(fold(title or ""))
        title_counts = self._scan(title_tokens, ncat)
        if folded_body is None:
            folded_body = fold(body or "")
        body_tokens = word_tokens(folded_body)
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

    def _scan(self, tokens: list[str], ncat: int) -> Counter:
        """Occurrences of each term, longest match per category and position."""
        counts: Counter = Counter()
        covered = [0] * ncat
        for i, token in enumerate(tokens):
            candidates = self._first.lookup(token)
            if not candidates:
                continue
            best: dict[int, Term] = {}
            for term in candidates:
                length = len(term.pattern)
                if length > 1 and not continues(tokens, i, term.pattern):
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
    def _holds(combo: Combination, zones: list[dict]) -> bool:
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
