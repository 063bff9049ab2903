"""Find knowledge-base aliases in a run of folded words.

The linker sees a sentence as word units in matching form (see
``streams.text.normalize.fold``), with ``None`` where punctuation separates
them so that no alias spans a comma or a full stop. At each unit it takes the
longest alias that starts there; only when the word itself starts no alias does
it try the word without a proclitic run (`وروسيا`, `لموسكو`, `بالكرملين`,
`للناتو`), and only when the remainder has at least three letters and is a
known alias. Exact first keeps `لبنان` from being read as `ل + بنان`.

Short mentions: news names a person in full once and then by one word
(`بوتين` after `فلاديمير بوتين`, `تشوي` after `تشوي سونج هوي`). Within one
article, that word attaches to the person already named: the last word of a
multiword name, or the first word for names whose family name comes first
(``family_name_first`` in the KB: Korean, Chinese). A word two people of the
article share, a function word, or one shorter than three letters attaches to
no one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streams.entities.clitics import MIN_STEM, strip_candidates
from streams.entities.kb import KnowledgeBase, alias_key

# Words that sit inside names but never stand for a person alone, and
# function words that fold onto a name (`على` folds to `علي`).
_NOT_SHORT = frozenset(
    alias_key(w)
    for w in """
    بن ابن بنت عبد أبو أبي آل ال دي دا دو فون فان دير لا لو ذا الشيخ الأمير السيد
    على علي إلى الى إلي في من عن مع ما لا لم لن هو هي هم أن إن كان قال بين حتى منذ عند
    بعد قبل كل غير ذلك هذا هذه التي الذي الذين أو ثم قد لقد وقد كما أي
    الأول الثاني الثالث الرابع الخامس السادس السابع الثامن التاسع العاشر عشر
    الابن الأب الأكبر الأصغر جونيور jr sr ii iii iv xiv
    """.split()
)
# In `محمد بن سلمان` the last word is the father's name (King Salman is
# another person), so patronymic names give no short form.
_PATRONYMIC = frozenset(alias_key(w) for w in "بن ابن بنت آل bin ibn".split())


@dataclass(frozen=True, slots=True)
class KbMatch:
    """An alias found at units ``[start, end)``; ``strip`` folded letters of proclitic
    precede the name in the first unit. ``entity_id`` is empty for a blocked phrase."""

    start: int
    end: int
    entity_id: str
    strip: int
    weak: bool
    key: str


def _longest(kb: KnowledgeBase, units: Sequence[str | None], i: int, first: str):
    limit = kb.max_units(first)
    if not limit:
        return None
    n_max = 1
    while n_max < limit and i + n_max < len(units) and units[i + n_max] is not None:
        n_max += 1
    for n in range(n_max, 0, -1):
        key = first if n == 1 else first + " " + " ".join(units[i + 1 : i + n])  # type: ignore[arg-type]
        hits = kb.hits(key)
        if hits:
            return n, hits, key
    return None


def find_matches(kb: KnowledgeBase, units: Sequence[str | None]) -> list[KbMatch]:
    """Non-overlapping longest alias matches, left to right."""
    out: list[KbMatch] = []
    i = 0
    n_units = len(units)
    while i < n_units:
        unit = units[i]
        if unit is None:
            i += 1
            continue
        found = _longest(kb, units, i, unit)
        strip = 0
        if found is None and len(unit) > MIN_STEM:
            for prefix_len, rest in strip_candidates(unit):
                cand = _longest(kb, units, i, rest)
                if cand is not None and (found is None or cand[0] > found[0]):
                    found, strip = cand, prefix_len
        if found is None:
            i += 1
            continue
        n, hits, key = found
        entity_id, weak = hits[0]
        out.append(KbMatch(i, i + n, entity_id, strip, weak, key))
        i += n
    return out


def short_keys(kb: KnowledgeBase, names: dict[str, Iterable[str]]) -> dict[str, str]:
    """One-word forms that stand for a person of this article: ``{unit: id}``.

    ``names`` maps PER ids to the multiword name keys seen in the article; the
    KB's own names and aliases of those ids are added. Ambiguous words are
    left out.
    """
    seen: dict[str, str | None] = {}
    for entity_id, keys in names.items():
        entity = kb.get(entity_id)
        family_first = bool(entity and entity.get("family_name_first"))
        all_keys = set(keys)
        if entity is not None:
            all_keys.update(alias_key(a) for a in
                            [entity["name"], *entity["names"].values(), *entity["aliases"]])
        for key in all_keys:
            parts = key.split(" ")
            if len(parts) < 2 or not _PATRONYMIC.isdisjoint(parts):
                continue
            word = parts[0] if family_first else parts[-1]
            if len(word) < MIN_STEM or word in _NOT_SHORT or word.isdigit():
                continue
            if seen.get(word, entity_id) != entity_id:
                seen[word] = None  # two people share it: attach to neither
            else:
                seen[word] = entity_id
    return {w: i for w, i in seen.items() if i}


def short_match(unit: str, table: dict[str, str]) -> tuple[str, int] | None:
    """``(id, strip)`` if a unit (maybe behind a proclitic, `لـتشوي`) is a short form."""
    if not table:
        return None
    hit = table.get(unit)
    if hit:
        return hit, 0
    for prefix_len, rest in strip_candidates(unit):
        hit = table.get(rest)
        if hit:
            return hit, prefix_len
    return None
