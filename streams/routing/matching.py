"""Finding the rules' terms in the tokens of an article.

Rules match the folded text (``streams.text.normalize.fold``) token by token,
so ``حرب`` never fires inside ``محارب``. An article token also meets a term
through its readings without Arabic clitic prefixes (و ف, then ب ل ك, then ال
or لل; ``streams.text.arabic.readings``, the module entity linking uses too):
``والاقتصاد`` meets ``اقتصاد`` and ``للانتخابات`` meets ``انتخابات``. English
tokens also read without a plural ``s``. A pattern token ending in ``*`` in the
file is a prefix: ``اقتصاد*`` covers ``اقتصادي`` and ``الاقتصادية``.

Scoring (``streams.routing.rules``) and combinations both start a match from
the article token that meets a pattern's first token; ``FirstTokenIndex`` does
that lookup once per distinct token and remembers it, because news vocabulary
repeats a lot.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Generic, Hashable, Iterable, TypeVar

from streams.text.arabic import MIN_TERM_STEM, readings

TOKEN_RE = re.compile(r"[^\W_]+")
MIN_STEM = MIN_TERM_STEM  # a clitic is only stripped if this much word remains

# One token of a term as the file wrote it, folded: (text, is a '*' prefix).
Pattern = tuple[tuple[str, bool], ...]

Item = TypeVar("Item", bound=Hashable)

_CACHE_LIMIT = 200_000


def word_tokens(folded: str) -> list[str]:
    """The word tokens of folded text, in order."""
    return TOKEN_RE.findall(folded)


@lru_cache(maxsize=65536)
def token_forms(token: str) -> tuple[str, ...]:
    """The token and its readings without clitic prefixes; English also without a plural ``s``."""
    if token.isascii():
        if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
            return (token, token[:-1])
        return (token,)
    return readings(token, MIN_STEM)


def without_article(word: str) -> str:
    """``word`` without a leading ``ال`` when enough stem remains, else ``word``.

    Terms written with the article (``الأمم المتحدة``) must also meet tokens
    whose article was fused with a preposition (``للأمم``), and ``بنك`` and
    ``البنك`` in one category are the same term.
    """
    if not word.isascii() and word.startswith("ال") and len(word) - 2 >= MIN_STEM:
        return word[2:]
    return word


def continues(tokens: list[str], start: int, pattern: Pattern) -> bool:
    """Whether the tokens after ``start`` match the pattern's tokens after its first."""
    if start + len(pattern) > len(tokens):
        return False
    for offset in range(1, len(pattern)):
        text, is_prefix = pattern[offset]
        other = tokens[start + offset]
        if not (other.startswith(text) if is_prefix else other == text):
            return False
    return True


class FirstTokenIndex(Generic[Item]):
    """Items keyed by the first token of their pattern, looked up by article token.

    ``lookup`` returns, in first-found order and without repeats, every item
    whose first pattern token an article token meets: exactly, through one of
    its readings, or as a ``*`` prefix of one.
    """

    def __init__(self, entries: Iterable[tuple[Pattern, Item]]) -> None:
        exact: dict[str, list[Item]] = {}
        prefix: dict[str, list[Item]] = {}
        for pattern, item in entries:
            first, is_prefix = pattern[0]
            for key in {first, without_article(first)}:
                (prefix if is_prefix else exact).setdefault(key, []).append(item)
        self._exact = {k: tuple(v) for k, v in exact.items()}
        self._prefix = {k: tuple(v) for k, v in prefix.items()}
        self._prefix_lengths = tuple(sorted({len(k) for k in self._prefix}))
        self._cache: dict[str, tuple[Item, ...]] = {}

    def lookup(self, token: str) -> tuple[Item, ...]:
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        found: dict[Item, None] = {}
        for form in token_forms(token):
            for item in self._exact.get(form, ()):
                found.setdefault(item)
            for length in self._prefix_lengths:
                if length > len(form):
                    break
                for item in self._prefix.get(form[:length], ()):
                    found.setdefault(item)
        result = tuple(found)
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        self._cache[token] = result
        return result


class PatternIndex:
    """Where each of a set of term patterns occurs in a token list (for combinations).

    Unlike scoring, every pattern is reported at every position it matches:
    a combination asks "does X occur", not "which term explains this word".
    """

    def __init__(self, patterns: tuple[Pattern, ...]) -> None:
        self._patterns = patterns
        self._first = FirstTokenIndex((pattern, pid) for pid, pattern in enumerate(patterns))

    def find(self, tokens: list[str]) -> dict[int, list[tuple[int, int]]]:
        """pattern id -> [(start, end)] token spans, end exclusive."""
        out: dict[int, list[tuple[int, int]]] = {}
        for i, token in enumerate(tokens):
            for pid in self._first.lookup(token):
                pattern = self._patterns[pid]
                if continues(tokens, i, pattern):
                    out.setdefault(pid, []).append((i, i + len(pattern)))
        return out
