"""Knowledge base of canonical entities and every way news writes their names.

An entity is a plain dict ``{id, type, name, names, aliases, weak_aliases}``
(plus ``family_name_first`` for names like `كيم جونغ أون` whose first word is
the one a later short mention repeats):
``name`` is the canonical English display name, ``names`` the name per language,
``aliases`` other spellings that always mean this entity, ``weak_aliases``
spellings that are also ordinary words (`مالي` is Mali and "financial") and
count only where the statistical tagger agrees a name is there.

Countries and territories come from CLDR through babel, so that every ISO code
has an Arabic and an English name without hand typing; people, organisations,
cities and the spellings CLDR lacks come from ``data/people_orgs.yaml``. The KB
is mutable at run time (``add``, ``add_alias``, ``remove``) because a compacted
topic feeds curated changes to running workers.

Every alias is indexed by its key: ``fold_phrase`` with punctuation treated
like white space (`آر.تي.إل` and `آر تي إل` meet). For people and
organisations, ج/غ spellings of the g sound (`جونج`/`جونغ`, `البنتاجون`/
`البنتاغون`) are added as derived keys, so one listed spelling covers both.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from streams.text.normalize import fold_phrase

ENTITY_TYPES = ("PER", "ORG", "LOC", "MISC")
_TYPE_ALIASES = {"PERS": "PER", "PERSON": "PER", "ORGANIZATION": "ORG", "ORGANISATION": "ORG",
                 "LOCATION": "LOC", "GPE": "LOC"}
DATA_FILE = Path(__file__).with_name("data") / "people_orgs.yaml"

# CLDR territory codes that are not places a news story is about: unknown
# region, pseudo-locales, and groupings that are organisations in the curated
# file (EU, UN) or not entities at all (eurozone, "outlying Oceania").
_SKIP_TERRITORIES = frozenset({"ZZ", "XA", "XB", "QO", "EU", "EZ", "UN"})

# Word units of a folded phrase, split exactly as the linker splits text.
_KEY_UNIT_RE = re.compile(r"\d+(?:[.,\u066b]\d+)*|[^\W\d_]+")
_PAREN_RE = re.compile(r"\s*\(([^)]*)\)\s*")
_BLOCKED: tuple[tuple[str, bool], ...] = (("", False),)
_G_LETTERS = {"ج": "غ", "غ": "ج"}
_MAX_G_SWAPS = 4


def alias_key(alias: str) -> str:
    """Dictionary key of an alias: its fold_phrase, punctuation read as spaces."""
    return " ".join(_KEY_UNIT_RE.findall(fold_phrase(alias)))


def normalize_type(value: Any) -> str:
    """`PERS` (ANERcorp) and a few spelled-out names map to the four types."""
    text = str(value or "").strip().upper()
    text = _TYPE_ALIASES.get(text, text)
    if text not in ENTITY_TYPES:
        raise ValueError(f"entity type must be one of {', '.join(ENTITY_TYPES)}, got {value!r}")
    return text


def _g_variants(key: str) -> list[str]:
    """The key with every combination of ج/غ swapped (g is written either way)."""
    positions = [i for i, ch in enumerate(key) if ch in _G_LETTERS]
    if not positions or len(positions) > _MAX_G_SWAPS:
        return []
    out = []
    chars = list(key)
    for flips in itertools.product((False, True), repeat=len(positions)):
        if not any(flips):
            continue
        variant = chars[:]
        for pos, flip in zip(positions, flips):
            if flip:
                variant[pos] = _G_LETTERS[variant[pos]]
        out.append("".join(variant))
    return out


def _str_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field} must be a list of strings")
    return list(value)


class KnowledgeBase:
    """Entities by id, and an alias index for longest-match linking.

    Thread-safe for one writer and many readers: writes take a lock and
    replace index entries whole, so a reader sees an alias either before or
    after an update.
    """

    def __init__(self, entities: Iterable[dict] = ()) -> None:
        self._lock = threading.RLock()
        self._entities: dict[str, dict] = {}
        self._keys_of: dict[str, list[tuple[str, bool, bool]]] = {}
        self._index: dict[str, tuple[tuple[str, bool], ...]] = {}
        self._derived: dict[str, tuple[tuple[str, bool], ...]] = {}
        self._first_len: dict[str, int] = {}
        self._begin_types: dict[str, frozenset[str]] = {}
        self._inner_types: dict[str, frozenset[str]] = {}
        self._blocked: set[str] = set()
        self.version = 0
        for entity in entities:
            self.add(entity)

    # ------------------------------------------------------------------ build
    @classmethod
    def packaged(cls, data_file: str | Path | None = None) -> "KnowledgeBase":
        """A fresh KB from CLDR territories and the curated data file."""
        path = Path(data_file) if data_file else DATA_FILE
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: cannot read knowledge base: {exc}") from exc
        kb = cls()
        for phrase in data.get("not_entities") or []:
            kb.block(phrase)
        for entity in _territories(data.get("territories") or {}):
            kb.add(entity)
        for entity in data.get("entities") or []:
            kb.add(entity)
        return kb

    @staticmethod
    @lru_cache(maxsize=1)
    def default() -> "KnowledgeBase":
        """The process-wide packaged KB (built once; run-time additions are shared)."""
        return KnowledgeBase.packaged()

    # ------------------------------------------------------------------ write
    def add(self, entity: dict, *, merge: bool = False) -> dict:
        """Add or replace an entity; with ``merge`` keep the aliases it already had.

        Replacing is the default because a record on a compacted topic is the
        whole truth about its id: an alias dropped there must stop matching.
        """
        clean = self._validate(entity)
        with self._lock:
            old = self._entities.get(clean["id"])
            if old is not None and merge:
                clean["aliases"] = _unique(old["aliases"] + clean["aliases"])
                clean["weak_aliases"] = _unique(old["weak_aliases"] + clean["weak_aliases"])
                clean["names"] = {**old["names"], **clean["names"]}
            if old is not None:
                self._unindex(clean["id"])
            self._entities[clean["id"]] = clean
            self._index_entity(clean)
            self.version += 1
            return clean

    def add_alias(self, entity_id: str, alias: str, *, weak: bool = False) -> None:
        """Teach the KB one more spelling of a known entity."""
        with self._lock:
            entity = self._entities.get(entity_id)
            if entity is None:
                raise KeyError(f"unknown entity id {entity_id!r}")
            if not isinstance(alias, str) or not alias_key(alias):
                raise ValueError(f"alias must be a non-empty name, got {alias!r}")
            field = "weak_aliases" if weak else "aliases"
            if alias in entity[field]:
                return
            entity[field] = entity[field] + [alias]
            self._unindex(entity_id)
            self._index_entity(entity)
            self.version += 1

    def remove(self, entity_id: str) -> bool:
        """Forget an entity (a tombstone on the compacted topic). True if it existed."""
        with self._lock:
            if entity_id not in self._entities:
                return False
            self._unindex(entity_id)
            del self._entities[entity_id]
            self.version += 1
            return True

    def block(self, phrase: str) -> None:
        """Make a phrase that contains an alias link nothing (`مجلس الأمن القومي`)."""
        key = alias_key(phrase)
        if not key:
            raise ValueError(f"blocked phrase must have letters or digits, got {phrase!r}")
        with self._lock:
            self._blocked.add(key)
            self._index_units(None, [key])
            self.version += 1

    # ------------------------------------------------------------------- read
    def get(self, entity_id: str) -> dict | None:
        return self._entities.get(entity_id)

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._entities

    def __len__(self) -> int:
        return len(self._entities)

    def __iter__(self) -> Iterator[dict]:
        return iter(list(self._entities.values()))

    def lookup(self, phrase: str) -> list[dict]:
        """Entities a phrase names exactly (after folding), best first."""
        return [self._entities[i] for i, _weak in self.hits(alias_key(phrase)) if i]

    def hits(self, key: str) -> tuple[tuple[str, bool], ...]:
        """``(id, weak)`` pairs for an alias key; listed spellings before derived ones.

        A blocked phrase gives ``(("", False),)``: it matches, and names nothing.
        """
        if key in self._blocked:
            return _BLOCKED
        return self._index.get(key) or self._derived.get(key) or ()

    def max_units(self, first_unit: str) -> int:
        """Longest alias (in word units) that starts with this unit; 0 if none."""
        return self._first_len.get(first_unit, 0)

    def begin_types(self, unit: str) -> frozenset[str]:
        """Types of entities with an alias whose first unit is this one."""
        return self._begin_types.get(unit, frozenset())

    def inner_types(self, unit: str) -> frozenset[str]:
        """Types of entities with an alias that continues with this unit."""
        return self._inner_types.get(unit, frozenset())

    # --------------------------------------------------------------- internal
    @staticmethod
    def _validate(entity: Any) -> dict:
        if not isinstance(entity, dict):
            raise ValueError(f"entity must be a mapping, got {type(entity).__name__}")
        entity_id = entity.get("id")
        if not isinstance(entity_id, str) or not entity_id.strip() or any(c.isspace() for c in entity_id):
            raise ValueError(f"entity id must be a non-empty string without spaces, got {entity_id!r}")
        etype = normalize_type(entity.get("type"))
        name = entity.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"entity {entity_id}: name must be a non-empty string")
        names = entity.get("names") or {}
        if not isinstance(names, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in names.items()
        ):
            raise ValueError(f"entity {entity_id}: names must map language codes to strings")
        aliases = _str_list(entity.get("aliases"), f"entity {entity_id}: aliases")
        weak = _str_list(entity.get("weak_aliases"), f"entity {entity_id}: weak_aliases")
        clean = {
            "id": entity_id,
            "type": etype,
            "name": name.strip(),
            "names": {k: v.strip() for k, v in names.items() if v.strip()},
            "aliases": _unique(a.strip() for a in aliases if a.strip()),
            "weak_aliases": _unique(a.strip() for a in weak if a.strip()),
        }
        if entity.get("family_name_first"):
            clean["family_name_first"] = True
        if not any(alias_key(s) for s in [clean["name"], *clean["names"].values(), *clean["aliases"],
                                           *clean["weak_aliases"]]):
            raise ValueError(f"entity {entity_id}: no name or alias has any letters or digits")
        return clean

    def _index_entity(self, entity: dict) -> None:
        weak_keys = {alias_key(a) for a in entity["weak_aliases"]}
        strong = [entity["name"], *entity["names"].values(), *entity["aliases"]]
        strong_keys = {alias_key(a) for a in strong} - {""}
        entries: dict[str, tuple[bool, bool]] = {}  # key -> (weak, derived)
        for key in strong_keys:
            entries[key] = (False, False)
        for key in weak_keys - strong_keys - {""}:
            entries[key] = (True, False)
        if entity["type"] in ("PER", "ORG"):
            for key, (weak, _derived) in list(entries.items()):
                for variant in _g_variants(key):
                    entries.setdefault(variant, (weak, True))
        keys = []
        for key, (weak, derived) in entries.items():
            table = self._derived if derived else self._index
            table[key] = table.get(key, ()) + ((entity["id"], weak),)
            keys.append((key, weak, derived))
        self._keys_of[entity["id"]] = keys
        self._index_units(entity["type"], entries)

    def _index_units(self, etype: str | None, keys: Iterable[str]) -> None:
        for key in keys:
            units = key.split(" ")
            if len(units) > self._first_len.get(units[0], 0):
                self._first_len[units[0]] = len(units)
            if etype is None:
                continue
            self._begin_types[units[0]] = self._begin_types.get(units[0], frozenset()) | {etype}
            for unit in units[1:]:
                self._inner_types[unit] = self._inner_types.get(unit, frozenset()) | {etype}

    def _unindex(self, entity_id: str) -> None:
        for key, _weak, derived in self._keys_of.pop(entity_id, []):
            table = self._derived if derived else self._index
            remaining = tuple(h for h in table.get(key, ()) if h[0] != entity_id)
            if remaining:
                table[key] = remaining
            else:
                table.pop(key, None)
        # Unit tables hold maxima and type sets; recomputing them is cheap and
        # keeps them exact after an alias disappears.
        self._first_len = {}
        self._begin_types = {}
        self._inner_types = {}
        self._index_units(None, self._blocked)
        for eid, keys in self._keys_of.items():
            self._index_units(self._entities[eid]["type"], [k for k, _w, _d in keys])


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def _split_parenthesised(name: str) -> list[str]:
    """`ميانمار (بورما)` names Myanmar twice: keep both halves and the whole."""
    out = [name]
    inner = _PAREN_RE.findall(name)
    outer = _PAREN_RE.sub(" ", name).strip()
    if inner:
        out.append(outer)
        out.extend(part.strip() for part in inner if part.strip())
    return [o for o in out if o]


def _territories(overrides: dict) -> Iterator[dict]:
    """Countries and territories from CLDR (ids `loc:<iso2>`), with curated extras."""
    from babel import Locale

    ar = Locale("ar").territories
    en = Locale("en").territories
    for code in sorted(ar):
        if len(code) != 2 or not code.isalpha() or code in _SKIP_TERRITORIES:
            continue
        extra = overrides.get(code.lower()) or {}
        ar_name = ar[code]
        en_name = en.get(code, code)
        weak = list(extra.get("weak_aliases") or [])
        weak_keys = {alias_key(w) for w in weak}
        aliases = [a for a in _split_parenthesised(ar_name) + _split_parenthesised(en_name)
                   if alias_key(a) not in weak_keys]
        aliases += list(extra.get("aliases") or [])
        names = {"ar": ar_name, "en": en_name}
        if alias_key(ar_name) in weak_keys:
            names.pop("ar")
        yield {
            "id": f"loc:{code.lower()}",
            "type": "LOC",
            "name": extra.get("name") or en_name,
            "names": names,
            "aliases": aliases,
            "weak_aliases": weak,
        }
