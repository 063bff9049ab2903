"""Arabic proclitics glued to names: `وروسيا`, `لموسكو`, `بالكرملين`, `للناتو`.

Arabic writes the conjunctions و/ف, the prepositions ب/ل/ك and the article ال
as part of the next word, so a name is often not a token of its own. Stripping
them blindly breaks names that start with the same letters (`لبنان`, `بوتين`),
so callers only accept a stripped form that something else vouches for (a
knowledge-base alias, a word the model knows). Everything here works on the
folded matching form (see ``streams.text.normalize.fold``).
"""

from __future__ import annotations

from functools import lru_cache

_CONJ = ("", "و", "ف")
_PREP = ("", "ب", "ل", "ك")
_ART = ("", "ال")

MIN_STEM = 3  # a stripped remainder shorter than this is never trusted


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
_PREFIX_SET = frozenset(PREFIXES)
_MAX_PREFIX = max(len(p) for p in PREFIXES)


@lru_cache(maxsize=65536)
def strip_candidates(token: str) -> tuple[tuple[int, str], ...]:
    """Possible (prefix length, remainder) pairs of a folded token, shortest strip first.

    A token ending its clitic run in `لل` (the article after ل) also yields the
    remainder with `ال` restored, since `للكرملين` is `ل + الكرملين`. The
    prefix length is counted in characters of the folded token.
    """
    out: list[tuple[int, str]] = []
    for n in range(1, min(_MAX_PREFIX, len(token) - MIN_STEM) + 1):
        prefix = token[:n]
        if prefix not in _PREFIX_SET:
            continue
        rest = token[n:]
        out.append((n, rest))
        if prefix.endswith("لل"):
            out.append((n, "ال" + rest))
    return tuple(out)


@lru_cache(maxsize=65536)
def feature_stem(token: str) -> str:
    """Aggressive, deterministic stem for model features: drop the longest proclitic run.

    Consistency matters more than linguistics here: `بوتين` and `وبوتين` both
    become `وتين`, `روسيا` and `وروسيا` both stay `روسيا`, so the model sees one
    feature for every clitic variant of a word.
    """
    cands = strip_candidates(token)
    return token[cands[-1][0]:] if cands else token


def clitic_of(token: str) -> str:
    """The proclitic run that ``feature_stem`` removes (`و`, `بال`, ``…)."""
    cands = strip_candidates(token)
    return token[: cands[-1][0]] if cands else ""
