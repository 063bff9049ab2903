"""Entities of an article body: knowledge-base linking plus the statistical tagger.

What the pipeline stores per article is one item per distinct entity:
``{id, name, type, mentions, spans, forms}``, with spans as half-open display
offsets into the body that slice it to the forms as written.

Order of decisions, each one conservative:

1. KB aliases, longest match, proclitics stripped only onto a known alias. A
   weak alias (a name that is also a word, `مالي`) counts only where the tagger
   also sees a name.
2. Tagger spans that no KB match touches (a name the tagger found once is
   also tagged where nearby sentences repeat it: ``ner.propagate``). Their id is derived from the
   name's transliteration skeleton, so the same unknown name, however a desk
   spells it, gets the same id in every article and every process. A proclitic is stripped from the first word only when the stripped
   word is one the model or the KB knows as (part of) a name, so `وروسيا`
   never becomes an entity of its own.
3. Short mentions of people named in full elsewhere in the article
   (``streams.entities.link.short_keys``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

from streams.entities.clitics import strip_candidates
from streams.entities.features import gazetteer_tags, is_word
from streams.entities.kb import KnowledgeBase
from streams.entities.link import KbMatch, find_matches, short_keys, short_match
from streams.entities.ner import NerTagger, bio_spans, propagate
from streams.entities.skeleton import name_skeleton
from streams.entities.tokens import fold_token, sentences, tokenize
from streams.text.normalize import fold_phrase, match_text

_HYPHENS = frozenset("-\u2010\u2011")


def unknown_id(etype: str, name: str) -> str:
    """Stable id of a name the KB does not know: type plus a hash of its spelling skeleton.

    The skeleton (``streams.entities.skeleton.name_skeleton``) folds the
    transliteration variants of one name (`جوجل` / `غوغل`, `عبد الله` /
    `عبدالله`), so every article and every process gives them one id.
    """
    digest = hashlib.sha1(name_skeleton(name).encode("utf-8")).hexdigest()[:12]
    return f"{etype.lower()}:x-{digest}"


def _display_offset(token: str, folded_chars: int) -> int:
    """Index in ``token`` where its ``folded_chars``-th folded character comes from.

    Skips what folds to nothing right after the clitic (the tatweel of `لـتشوي`).
    """
    if folded_chars <= 0:
        return 0
    offsets = match_text(token).offsets
    return offsets[min(folded_chars, len(offsets) - 1)]


class _Units:
    """The linker's view of a tokenised body: word units, and which token each is."""

    __slots__ = ("units", "unit_tokens", "token_unit")

    def __init__(self, toks: Sequence[tuple[str, int, int]], folded: Sequence[str]) -> None:
        units: list[str | None] = []
        unit_tokens: list[int] = []
        token_unit = [-1] * len(toks)
        n = len(toks)
        for i, (tok, start, end) in enumerate(toks):
            f = folded[i]
            if not f:
                continue  # a lone mark or tatweel: invisible to matching
            if tok in _HYPHENS or (
                tok == "." and 0 < i < n - 1 and toks[i - 1][2] == start and toks[i + 1][1] == end
                and is_word(folded[i - 1]) and is_word(folded[i + 1])
            ):
                continue  # `جونج-أون`, `آر.تي.إل`: joins the words around it
            token_unit[i] = len(units)
            units.append(f if is_word(f) else None)
            unit_tokens.append(i)
        self.units = units
        self.unit_tokens = unit_tokens
        self.token_unit = token_unit


class EntityExtractor:
    """KB + NER entity extraction for article bodies (see the module docstring)."""

    def __init__(self, kb: KnowledgeBase | None = None, tagger: NerTagger | None = None) -> None:
        self.kb = kb if kb is not None else KnowledgeBase.default()
        self.tagger = tagger if tagger is not None else NerTagger.load()

    @staticmethod
    @lru_cache(maxsize=1)
    def default() -> "EntityExtractor":
        """The process-wide extractor: packaged KB and model, built once."""
        return EntityExtractor()

    # ---------------------------------------------------------------- public
    def extract(self, body: str) -> list[dict]:
        """One dict per distinct entity in ``body``, most mentioned first."""
        if not body or not body.strip():
            return []
        toks = tokenize(body)
        folded = [fold_token(t) for t, _s, _e in toks]
        view = _Units(toks, folded)
        matches = find_matches(self.kb, view.units)
        tags = self._tag(body, toks, folded, view, matches)

        mentions: list[tuple[int, int, str, str, str]] = []  # start, end, id, type, name
        covered = [False] * len(toks)

        # 1. KB matches.
        per_names: dict[str, set[str]] = {}
        for m in matches:
            if not m.entity_id:
                continue
            entity = self.kb.get(m.entity_id)
            if entity is None:
                continue
            first_tok = view.unit_tokens[m.start]
            last_tok = view.unit_tokens[m.end - 1]
            if m.weak and all(tags[i] == "O" for i in range(first_tok, last_tok + 1)):
                continue
            for i in range(first_tok, last_tok + 1):
                covered[i] = True
            start = toks[first_tok][1] + _display_offset(toks[first_tok][0], m.strip)
            mentions.append((start, toks[last_tok][2], entity["id"], entity["type"], entity["name"]))
            if entity["type"] == "PER" and " " in m.key:
                per_names.setdefault(entity["id"], set()).add(m.key)

        # 2. Tagger spans outside KB matches.
        single: dict[int, int] = {}  # token index -> index in mentions of a one-word tagger span
        ner_multi = [False] * len(toks)
        for a, b, etype in bio_spans(tags):
            if any(covered[a:b]):
                continue
            resolved = self._resolve_unknown(body, toks, folded, a, b, etype)
            if resolved is None:
                continue
            start, end, entity_id, etype2, name = resolved
            if b - a == 1:
                single[a] = len(mentions)
            else:
                for i in range(a, b):
                    ner_multi[i] = True
                if etype2 == "PER" and entity_id not in per_names:
                    key = fold_phrase(name)
                    if " " in key:
                        per_names.setdefault(entity_id, set()).add(key)
            mentions.append((start, end, entity_id, etype2, name))

        # 3. Short mentions of people named in full in this article.
        table = short_keys(self.kb, per_names)
        if table:
            for i, unit_index in enumerate(view.token_unit):
                if unit_index < 0 or covered[i] or ner_multi[i]:
                    continue
                unit = view.units[unit_index]
                if unit is None:
                    continue
                hit = short_match(unit, table)
                if hit is None:
                    continue
                entity_id, strip = hit
                entity = self.kb.get(entity_id)
                in_span = single.get(i)
                if entity is None and (in_span is None or not tags[i].endswith("PER")):
                    continue  # an unknown person's surname counts only where the tagger agrees
                start = toks[i][1] + _display_offset(toks[i][0], strip)
                if entity is not None:
                    item = (start, toks[i][2], entity_id, entity["type"], entity["name"])
                else:
                    item = (start, toks[i][2], entity_id, "PER", next(
                        m[4] for m in mentions if m[2] == entity_id))
                if in_span is not None:
                    mentions[in_span] = item
                else:
                    mentions.append(item)
        return _assemble(body, mentions)

    def split_tags(self, text: str) -> list[str]:
        """Split a keyword line into known phrases (longest match), unknown words singly.

        `روسيا كوريا الشمالية کوریا الشمالیة` -> `روسيا`, `كوريا الشمالية`,
        `کوریا الشمالیة`. Phrases are returned as written.
        """
        if not text or not text.strip():
            return []
        toks = tokenize(text)
        folded = [fold_token(t) for t, _s, _e in toks]
        view = _Units(toks, folded)
        starts = {m.start: m for m in find_matches(self.kb, view.units)}
        out: list[str] = []
        j = 0
        while j < len(view.units):
            m: KbMatch | None = starts.get(j)
            if m is not None:
                out.append(text[toks[view.unit_tokens[m.start]][1]:toks[view.unit_tokens[m.end - 1]][2]])
                j = m.end
                continue
            if view.units[j] is not None:
                out.append(toks[view.unit_tokens[j]][0])  # an unknown word stays on its own
            j += 1
        return out

    # -------------------------------------------------------------- internal
    def _tag(self, body, toks, folded, view: _Units, matches: list[KbMatch]) -> list[str]:
        gaz_units = gazetteer_tags(self.kb, matches, view.unit_tokens, len(toks))
        tokens = [t for t, _s, _e in toks]
        bounds = sentences(body, toks)
        per_sentence = [
            self.tagger.tag_sentence(tokens[a:b], folded[a:b], self.kb, gaz_units[a:b])
            for a, b in bounds
        ]
        # A name the tagger found once also counts where the article repeats it.
        per_sentence = propagate([folded[a:b] for a, b in bounds], per_sentence,
                                 tokens=[tokens[a:b] for a, b in bounds])
        return [tag for sent in per_sentence for tag in sent]

    def _resolve_unknown(self, body, toks, folded, a: int, b: int, etype: str):
        """Span, id, type and name of a tagger span; None if it is only punctuation."""
        while a < b and not is_word(folded[a]):
            a += 1
        while b > a and not is_word(folded[b - 1]):
            b -= 1
        if a >= b:
            return None
        first = folded[a]
        strip, restore_al = self._clitic_to_strip(first)
        start = toks[a][1] + _display_offset(toks[a][0], strip)
        end = toks[b - 1][2]
        name = body[start:end]
        if restore_al:
            name = "ال" + name
        # The tagger may have found an alias the KB knows in a form the linker
        # skipped (for instance a weak alias); the KB id wins.
        hits = self.kb.lookup(name)
        if hits:
            entity = hits[0]
            return start, end, entity["id"], entity["type"], entity["name"]
        return start, end, unknown_id(etype, name), etype, name

    def _clitic_to_strip(self, first: str) -> tuple[int, bool]:
        """Letters of proclitic to drop from an unknown name's first word, and whether
        `لل` hid an article (`للجزيرة` is `ل + الجزيرة`).

        Only onto a word the model weighs toward a name or a one-word KB alias.
        """
        known = self.tagger.known_words()

        def vouched(word: str) -> bool:
            return word in known or any(i for i, _weak in self.kb.hits(word))

        if vouched(first):
            return 0, False
        # Same prefix length: the reading with the article restored first.
        cands = sorted(strip_candidates(first), key=lambda c: (c[0], c[1] == first[c[0]:]))
        for prefix_len, rest in cands:
            prefix = first[:prefix_len]
            if "ال" in prefix:
                continue  # the article is part of the name (`الجزيرة`), keep it
            if vouched(rest):
                return prefix_len, rest != first[prefix_len:]
        return 0, False


def _assemble(body: str, mentions: list[tuple[int, int, str, str, str]]) -> list[dict]:
    by_id: dict[str, dict] = {}
    for start, end, entity_id, etype, name in sorted(mentions):
        item = by_id.get(entity_id)
        if item is None:
            item = by_id[entity_id] = {"id": entity_id, "name": name, "type": etype,
                                       "mentions": 0, "spans": [], "forms": []}
        if item["spans"] and item["spans"][-1] == [start, end]:
            continue
        item["spans"].append([start, end])
        form = body[start:end]
        if form not in item["forms"]:
            item["forms"].append(form)
        item["mentions"] += 1
    return sorted(by_id.values(), key=lambda e: (-e["mentions"], e["id"]))
