"""Two views of one text: what people read, and what matching compares.

Display text keeps the original letters and only loses invisible junk, so that
what a user sees is what the source wrote. The matching form folds every
spelling variant that Arabic news uses for the same word, and carries an offset
map back to the display text so that a span found while matching can be shown.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Invisible characters that only confuse matching and rendering: bidi controls,
# zero-width marks, BOM, soft hyphen, Arabic letter mark, word joiner.
_INVISIBLE = dict.fromkeys(
    [
        0x00AD, 0x061C, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F,
        0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2060, 0x2061, 0x2062,
        0x2063, 0x2064, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF,
    ]
)
_SPACES = dict.fromkeys([0x00A0, 0x2007, 0x202F, 0x2000, 0x2001, 0x2002, 0x2003,
                         0x2004, 0x2005, 0x2006, 0x2008, 0x2009, 0x200A, 0x3000], " ")
_DISPLAY_MAP = {**_INVISIBLE, **_SPACES}

# C0/C1 controls other than tab and newline never belong in article text.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# `عام .2022`: a full stop or comma that lost its place before a number at the
# end of a sentence (a right-to-left editing accident).
_GLUED_PUNCT_RE = re.compile(r"(?<=\s)([.,،؛:!?؟])(\d+)(?=\s|$)")

# Letters folded for matching only. Persian/Urdu/Kurdish variants to Arabic,
# alef and hamza carriers to bare letters, alef maksura and ta marbuta to the
# letters they are confused with.
_LETTER_FOLD = {
    "\u06a9": "\u0643",  # ک keheh -> ك
    "\u06aa": "\u0643",  # ڪ swash kaf
    "\u06cc": "\u064a",  # ی farsi yeh -> ي
    "\u06d0": "\u064a",  # ې
    "\u06d2": "\u064a",  # ے yeh barree
    "\u0649": "\u064a",  # ى alef maksura -> ي
    "\u06d5": "\u0647",  # ە ae -> ه
    "\u06c0": "\u0647",  # ۀ heh with yeh above
    "\u06c1": "\u0647",  # ہ heh goal
    "\u06be": "\u0647",  # ھ heh doachashmee
    "\u0629": "\u0647",  # ة ta marbuta -> ه
    "\u06c3": "\u0647",  # ۃ
    "\u0622": "\u0627",  # آ
    "\u0623": "\u0627",  # أ
    "\u0625": "\u0627",  # إ
    "\u0671": "\u0627",  # ٱ wasla
    "\u0672": "\u0627",
    "\u0673": "\u0627",
    "\u0624": "\u0648",  # ؤ -> و
    "\u0626": "\u064a",  # ئ -> ي
    "\u06c6": "\u0648",  # ۆ
    "\u06c7": "\u0648",
    "\u06cb": "\u0648",
    "\u06a4": "\u0641",  # ڤ ve -> ف
    "\u06af": "\u0643",  # گ gaf -> ك (Gulf/Persian spelling of g)
    "\u0686": "\u062c",  # چ -> ج
    "\u067e": "\u0628",  # پ -> ب
    "\u0698": "\u0632",  # ژ -> ز
    "\u0640": "",        # tatweel
}
# Arabic-Indic and Eastern Arabic-Indic digits are not NFKC-equivalent to ASCII.
_LETTER_FOLD.update({chr(0x0660 + i): str(i) for i in range(10)})
_LETTER_FOLD.update({chr(0x06F0 + i): str(i) for i in range(10)})


# Display clean-up: invisible characters removed, odd spaces made plain. The
# characters are known in advance, so a regex finds the few there are (in C)
# instead of `translate` looking up every character of a page.
_DISPLAY_RE = re.compile("[" + "".join(re.escape(chr(code)) for code in _DISPLAY_MAP) + "]")


def _display_char(match: re.Match) -> str:
    return _DISPLAY_MAP[ord(match.group())] or ""


def _is_mark(ch: str) -> bool:
    """Harakat, Quranic marks and other combining marks carry no identity."""
    return unicodedata.category(ch) == "Mn"


def clean_display(text: str) -> str:
    """Readable text: original letters, no invisible junk, repaired punctuation."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _DISPLAY_RE.sub(_display_char, text)
    text = _CONTROL_RE.sub("", text)
    # Compose after removing invisibles, so a zero-width character between a
    # letter and its vowel sign cannot leave a sequence that composes later.
    text = unicodedata.normalize("NFC", text)
    return _GLUED_PUNCT_RE.sub(r"\2\1", text)


# Letters that are the same Arabic letter in another orthography (Persian, Urdu,
# Kurdish keyboards). Display text that must read as Arabic (tags) uses these;
# the letters that are distinct sounds (پ چ ژ گ ڤ) are kept.
_ARABIC_LETTERS = str.maketrans({
    "\u06a9": "\u0643",  # ک -> ك
    "\u06aa": "\u0643",  # ڪ -> ك
    "\u06cc": "\u064a",  # ی -> ي
    "\u06d0": "\u064a",  # ې -> ي
    "\u06d2": "\u064a",  # ے -> ي
    "\u06d5": "\u0647",  # ە -> ه
    "\u06c1": "\u0647",  # ہ -> ه
    "\u06be": "\u0647",  # ھ -> ه
    "\u06c0": "\u0629",  # ۀ -> ة (how Persian keyboards end a word in ta marbuta)
    "\u06c3": "\u0629",  # ۃ -> ة
    **{chr(0x06F0 + i): chr(0x0660 + i) for i in range(10)},  # ۴ -> ٤
})


def arabic_letters(text: str) -> str:
    """Display text with Persian/Urdu letter variants written as Arabic letters.

    Unlike `fold`, this keeps hamza, ta marbuta and vowel signs: it is for
    showing (`کوریا الشمالیة` -> `كوريا الشمالية`), not for matching.
    """
    return text.translate(_ARABIC_LETTERS)


def _fold_char_once(ch: str) -> str:
    folded = _LETTER_FOLD.get(ch)
    if folded is not None:
        return folded
    if ch in _INVISIBLE or _is_mark(ch):
        return ""
    if ord(ch) < 0x80:
        return ch.lower()
    out = []
    for part in unicodedata.normalize("NFKC", ch):
        if _is_mark(part):
            continue
        part = _LETTER_FOLD.get(part, part)
        out.append(part.casefold())
    return "".join(out)


@lru_cache(maxsize=1 << 16)
def _fold_char(ch: str) -> str:
    """Fold one character until every character it yields folds to itself.

    One pass is not always enough (`İ` casefolds to `i` plus a combining dot,
    which is a mark), and matching relies on folding being idempotent.
    """
    out = _fold_char_once(ch)
    for _ in range(4):
        again = "".join(_fold_char_once(c) for c in out)
        if again == out:
            break
        out = again
    return out


@dataclass(frozen=True, slots=True)
class MatchText:
    """The matching form of a display text with a map back to it.

    ``offsets[i]`` is the display index of matching character ``i``;
    ``offsets[len(text)]`` is ``len(display)``, so a half-open span ``[a, b)``
    of the matching form maps to ``[offsets[a], offsets[b - 1] + 1)``.
    """

    text: str
    offsets: tuple[int, ...]
    display_length: int

    def to_display(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of the matching form to the display text."""
        if end <= start:
            pos = self.offsets[start] if start < len(self.offsets) else self.display_length
            return pos, pos
        return self.offsets[start], self.offsets[end - 1] + 1


def _char_class(codes: list[int]) -> str:
    """A regex character class body for sorted code points, as ranges."""
    parts, start = [], None
    for i, code in enumerate(codes):
        if start is None:
            start = code
        if i + 1 == len(codes) or codes[i + 1] != code + 1:
            parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(code)) if code != start else ""))
            start = None
    return "".join(parts)


@lru_cache(maxsize=1)
def _fold_patterns() -> tuple[re.Pattern, re.Pattern]:
    """Characters that folding changes, and those that do not fold to exactly one character.

    Most characters of a text fold to themselves; finding the others with a
    regex runs in C at a few nanoseconds a character, where `translate`
    looks every character up in a Python mapping. Every character of the
    basic plane is classified once per process (about a third of a second);
    the rarer planes are always looked at.
    """
    changing, irregular = [], []
    fold_char = _fold_char.__wrapped__
    for code in range(0x10000):
        ch = chr(code)
        folded = fold_char(ch)
        if folded != ch:
            changing.append(code)
        if len(folded) != 1:
            irregular.append(code)
    astral = "\U00010000-\U0010ffff"
    return (re.compile(f"[{_char_class(changing)}{astral}]"), re.compile(f"[{_char_class(irregular)}{astral}]"))


def _folded_char(match: re.Match) -> str:
    return _fold_char(match.group())


def _fold_chars(text: str) -> str:
    """Each character of `text` replaced by its folded form."""
    return _fold_patterns()[0].sub(_folded_char, text)


def match_text(display: str) -> MatchText:
    """Fold a display text for matching, remembering where each character came from."""
    size = len(display)
    irregular = _fold_patterns()[1]
    # When every character folds to exactly one, the offset map is the identity.
    if not irregular.search(display):
        return MatchText(_fold_chars(display), tuple(range(size + 1)), size)
    # Runs between the characters that vanish or expand map one to one.
    parts: list[str] = []
    offsets: list[int] = []
    done = 0
    for hit in irregular.finditer(display):
        index = hit.start()
        parts.append(_fold_chars(display[done:index]))
        offsets.extend(range(done, index))
        folded = _fold_char(display[index])
        parts.append(folded)
        offsets.extend([index] * len(folded))
        done = index + 1
    parts.append(_fold_chars(display[done:]))
    offsets.extend(range(done, size))
    offsets.append(size)
    return MatchText("".join(parts), tuple(offsets), size)


def _fold_once(text: str) -> str:
    return _fold_chars(clean_display(text))


def _settled(folded: str) -> bool:
    """True when folding `folded` again would change nothing.

    Every character of a folded text already folds to itself, so only two
    things can still move: characters brought together that compose, and a
    number repair (`عام .2022`) exposed by removed characters. Both are checked
    in C instead of folding a long body a second time.
    """
    return unicodedata.is_normalized("NFC", folded) and not _GLUED_PUNCT_RE.search(folded)


def fold(text: str) -> str:
    """Matching form of a short string (an alias, a keyword, a tag).

    Repeated until stable: dropping a mark can bring characters together that
    then compose (Hangul jamo) or expose `عام .2022` to the repair, and
    fold(fold(x)) must equal fold(x) for keys to meet.
    """
    out = _fold_once(text)
    for _ in range(6):
        if _settled(out):
            break
        out = _fold_once(out)
    return out


_WS_RE = re.compile(r"\s+")


def fold_phrase(text: str) -> str:
    """Matching form with runs of white space and hyphens collapsed to one space.

    Used for keys of dictionaries (aliases, tags) where `كيم جونج-أون` and
    `كيم جونج اون` must meet.
    """
    if len(text) <= 200:
        return _fold_phrase_cached(text)
    return _fold_phrase(text)


@lru_cache(maxsize=1 << 15)
def _fold_phrase_cached(text: str) -> str:
    """Keys and tags repeat from page to page; fold each once."""
    return _fold_phrase(text)


def _fold_phrase(text: str) -> str:
    out = _WS_RE.sub(" ", fold(text.replace("-", " ")).replace("-", " ")).strip()
    # Turning `-.5` into ` .5` can expose the number repair; settle it here.
    for _ in range(3):
        if not _GLUED_PUNCT_RE.search(out):
            break
        out = _WS_RE.sub(" ", fold(out).replace("-", " ")).strip()
    return out
