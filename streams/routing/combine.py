"""Rules and the section model together: the categories an article is published under.

The section model (``streams.routing.model``) knows five broad newspaper
sections and nothing finer; the rules file knows the fine IPTC categories
and the editors' will. The rules file's ``model:`` block names the categories
of each section. For one article:

1. **forbid** conditions that hold remove their category, whatever else says so;
2. **force** conditions that hold put their category first (``via: force``);
3. the **model decides the section**: its probabilities, weighed with the
   rules' evidence (each section's odds multiplied by ``exp(rule_weight ×
   the best rule score among its categories)``, so that a headline full of
   swimming terms can outvote a 50 % politics guess), pick a section when the
   best reaches ``min_probability`` (or ``fallback_probability`` when no rule
   category fires at all). The section's best rule category comes next
   (``via: model+rules``), or, when no rule of the section fires, the
   section's first category (``via: model``, score 0);
4. **other rule categories** follow, best score first, if they reach
   ``min_relative_score`` of the best rule score and they are either in the
   decided section, in no section (health, environment, education…), or in a
   section that keeps at least ``secondary_probability`` (``via: rules``);
5. when the model is not asked (not Arabic, no ``model:`` block) or unsure,
   the rules rank as they always did;
6. at most ``max_categories`` (forced ones always kept); an article nothing
   fits gets ``other`` (``via: none``), so every article reaches one topic.

Every item keeps its rule ``score`` and ``hits`` and, when the model was
asked, ``model``: the model's own probability of the category's section
(before the rules' evidence is weighed in).
"""

from __future__ import annotations

import logging
import math

from streams import topics
from streams.routing.model import ModelError, is_arabic, shared_model

log = logging.getLogger(__name__)

OTHER = topics.OTHER_CATEGORY
"""The category of an article nothing else fits; published to ``articles.enriched.other``."""

_failed_models: set[str | None] = set()


def section_probabilities(file: str | None, title: str, body: str, language: str | None) -> dict[str, float] | None:
    """The model's section probabilities for an Arabic article, else None.

    ``language`` is the article's detected language when the caller has it; the
    model only sees articles whose letters are mostly Arabic either way. A
    model file that cannot be loaded is logged once and routing goes on with
    the rules alone.
    """
    if language not in (None, "", "ar", "und") or not is_arabic(title, body):
        return None
    if file in _failed_models:
        return None
    try:
        model = shared_model(file)
    except ModelError as exc:
        _failed_models.add(file)
        log.error("section model not loaded, routing by the rules alone: %s", exc)
        return None
    return model.probabilities(title, body)


def weighed(probabilities: dict[str, float], rules: list[dict], section_of: dict[str, str],
            rule_weight: float) -> dict[str, float]:
    """Section probabilities with each section's odds multiplied by exp(rule_weight × its best rule score)."""
    best: dict[str, float] = {}
    for item in rules:
        section = section_of.get(item["id"])
        if section is not None:
            best[section] = max(best.get(section, 0.0), item["score"])
    logits = {s: math.log(max(p, 1e-12)) + rule_weight * best.get(s, 0.0) for s, p in probabilities.items()}
    top = max(logits.values())
    exps = {s: math.exp(v - top) for s, v in logits.items()}
    total = sum(exps.values())
    return {s: v / total for s, v in exps.items()}


def combine(rule_items: list[dict], probabilities: dict[str, float] | None, *, forced: dict[str, list[str]],
            forbidden: dict[str, list[str]], model, settings) -> list[dict]:
    """Merge rule results (best first, all above threshold), model probabilities and overrides."""
    section_of = model.section_of() if model is not None else {}
    sections = dict(model.sections) if model is not None else {}
    rules = [dict(item) for item in rule_items if item["id"] not in forbidden]
    by_id = {item["id"]: item for item in rules}

    def annotated(item: dict, via: str) -> dict:
        item["via"] = via
        section = section_of.get(item["id"])
        if probabilities is not None and section in probabilities:
            item["model"] = round(probabilities[section], 4)
        return item

    result: list[dict] = []
    placed: set[str] = set()
    for cid in sorted(forced, key=lambda c: -by_id[c]["score"] if c in by_id else 0.0):
        if cid in forbidden:
            continue  # forbidding wins over forcing: the safer of two contradicting edits
        item = by_id.get(cid) or {"id": cid, "score": 0.0, "hits": []}
        item["hits"] = list(forced[cid]) + list(item["hits"])
        result.append(annotated(item, "force"))
        placed.add(cid)

    decided = None
    posterior = None
    if probabilities is not None and sections:
        posterior = weighed({s: p for s, p in probabilities.items() if s in sections}, rules, section_of,
                            model.rule_weight)
        ranked = sorted(((p, s) for s, p in posterior.items()), key=lambda ps: (-ps[0], ps[1]))
        if ranked:
            p, section = ranked[0]
            allowed = [c for c in sections[section] if c not in forbidden]
            floor = model.min_probability if rules else min(model.min_probability, model.fallback_probability)
            if allowed and p >= floor:
                decided = section
                primary = next((item for item in rules if section_of.get(item["id"]) == section), None)
                if primary is None:
                    primary = {"id": allowed[0], "score": 0.0, "hits": []}
                    via = "model"
                else:
                    via = "model+rules"
                if primary["id"] not in placed:
                    result.append(annotated(primary, via))
                    placed.add(primary["id"])

    best = rules[0]["score"] if rules else 0.0
    for item in rules:
        if item["id"] in placed or item["score"] < best * settings.min_relative_score:
            continue
        if decided is not None:
            section = section_of.get(item["id"])
            if section is not None and section != decided and posterior.get(section, 0.0) < model.secondary_probability:
                continue
        result.append(annotated(item, "rules"))
        placed.add(item["id"])

    keep = max(settings.max_categories, sum(1 for item in result if item["via"] == "force"))
    result = result[:keep]
    if not result:
        result = [{"id": OTHER, "score": 0.0, "hits": [], "via": "none"}]
    return result
