"""Split an aggregator page into the article and what the site wrapped around it.

Arabic aggregator pages append to the copied article an attribution
(`المصدر: كويت نيوز`, agency codes such as `د ب أ`), keyword lines
(`كلمات دلالية:`, `الوسوم` glued to its first tag), a "read also" block that
carries a different full article, a list of related headlines and app promos.
Names in those parts are not what the article is about, so they must not reach
the lead body. The phrases that mark each part live in `segment_rules.yaml`
and are matched on the folded form, so a new layout is a data change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from .normalize import MatchText, arabic_letters, clean_display, fold_phrase, match_text

DEFAULT_RULES_PATH = Path(__file__).with_name("segment_rules.yaml")

KnownPhrases = Callable[[str], list[str]]


@dataclass(slots=True)
class EmbeddedText:
    """Another article found inside the page ("read also")."""

    title: str
    body: str


@dataclass(slots=True)
class Segments:
    """The parts of one page; `body` is the clean lead text, paragraphs split by a blank line."""

    body: str
    title: str | None = None
    source_name: str | None = None
    agency: str | None = None
    tags: list[str] = field(default_factory=list)
    embedded: list[EmbeddedText] = field(default_factory=list)
    related: list[str] = field(default_factory=list)


# Characters that decorate the start of a marker line (`» اقرأ أيضا`, `- المصدر`).
_JUNK = r"[\s•●▪◦·∙*\-–—»«>|:#/\\()\[\]]*"
# What separates a marker from its value (`المصدر: `, `المصدر - `).
_SEPARATORS = " \t:：-–—|/\\»«>"
_TRAILING = " \t.،,:;؛|-–—"
_SENTENCE_END = ".!?؟…"
_SENTENCE_END_RE = re.compile(r"[.!?؟…]")
# A bullet: a symbol glued or spaced, or a dash that is followed by a space.
_BULLET_RE = re.compile(r"^\s*(?:[•●▪◦·∙*]\s*|[-–—]\s+)")
_SPACES_RE = re.compile(r"[ \t\f\v]+")
# `بوتين،اليوم`: an Arabic comma glued to the next word.
_GLUED_COMMA_RE = re.compile(r"([،؛])(?=[^\W\d_])")
_PARENS_AT_END_RE = re.compile(r"\s*[(\[]\s*([^()\[\]]{1,40}?)\s*[)\]]\s*\.?\s*$")
_PARENS_RE = re.compile(r"[(\[]\s*([^()\[\]]{1,40}?)\s*[)\]]")
_NON_WORD_RE = re.compile(r"[\W_]+")
_TAG_TRIM = " \t\"'“”«»„‘’()[]{}.:؛;,،!؟?*#|-–—_/\\"


def _phrase_pattern(phrase: str) -> str:
    tokens = fold_phrase(phrase).split()
    return r"[\s\-]+".join(re.escape(token) for token in tokens)


def _alternation(phrases: list[str], glued: set[str] = frozenset()) -> str:
    """Longest first, each ending at a word boundary unless it may be glued."""
    patterns = []
    for phrase in sorted(set(phrases), key=lambda p: -len(fold_phrase(p))):
        pattern = _phrase_pattern(phrase)
        if not pattern:
            continue
        patterns.append(pattern if phrase in glued else pattern + r"(?!\w)")
    return "|".join(patterns) if patterns else r"(?!x)x"


class SegmentRules:
    """The marker phrases of `segment_rules.yaml`, compiled once."""

    def __init__(self, data: dict):
        sources = [str(p) for p in data.get("source_markers") or []]
        tag_items = data.get("tag_markers") or []
        tags, glued = [], set()
        for item in tag_items:
            phrase = str(item["phrase"] if isinstance(item, dict) else item)
            tags.append(phrase)
            if isinstance(item, dict) and item.get("glued"):
                glued.add(phrase)
        read_also = [str(p) for p in data.get("read_also_markers") or []]
        related = [str(p) for p in data.get("related_markers") or []]
        promos = [str(p) for p in data.get("promo_phrases") or []]

        source_alt = _alternation(sources)
        tag_alt = _alternation(tags, glued)
        read_alt = _alternation(read_also)
        related_alt = _alternation(related)

        self.meta_any = re.compile(rf"(?<!\w)(?:(?P<source>{source_alt})|(?P<tags>{tag_alt}))")
        self.meta_start = re.compile(rf"^{_JUNK}(?=(?:{source_alt}|{tag_alt}))")
        self.read_also_start = re.compile(rf"^{_JUNK}(?:{read_alt})")
        self.related_start = re.compile(rf"^{_JUNK}(?:{related_alt})")
        self.promo = re.compile(rf"(?<!\w)(?:{_alternation(promos)})")
        # Markers that a page sometimes runs on after the last sentence of a
        # paragraph (`... أوكرانيا. اقرأ أيضا: ...`): split the line there.
        self.glued_split = re.compile(
            rf"(?<=[.!?؟…»\"”])\s+(?=(?:{read_alt}|{tag_alt}|(?:{source_alt})\s*:))"
        )

        self.agencies: dict[str, str] = {}
        for item in data.get("agencies") or []:
            name = str(item["name"])
            for alias in [name, *(item.get("aliases") or [])]:
                key = self._agency_key(str(alias))
                if key:
                    self.agencies.setdefault(key, name)
        prefixes = sorted((fold_phrase(str(p)) for p in data.get("agency_prefixes") or []), key=len, reverse=True)
        self._agency_prefixes = [p + " " for p in prefixes if p]

        self.tag_separators = re.compile(
            "[" + re.escape(str(data.get("tag_separators") or ",\n")) + "]"
        )
        self.join_with_previous = {fold_phrase(str(w)) for w in data.get("join_with_previous") or []}
        self.join_with_next = {fold_phrase(str(w)) for w in data.get("join_with_next") or []}

    @staticmethod
    def _agency_key(text: str) -> str:
        return _NON_WORD_RE.sub("", fold_phrase(text))

    def agency(self, value: str) -> str | None:
        """The agency a value names (`د.ب.أ`, `وكالة الأناضول`), or None."""
        folded = fold_phrase(value)
        candidates = [folded]
        for prefix in self._agency_prefixes:
            if folded.startswith(prefix):
                candidates.append(folded[len(prefix):])
        for candidate in candidates:
            name = self.agencies.get(_NON_WORD_RE.sub("", candidate))
            if name:
                return name
        return None


def load_rules(path: str | Path) -> SegmentRules:
    """Rules from another YAML file with the same keys (a site-specific layout)."""
    with open(path, encoding="utf-8") as handle:
        return SegmentRules(yaml.safe_load(handle) or {})


@lru_cache(maxsize=1)
def default_rules() -> SegmentRules:
    return load_rules(DEFAULT_RULES_PATH)


# --- lines ------------------------------------------------------------------

_TEXT, _BULLET, _META, _READ_ALSO, _RELATED = "text", "bullet", "meta", "read_also", "related"


@dataclass(slots=True)
class _Line:
    kind: str
    text: str
    item: str | None = None  # bullet item, inline title, first related item
    meta: list[tuple[str, str]] = field(default_factory=list)  # (source|tags, value)
    tag_list_follows: bool = False


def _tidy(line: str) -> str:
    line = _SPACES_RE.sub(" ", line).strip()
    return _GLUED_COMMA_RE.sub(r"\1 ", line)


def _word_count(text: str) -> int:
    return len(text.split())


def _ends_sentence(text: str) -> bool:
    return text.rstrip(" \"'”»)").endswith(tuple(_SENTENCE_END))


def _headline_like(text: str) -> bool:
    return _word_count(text) <= 25 and not _ends_sentence(text)


def _remove_promos(line: str, rules: SegmentRules) -> tuple[str, MatchText]:
    """Cut every promo phrase up to the end of its sentence."""
    folded = match_text(line)
    for _ in range(8):
        hit = rules.promo.search(folded.text)
        if not hit:
            break
        start, end = folded.to_display(hit.start(), hit.end())
        stop = _SENTENCE_END_RE.search(line, end)
        cut = stop.end() if stop else len(line)
        line = _tidy(line[:start] + " " + line[cut:])
        if not line.strip(_TRAILING + _SEPARATORS):
            line = ""
        folded = match_text(line)
    return line, folded


def _split_glued(line: str, folded: MatchText, rules: SegmentRules) -> list[tuple[str, MatchText]]:
    cuts = [folded.to_display(m.end(), m.end())[0] for m in rules.glued_split.finditer(folded.text)]
    if not cuts:
        return [(line, folded)]
    parts, last = [], 0
    for cut in cuts:
        parts.append(line[last:cut].strip())
        last = cut
    parts.append(line[last:].strip())
    return [(part, match_text(part)) for part in parts if part]


def _value(line: str, start: int, end: int) -> tuple[str, bool]:
    """Display value between two marker positions, and whether a colon or dash preceded it."""
    raw = line[start:end]
    stripped = raw.lstrip(_SEPARATORS)
    separated = any(ch in raw[: len(raw) - len(stripped)] for ch in ":：-–—|")
    return stripped.strip().rstrip(_TRAILING).strip(), separated


def _parse_meta(line: str, folded: MatchText, rules: SegmentRules) -> _Line | None:
    """An attribution or keyword line, possibly several run together."""
    start = rules.meta_start.match(folded.text)
    if not start:
        return None
    hits = [m for m in rules.meta_any.finditer(folded.text, start.end())]
    if not hits or hits[0].start() != start.end():
        return None
    segments: list[tuple[str, str]] = []
    tag_list_follows = False
    for index, hit in enumerate(hits):
        kind = "source" if hit.group("source") is not None else "tags"
        value_start = folded.to_display(hit.end(), hit.end())[0]
        value_end = (
            folded.to_display(hits[index + 1].start(), hits[index + 1].start())[0]
            if index + 1 < len(hits) else len(line)
        )
        value, separated = _value(line, value_start, value_end)
        if kind == "tags":
            if value:
                segments.append(("tags", value))
            elif index == len(hits) - 1:
                tag_list_follows = True
            continue
        if not value:
            continue
        words = _word_count(value)
        if rules.agency(value) or (separated and words <= 8 and len(value) <= 80) or (
            words <= 4 and len(hits) > 1
        ):
            segments.append(("source", value))
        elif index == 0:
            return None  # `المصدر أكد أن ...`: a sentence, not an attribution
    if not segments and not tag_list_follows:
        return None
    return _Line(_META, line, meta=segments, tag_list_follows=tag_list_follows)


def _rest_after(line: str, folded_end: int, folded: MatchText) -> str:
    start = folded.to_display(folded_end, folded_end)[0]
    return line[start:].lstrip(_SEPARATORS).strip()


def _classify(line: str, folded: MatchText, rules: SegmentRules) -> _Line:
    hit = rules.read_also_start.match(folded.text)
    if hit:
        return _Line(_READ_ALSO, line, item=_rest_after(line, hit.end(), folded) or None)
    hit = rules.related_start.match(folded.text)
    if hit:
        display_end = folded.to_display(hit.end(), hit.end())[0]
        rest = line[display_end:].strip()
        if not rest.strip(_SEPARATORS + _TRAILING):
            return _Line(_RELATED, line)
        if rest.lstrip().startswith((":", "：")):
            return _Line(_RELATED, line, item=rest.lstrip(_SEPARATORS).strip())
    meta = _parse_meta(line, folded, rules)
    if meta:
        return meta
    bullet = _BULLET_RE.match(line)
    if bullet and line[bullet.end():].strip():
        return _Line(_BULLET, line, item=line[bullet.end():].strip())
    return _Line(_TEXT, line)


def _lines(text: str, rules: SegmentRules) -> list[_Line]:
    out = []
    for raw in clean_display(text).split("\n"):
        line = _tidy(raw)
        if not line:
            continue
        line, folded = _remove_promos(line, rules)
        if line:
            out.extend(_classify(part, match, rules) for part, match in _split_glued(line, folded, rules))
    return out


# --- the page ---------------------------------------------------------------


def segment(
    text: str,
    *,
    known_phrases: KnownPhrases | None = None,
    known_title: str | None = None,
    rules: SegmentRules | None = None,
) -> Segments:
    """Split one page (plain text) into lead body, attribution, tags, embedded articles, related headlines.

    `known_phrases` is an optional callable that splits a string into known
    phrases (the knowledge base's longest match); `known_title` is the title the
    caller already has, removed from the body when the page repeats it.
    """
    rules = rules or default_rules()
    lines = _lines(text, rules)
    last_meta = max((i for i, line in enumerate(lines) if line.kind == _META), default=-1)

    lead: list[str] = []
    related: list[str] = []
    tag_values: list[str] = []
    tag_labels: list[str] = []
    embedded: list[list] = []  # [title or None, [paragraphs]]
    source_name = agency = None
    state, previous = "lead", "lead"
    trailer_seen = want_title = want_headline = tag_list = bullets_seen = False

    for index, line in enumerate(lines):
        if tag_list:
            if line.kind == _TEXT and _word_count(line.text) <= 6 and not _ends_sentence(line.text):
                tag_labels.append(line.text)
                continue
            tag_list = False

        if line.kind == _META:
            if state == "embed" or (state == "related" and previous == "embed"):
                continue  # the embedded article's own trailer
            trailer_seen = True
            for kind, value in line.meta:
                if kind == "tags":
                    tag_values.append(value)
                    continue
                named = rules.agency(value)
                if named:
                    agency = agency or named
                else:
                    source_name = source_name or value
            tag_list = line.tag_list_follows
            continue

        if line.kind == _READ_ALSO:
            # Before the attribution trailer, or inline with its headline in
            # the middle of the article, a "read also" is only a link.
            link_only = index < last_meta or (line.item is not None and not trailer_seen and state == "lead")
            if state == "related":
                state = previous
            if link_only:
                if line.item:
                    related.append(line.item)
                else:
                    want_headline = True
                continue
            embedded.append([line.item, []])
            state, want_title, want_headline = "embed", line.item is None, False
            continue

        if line.kind == _RELATED:
            if state != "related":
                previous, state = state, "related"
            bullets_seen = False
            want_title = want_headline = False
            if line.item:
                related.append(line.item)
            continue

        content = line.item if line.kind == _BULLET else line.text
        if want_headline:
            want_headline = False
            if _headline_like(content):
                related.append(content)
                continue
        if state == "related":
            if line.kind == _BULLET:
                related.append(content)
                bullets_seen = True
                continue
            if not bullets_seen and _headline_like(content):
                related.append(content)
                continue
            state = previous  # the list is over; the text continues
        if state == "embed":
            if want_title:
                embedded[-1][0] = content
                want_title = False
            else:
                embedded[-1][1].append(line.text)
            continue
        lead.append(line.text)

    title, lead = _take_title(lead, known_title)
    lead, signed = _take_signoff(lead, rules)
    agency = agency or signed or _dateline_agency(lead, rules)

    found: list[EmbeddedText] = []
    for emb_title, paragraphs in embedded:
        if emb_title and paragraphs:
            found.append(EmbeddedText(emb_title, "\n\n".join(paragraphs)))
        elif emb_title:
            related.append(emb_title)

    tags = _merge_tags(
        [split_tags_text(value, known_phrases, rules=rules) for value in tag_values]
        + [[label] for label in tag_labels]
    )
    return Segments(
        body="\n\n".join(lead),
        title=title,
        source_name=source_name,
        agency=agency,
        tags=tags,
        embedded=found,
        related=_dedupe(related),
    )


def _take_title(lead: list[str], known_title: str | None) -> tuple[str | None, list[str]]:
    """A first line that repeats the known title, or reads like a headline, is the title."""
    if not lead:
        return None, lead
    first = lead[0]
    if known_title:
        # The caller has a title: a different first line is a kicker or a
        # subtitle, and stays in the text.
        return (first, lead[1:]) if fold_phrase(first) == fold_phrase(known_title) else (None, lead)
    if (
        len(lead) >= 2
        and _word_count(first) <= 20
        and not _ends_sentence(first)
        and not first.endswith((":", "："))
        and (_ends_sentence(lead[1]) or _word_count(lead[1]) > 20)
    ):
        return first, lead[1:]
    return None, lead


def _take_signoff(lead: list[str], rules: SegmentRules) -> tuple[list[str], str | None]:
    """`(رويترز)` closing the article, or a last line that is only an agency code."""
    if not lead:
        return lead, None
    last = lead[-1]
    named = rules.agency(last.strip(_SEPARATORS + _TRAILING + "()[]"))
    if named and _word_count(last) <= 5:
        return lead[:-1], named
    hit = _PARENS_AT_END_RE.search(last)
    if hit:
        named = rules.agency(hit.group(1))
        if named:
            rest = last[: hit.start()].rstrip()
            if rest and not _ends_sentence(rest) and last.rstrip().endswith("."):
                rest += "."
            return (lead[:-1] + [rest]) if rest else lead[:-1], named
    return lead, None


def _dateline_agency(lead: list[str], rules: SegmentRules) -> str | None:
    """`موسكو (د ب أ) - ...`: the agency named in the dateline (the text stays)."""
    if not lead:
        return None
    for hit in _PARENS_RE.finditer(lead[0][:80]):
        named = rules.agency(hit.group(1))
        if named:
            return named
    return None


def _dedupe(items: list[str]) -> list[str]:
    seen, out = set(), []
    for item in items:
        key = fold_phrase(item)
        if key and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _merge_tags(groups: list[list[str]]) -> list[str]:
    return _dedupe([tag for group in groups for tag in group])


# --- tags -------------------------------------------------------------------


def split_tags(raw: str, known_phrases: KnownPhrases | None = None) -> list[str]:
    """Split one keyword line into tags, keeping names of several words together.

    Tags come back in display form written in Arabic letters (`کوریا` ->
    `كوريا`), once each by folded form.
    """
    return split_tags_text(raw, known_phrases)


def split_tags_text(
    raw: str, known_phrases: KnownPhrases | None = None, *, rules: SegmentRules | None = None
) -> list[str]:
    rules = rules or default_rules()
    text = clean_display(raw)
    pieces = [piece.strip() for piece in rules.tag_separators.split(text)]
    pieces = [piece for piece in pieces if piece.strip(_TAG_TRIM)]
    tags: list[str] = []
    if len(pieces) > 1:
        tags = pieces  # an explicit list: every item is one tag
    elif pieces:
        words = [word for word in pieces[0].split() if word.strip(_TAG_TRIM)]
        tags = _group_words(words, known_phrases, rules)
    out = []
    for tag in tags:
        tag = _SPACES_RE.sub(" ", arabic_letters(tag)).strip(_TAG_TRIM)
        if tag:
            out.append(tag)
    return _dedupe(out)


def _group_words(words: list[str], known_phrases: KnownPhrases | None, rules: SegmentRules) -> list[str]:
    if not words:
        return []
    if known_phrases is None:
        return _heuristic_groups(words, rules)
    tokens: list[tuple[str, int]] = []
    for index, word in enumerate(words):
        tokens.extend((token, index) for token in fold_phrase(word).split())
    spans: list[tuple[int, int]] = []  # word ranges [start, end] found by the knowledge base
    cursor, next_word = 0, 0
    for phrase in known_phrases(" ".join(words)) or []:
        wanted = fold_phrase(phrase).split()
        if not wanted:
            continue
        for j in range(cursor, len(tokens) - len(wanted) + 1):
            if [t for t, _ in tokens[j : j + len(wanted)]] == wanted:
                first, last = tokens[j][1], tokens[j + len(wanted) - 1][1]
                if first >= next_word:
                    spans.append((first, last))
                    next_word = last + 1
                cursor = j + len(wanted)
                break
    groups: list[str] = []
    position = 0
    for first, last in spans:
        groups.extend(_heuristic_groups(words[position:first], rules))
        groups.append(" ".join(words[first : last + 1]))
        position = last + 1
    groups.extend(_heuristic_groups(words[position:], rules))
    return groups


def _heuristic_groups(words: list[str], rules: SegmentRules) -> list[str]:
    """Join a nisba adjective to the word before it and a name prefix to the word after it."""
    groups: list[list[str]] = []
    glue_next = False
    for word in words:
        key = fold_phrase(word.strip(_TAG_TRIM))
        if groups and (glue_next or key in rules.join_with_previous):
            groups[-1].append(word)
        else:
            groups.append([word])
        glue_next = key in rules.join_with_next
    return [" ".join(group) for group in groups]
