"""How well the routing rules agree with hand-labelled articles.

Input is JSON Lines, one article per line: ``body`` (required), ``title``
(optional) and the gold ``category`` (an id of the rules in force). Each
article is routed with ``RuleSet.categorize`` exactly as the worker does
(without entities unless the caller supplies them), and compared with its gold
label:

* the *prediction* of an article is its top-scored category, or ``none`` when
  no category reaches its threshold; precision, recall and F1 per category and
  the confusion table use it;
* macro F1 averages F1 over the categories present in the gold labels (a
  category the file never mentions would only add a meaningless 0 or 1);
* ``accuracy`` counts an article right when its gold category is among the
  routed ones *and* is the top-scored one;
* ``routed_recall`` is the looser share of articles whose gold category is
  among the routed ones at any rank (what a subscriber of that topic sees).

Nothing here prints; the command line formats the result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import orjson

from streams.routing.rules import RuleSet

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

    def summary(self) -> dict:
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


def read_labelled(path: str | os.PathLike, known: Iterable[str]) -> list[LabelledArticle]:
    """Parse a labelled JSONL file; every problem names the line it is on."""
    path = Path(path)
    known = set(known)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelledDataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelledDataError(f"{path}: cannot read: {exc}") from None
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
                     entities_of: Callable[[LabelledArticle], list[dict]] | None = None) -> RoutingEvaluation:
    """Route every article and score the result against its gold category."""
    order = {cid: i for i, cid in enumerate(rules.category_ids)}
    gold_labels: list[str] = []
    predictions: list[tuple[str, list[str]]] = []
    errors: list[dict] = []
    right = routed_hits = unrouted = total_routed = 0
    for article in articles:
        entities = entities_of(article) if entities_of is not None else []
        result = rules.categorize(article.title, article.body, entities)
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
