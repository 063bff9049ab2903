"""How well the routing rules agree with hand-labelled articles.

Input is JSON Lines, one article per line: ``body`` (required), ``title``
(optional) and the gold ``category`` (an id of the rules in force, or, when
scoring by sections, a section name). Each article is routed with
``RuleSet.route`` exactly as the worker does (rules, section model, force and
forbid; without entities unless the caller supplies them; ``use_model=False``
for the rules alone), and compared with its gold label:

* the *prediction* of an article is its top-scored category, or ``none`` when
  no category reaches its threshold; precision, recall and F1 per category and
  the confusion table use it;
* macro F1 averages F1 over the categories present in the gold labels (a
  category the file never mentions would only add a meaningless 0 or 1);
* ``accuracy`` counts an article right when its gold category is among the
  routed ones *and* is the top-scored one;
* ``routed_recall`` is the looser share of articles whose gold category is
  among the routed ones at any rank (what a subscriber of that topic sees);
* an article routed to ``other`` alone (nothing fitted) counts as ``none``.

With a sections file (``load_sections``: section -> categories), the same
table is computed a second time at the level of a newspaper's sections: the
top category is replaced by its section (``none`` when it belongs to none),
and so is a gold category; a gold label may also name a section directly.
This is how routing is scored against articles labelled by the section of the
newspaper they appeared in.

Nothing here prints; the command line formats the result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import orjson
import yaml

from streams.routing.combine import OTHER
from streams.routing.rules import RuleSet
from streams.routing.rules_file import read_text_file

NONE = "none"


class LabelledDataError(ValueError):
    """The labelled file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class LabelledArticle:
    line: int
    title: str
    body: str
    category: str
    id: str | None = None


@dataclass(frozen=True)
class CategoryScores:
    id: str
    support: int        # gold articles of this category
    predicted: int      # articles whose top category is this one
    true_positives: int
    precision: float
    recall: float
    f1: float


@dataclass
class RoutingEvaluation:
    articles: int
    accuracy: float
    macro_f1: float
    routed_recall: float
    unrouted: int
    mean_categories: float
    per_category: list[CategoryScores]
    labels: list[str]                                   # rows/columns of the confusion table, gold order
    confusion: dict[str, dict[str, int]]                # gold -> predicted (incl. "none") -> count
    errors: list[dict] = field(default_factory=list)    # the articles counted wrong, for inspection
    sections: "RoutingEvaluation | None" = None         # the same at section level (with a sections file)

    def summary(self) -> dict:
        out = self._summary()
        if self.sections is not None:
            out["strict_macro_f1"] = out["macro_f1"]
            out["sections"] = self.sections._summary()
            out["macro_f1"] = out["sections"]["macro_f1"]
        return out

    def _summary(self) -> dict:
        return {
            "articles": self.articles,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "routed_recall": round(self.routed_recall, 4),
            "unrouted": self.unrouted,
            "mean_categories": round(self.mean_categories, 3),
            "per_category": {
                s.id: {"precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4),
                       "support": s.support}
                for s in self.per_category
            },
        }


class SectionsError(ValueError):
    """The sections file cannot be used; the message names the file."""


def load_sections(path: str | os.PathLike, known: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
    """``sections: {name: [category ids]}`` from a YAML file; every category in one section at most."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SectionsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SectionsError(f"{path}: cannot read: {exc}") from None
    sections = data.get("sections") if isinstance(data, dict) else None
    if not isinstance(sections, dict) or not sections:
        raise SectionsError(f"{path}: expected a mapping 'sections: {{name: [category ids]}}'")
    known = set(known) if known is not None else None
    out: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for name, ids in sections.items():
        if not isinstance(name, str) or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise SectionsError(f"{path}: section {name!r} must be a list of category ids")
        for cid in ids:
            if known is not None and cid not in known:
                raise SectionsError(f"{path}: section {name!r}: unknown category {cid!r}")
            if cid in owner:
                raise SectionsError(f"{path}: category {cid!r} is in sections {owner[cid]!r} and {name!r}")
            owner[cid] = name
        out[name] = tuple(ids)
    return out


def read_labelled(path: str | os.PathLike, known: Iterable[str]) -> list[LabelledArticle]:
    """Parse a labelled JSONL file; every problem names the line it is on."""
    path = Path(path)
    known = set(known)
    text = read_text_file(path, LabelledDataError)
    articles: list[LabelledArticle] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise LabelledDataError(f"{where}: not valid JSON: {exc}") from None
        if not isinstance(item, dict):
            raise LabelledDataError(f"{where}: expected a JSON object, got {type(item).__name__}")
        body = item.get("body")
        if not isinstance(body, str) or not body.strip():
            raise LabelledDataError(f"{where}: missing field 'body' (non-empty text)")
        title = item.get("title", "")
        if title is None:
            title = ""
        if not isinstance(title, str):
            raise LabelledDataError(f"{where}: field 'title' must be text, got {type(title).__name__}")
        category = item.get("category")
        if not isinstance(category, str) or not category.strip():
            raise LabelledDataError(f"{where}: missing field 'category' (the gold category id)")
        category = category.strip()
        if category not in known:
            raise LabelledDataError(
                f"{where}: unknown category {category!r} (the rules know: {', '.join(sorted(known))})")
        article_id = item.get("id")
        articles.append(LabelledArticle(line=number, title=title, body=body, category=category,
                                        id=str(article_id) if article_id is not None else None))
    if not articles:
        raise LabelledDataError(f"{path}: no labelled articles in the file")
    return articles


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def evaluate_routing(rules: RuleSet, articles: list[LabelledArticle],
                     entities_of: Callable[[LabelledArticle], list[dict]] | None = None, *,
                     use_model: bool = True, sections: dict[str, tuple[str, ...]] | None = None) -> RoutingEvaluation:
    """Route every article and score the result against its gold category (and section)."""
    results = []
    for article in articles:
        entities = entities_of(article) if entities_of is not None else []
        result = rules.route(article.title, article.body, entities, use_model=use_model)
        if [c["id"] for c in result] == [OTHER]:
            result = []
        results.append(result)
    if sections is None:
        return _score(rules.category_ids, articles, results)
    # a gold section name cannot be scored strictly: those articles count at section level only
    known = set(rules.category_ids)
    strict = [i for i, a in enumerate(articles) if a.category in known]
    evaluation = (_score(rules.category_ids, [articles[i] for i in strict], [results[i] for i in strict])
                  if strict else None)
    section_of = {cid: name for name, ids in sections.items() for cid in ids}
    for name in sections:
        section_of[name] = name
    # articles whose gold category is in no section (health, weather...) say nothing about sections
    kept = [i for i, a in enumerate(articles) if a.category in section_of]
    if not kept:
        raise LabelledDataError("no article's gold category belongs to a section of the sections file")
    as_sections = [replace(articles[i], category=section_of[articles[i].category]) for i in kept]
    section_results = [[{**c, "id": section_of.get(c["id"], NONE)} for c in results[i]] for i in kept]
    by_section = _score(tuple(sections), as_sections, section_results)
    if evaluation is None:
        evaluation = replace(by_section)
    evaluation.sections = by_section
    return evaluation


def _score(category_ids: Iterable[str], articles: list[LabelledArticle], results: list[list[dict]]) -> RoutingEvaluation:
    order = {cid: i for i, cid in enumerate(category_ids)}
    gold_labels: list[str] = []
    predictions: list[tuple[str, list[str]]] = []
    errors: list[dict] = []
    right = routed_hits = unrouted = total_routed = 0
    for article, result in zip(articles, results):
        routed = [c["id"] for c in result]
        top = routed[0] if routed else NONE
        gold_labels.append(article.category)
        predictions.append((top, routed))
        total_routed += len(routed)
        if not routed:
            unrouted += 1
        if article.category in routed:
            routed_hits += 1
        if top == article.category:
            right += 1
        else:
            errors.append({"line": article.line, "id": article.id, "gold": article.category, "top": top,
                           "routed": [(c["id"], c["score"]) for c in result],
                           "title": article.title[:80] or article.body[:80]})

    gold_set = sorted(set(gold_labels), key=lambda c: order.get(c, len(order)))
    predicted_set = {top for top, _ in predictions if top != NONE}
    labels = gold_set + sorted(predicted_set - set(gold_set), key=lambda c: order.get(c, len(order)))
    confusion: dict[str, dict[str, int]] = {g: {p: 0 for p in labels + [NONE]} for g in gold_set}
    for gold, (top, _) in zip(gold_labels, predictions):
        confusion[gold][top] += 1

    per_category: list[CategoryScores] = []
    for label in labels:
        support = sum(1 for g in gold_labels if g == label)
        predicted = sum(1 for top, _ in predictions if top == label)
        tp = sum(1 for g, (top, _) in zip(gold_labels, predictions) if g == label and top == label)
        precision = _ratio(tp, predicted)
        recall = _ratio(tp, support)
        f1 = _ratio(2 * tp, support + predicted)
        per_category.append(CategoryScores(label, support, predicted, tp, precision, recall, f1))

    n = len(articles)
    in_gold = [s for s in per_category if s.support]
    return RoutingEvaluation(
        articles=n,
        accuracy=_ratio(right, n),
        macro_f1=sum(s.f1 for s in in_gold) / len(in_gold) if in_gold else 0.0,
        routed_recall=_ratio(routed_hits, n),
        unrouted=unrouted,
        mean_categories=total_routed / n if n else 0.0,
        per_category=per_category,
        labels=labels,
        confusion=confusion,
        errors=errors,
    )
