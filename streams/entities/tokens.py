"""Split display text into ANERcorp-like tokens, remembering where each one is.

ANERcorp keeps clitics on words (`وروسيا`) but separates punctuation, so a body
is tokenised the same way before tagging: runs of letters (with their harakat
and tatweel), numbers with decimal points, and every other visible character
on its own. Offsets are half-open indices into the display text so that a
tagged token can be shown and counted where the user reads it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from streams.text.normalize import fold

# Letters, then any mix of letters and combining marks (harakat, Quranic marks).
_MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed\u0300-\u036f"
_TOKEN_RE = re.compile(
    rf"\d+(?:[.,\u066b]\d+)*"           # 2022, 112.5, ١٢٫٥
    rf"|[^\W\d_][^\W\d_{_MARKS}]*(?:[{_MARKS}]+[^\W\d_]*)*"  # a word with its marks
    rf"|[{_MARKS}]+[^\W\d_]*"            # stray marks before a word
    r"|\S"                                # any other visible character alone
)
_SENTENCE_END = frozenset(".!?؟")


def tokenize(display_text: str) -> list[tuple[str, int, int]]:
    """Tokens of a display text as ``(token, start, end)`` with half-open offsets."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(display_text)]


@lru_cache(maxsize=65536)
def fold_token(token: str) -> str:
    """Cached matching form of one token (news vocabularies repeat a lot)."""
    return fold(token)


def sentences(display_text: str, tokens: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    """Half-open token index ranges of sentences: end punctuation or a line break ends one.

    The model was trained on sentences, and a paragraph break is a boundary no
    name crosses.
    """
    out: list[tuple[int, int]] = []
    start = 0
    n = len(tokens)
    for i, (tok, _s, e) in enumerate(tokens):
        if tok in _SENTENCE_END or (i + 1 < n and "\n" in display_text[e:tokens[i + 1][1]]):
            out.append((start, i + 1))
            start = i + 1
    if start < n:
        out.append((start, n))
    return out
