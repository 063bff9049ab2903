"""Arabic proclitics and endings on folded words: the one place that strips them.

Arabic writes the conjunctions و/ف, the prepositions ب/ل/ك and the article ال
as part of the next word (`وروسيا`, `لموسكو`, `بالكرملين`, `للانتخابات`), so
a word is often not a token of its own. Entity linking, the tagger's features,
the routing rules and the routing model all need the word behind them; they
all strip with this module. Everything here works on the folded matching form
(``streams.text.normalize.fold``: alef/hamza variants, ta marbuta, alef
maksura and diacritics already folded).

Stripping blindly breaks words that start with the same letters (`لبنان`,
`بوتين`, `كتاب`), so nothing here decides which reading is right: it lists the
readings, and each caller accepts one that something else vouches for (a
knowledge-base alias, a term of the rules file, a weight of the model).

The callers differ in one number, the shortest remainder they trust, and the
difference is deliberate:

* names (``MIN_NAME_STEM`` = 3): a remainder becomes an entity id on its own,
  and two-letter remainders (`ال` + `له`, `و` + `رد`) are mostly function
  words or fragments, so a false link would be published as a name;
* routing terms (``MIN_TERM_STEM`` = 2): a reading only counts when it equals
  a term an editor wrote, so a short remainder costs nothing unless the file
  has such a term, and short terms (`نفط` behind `بال`) should still match.
  Measured on 3,000 ANT articles: with 3 instead of 2, the categories of 41
  articles change and section-level macro F1 moves by 0.0002, so the rules
  keep the value they were written against.
"""

from __future__ import annotations

from functools import lru_cache

_CONJ = ("", "و", "ف")
_PREP = ("", "ب", "ل", "ك")
_ART = ("", "ال")

MIN_NAME_STEM = 3
"""Shortest remainder entity linking and tagger features trust after a strip."""
MIN_TERM_STEM = 2
"""Shortest remainder the routing rules compare with their terms."""
MIN_TANWEEN_STEM = 3
"""Shortest word that loses the alif of the indefinite accusative (`ما`, `لنا` stay whole)."""


def _build_prefixes() -> tuple[str, ...]:
    out = set()
    for c in _CONJ:
        for p in _PREP:
            for a in _ART:
                if p == "ل" and a == "ال":
                    continue  # ل + ال is written لل
                out.add(c + p + a)
        out.add(c + "لل")
    out.discard("")
    # Longest first so callers that want the shortest strip can reverse.
    return tuple(sorted(out, key=lambda s: (-len(s), s)))


PREFIXES: tuple[str, ...] = _build_prefixes()
"""Every proclitic run: conjunction, then preposition, then article (`وبال`, `فلل`)."""
_PREFIX_SET = frozenset(PREFIXES)
_MAX_PREFIX = max(len(p) for p in PREFIXES)


@lru_cache(maxsize=131072)
def strip_candidates(token: str, min_stem: int = MIN_NAME_STEM) -> tuple[tuple[int, str], ...]:
    """Possible (prefix length, remainder) pairs of a folded token, shortest strip first.

    A token ending its clitic run in `لل` (the article after ل) also yields the
    remainder with `ال` restored, since `للكرملين` is `ل + الكرملين`. The
    prefix length is counted in characters of the folded token. Remainders
    shorter than ``min_stem`` are not offered (see the module docstring).
    """
    out: list[tuple[int, str]] = []
    for n in range(1, min(_MAX_PREFIX, len(token) - min_stem) + 1):
        prefix = token[:n]
        if prefix not in _PREFIX_SET:
            continue
        rest = token[n:]
        out.append((n, rest))
        if prefix.endswith("لل"):
            out.append((n, "ال" + rest))
    return tuple(out)


@lru_cache(maxsize=131072)
def feature_stem(token: str) -> str:
    """Aggressive, deterministic stem for model features: drop the longest proclitic run.

    Consistency matters more than linguistics here: `بوتين` and `وبوتين` both
    become `وتين`, `روسيا` and `وروسيا` both stay `روسيا`, so a model sees one
    feature for every clitic variant of a word.
    """
    cands = strip_candidates(token)
    return token[cands[-1][0]:] if cands else token


def clitic_of(token: str) -> str:
    """The proclitic run that ``feature_stem`` removes (`و`, `بال`, ``…)."""
    cands = strip_candidates(token)
    return token[: cands[-1][0]] if cands else ""


def without_tanween_alif(word: str, min_stem: int = MIN_TANWEEN_STEM) -> str | None:
    """The word without the alif of the indefinite accusative (`حفلا` -> `حفل`), or None.

    Tanween fath is written as a final alif (`فوزاً`, folded `فوزا`); the bare
    noun is then a reading of the word. Words shorter than ``min_stem`` after
    the cut are left alone.
    """
    if word.endswith("ا") and len(word) - 1 >= min_stem:
        return word[:-1]
    return None


@lru_cache(maxsize=65536)
def readings(token: str, min_stem: int = MIN_TERM_STEM) -> tuple[str, ...]:
    """The token and every reading of it without proclitics or tanween alif.

    The token comes first, then remainders from the shortest strip to the
    longest, then the same without a tanween alif; no repeats. This is what
    the routing rules compare with their terms: `والاقتصاد` reads as
    `الاقتصاد` and `اقتصاد`, `للانتخابات` as `لانتخابات` and `انتخابات`,
    `حفلا` as `حفل`. The `ال` restored after `لل` is not a reading here: a
    term written with the article is also looked up without it.
    """
    forms = [token]
    for n, rest in strip_candidates(token, min_stem):
        if len(rest) == len(token) - n and rest not in forms:
            forms.append(rest)
    for form in list(forms):
        bare = without_tanween_alif(form)
        if bare is not None and bare not in forms:
            forms.append(bare)
    return tuple(forms)
