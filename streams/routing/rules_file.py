"""Reading and checking a rules file (``categories.yaml``) into a ``RuleSet``.

An editor's typo must never take routing down or route silently wrong, so
every problem is refused with the file, the place in it and what is wrong
(``RulesError``): unknown or duplicate keys, numbers out of range, category ids
that cannot be topic suffixes, terms that could never match or repeat another,
combinations that could never fire. What the file means is documented at its
top and in ``streams.routing.rules``.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from streams.routing.matching import TOKEN_RE, without_article
from streams.routing.rules import (
    CATEGORY_ID_RE,
    MAX_CATEGORY_ID_LENGTH,
    Category,
    Combination,
    EntityCondition,
    ModelSettings,
    RoutingSettings,
    RuleSet,
    Term,
)
from streams.text.normalize import fold

DEFAULT_RULES_PATH = Path(__file__).with_name("categories.yaml")

_ENTITY_TYPES = frozenset({"PER", "ORG", "LOC", "MISC"})
_TERM_TOKEN_RE = re.compile(r"[^\W_]+\*?|\S")
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
            if not TOKEN_RE.fullmatch(piece.rstrip("*")):
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
        terms: list[Term] = []
        conditions: list[EntityCondition] = []
        combinations: list[Combination] = []
        overrides: list[Combination] = []
        combo_patterns: dict[tuple, int] = {}
        seen_ids: dict[str, int] = {}
        for position, raw in enumerate(raw_categories):
            where = f"categories[{position}]"
            item = self.check_keys(raw, _CATEGORY_KEYS, where, required=("id", "label"))
            cid = item["id"]
            if not isinstance(cid, str) or not CATEGORY_ID_RE.match(cid) or len(cid) > MAX_CATEGORY_ID_LENGTH:
                raise self.fail(f"{where}.id", (
                    f"{cid!r} cannot be a topic suffix: use lower-case ASCII letters and digits "
                    f"joined by single hyphens, at most {MAX_CATEGORY_ID_LENGTH} characters"))
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

    def terms(self, raw: Any, category: int, where: str, out: list[Term]) -> None:
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
                    key = ((without_article(first), is_prefix),) + pattern[1:]
                    if key in seen:
                        raise self.fail(twhere, f"term {text!r} repeats {seen[key]!r} of the same category")
                    seen[key] = text
                    out.append(Term(index=len(out), category=category, weight=weight, text=text, pattern=pattern))

    def combinations(self, raw: Any, category: int, where: str, out: list[Combination],
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
            out.append(Combination(category=category, name=f"{prefix}:{name}", weight=weight, all_of=all_of,
                                    any_of=any_of, none_of=none_of, near=tuple(near)))

    def entities(self, raw: Any, category: int, where: str, out: list[EntityCondition]) -> None:
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
            out.append(EntityCondition(category=category, ids=frozenset(i.strip() for i in ids),
                                        types=frozenset(types), weight=weight))


def parse_rules(data: Any, source: str = "<rules>") -> RuleSet:
    """Build a RuleSet from already-parsed YAML data (a dict)."""
    return _Builder(source).build(data)


def read_text_file(path: Path, error: type[Exception]) -> str:
    """The UTF-8 text of a file an operator named, or ``error`` saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None


def load_rules(path: str | os.PathLike | None = None) -> RuleSet:
    """Read and compile a rules file; the packaged ``categories.yaml`` by default."""
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    return rules_from_text(read_text_file(path, RulesError), str(path))


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
