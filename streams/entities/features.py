"""Token features for the CRF tagger, the same at training and at run time.

Arabic has no capital letters, so a name has to be recognised from the word
itself and from what surrounds it: the folded form (spelling variants meet),
prefixes and suffixes (the article ال, the nisba ي/ية of adjectives, plural
endings), the stem without proclitics (`وروسيا` looks like `روسيا`), the
script and shape, the two words on each side, and whether the knowledge base
knows the word or phrase as part of a name of some type (a gazetteer). From
outside the training data (``streams.entities.lexicon``): the word's clusters
learned from unlabelled news, those of its stem and of the words on each
side, and the name lists the word or its stem is in.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from functools import lru_cache

from streams.entities.clitics import clitic_of, feature_stem
from streams.entities.kb import KnowledgeBase
from streams.entities.lexicon import Lexicon
from streams.entities.link import find_matches

_PUNCT_SHAPE = "P"
_CACHE_LIMIT = 30_000  # about 40 MB at most; cleared whole when full
_CACHES: "weakref.WeakKeyDictionary[KnowledgeBase, tuple[int, Lexicon, dict[str, tuple[str, ...]]]]" = (
    weakref.WeakKeyDictionary()
)


@lru_cache(maxsize=65536)
def shape(token: str) -> str:
    """Coarse script/shape class: A(rabic), L(atin, Lc capitalised), D(igits), P(unct), M(ixed)."""
    has_ar = has_lat = has_dig = False
    for ch in token:
        if ch.isdigit():
            has_dig = True
        elif "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" or "\ufb50" <= ch <= "\ufeff":
            has_ar = True
        elif ch.isalpha():
            has_lat = True
    if has_ar and not (has_lat or has_dig):
        return "A"
    if has_lat and not (has_ar or has_dig):
        return "Lc" if token[0].isupper() else "L"
    if has_dig and not (has_ar or has_lat):
        return "D"
    if not (has_ar or has_lat or has_dig):
        return _PUNCT_SHAPE
    return "M"


def is_word(folded: str) -> bool:
    """A unit the linker may match: it has a letter or a digit."""
    return any(ch.isalnum() for ch in folded)


def gazetteer(kb: KnowledgeBase, folded: Sequence[str]) -> list[str]:
    """Per-token KB phrase tags: `B-LOC`, `I-PER`, weak ones as `wB-LOC`, else ``""``.

    Punctuation separates phrases, except a hyphen (`كيم جونج-أون`).
    """
    keep = [i for i, f in enumerate(folded) if f != "-"]
    squeezed = [folded[i] if is_word(folded[i]) else None for i in keep]
    return gazetteer_tags(kb, find_matches(kb, squeezed), keep, len(folded))


def gazetteer_tags(kb: KnowledgeBase, matches, unit_tokens: Sequence[int], n_tokens: int) -> list[str]:
    """Token tags from matches over units; ``unit_tokens[j]`` is the token of unit ``j``."""
    tags = [""] * n_tokens
    for m in matches:
        if not m.entity_id:
            continue
        entity = kb.get(m.entity_id)
        if entity is None:
            continue
        prefix = "w" if m.weak else ""
        etype = entity["type"]
        for j in range(m.start, m.end):
            tags[unit_tokens[j]] = f"{prefix}{'B' if j == m.start else 'I'}-{etype}"
    return tags


def _local_features(kb: KnowledgeBase, f: str, lexicon: Lexicon) -> tuple[str, ...]:
    """Features of a folded word alone; cached, since news repeats its vocabulary."""
    entry = _CACHES.get(kb)
    if entry is None or entry[0] != kb.version or entry[1] is not lexicon or len(entry[2]) > _CACHE_LIMIT:
        entry = (kb.version, lexicon, {})
        _CACHES[kb] = entry
    cache = entry[2]
    feats = cache.get(f)
    if feats is None:
        s = feature_stem(f)
        lf = len(f)
        out = [
            "b", "w=" + f, "s=" + s, "c=" + clitic_of(f),
            "p1=" + f[:1], "p2=" + f[:2], "p3=" + f[:3], "p4=" + f[:4],
            "x1=" + f[-1:], "x2=" + f[-2:], "x3=" + f[-3:], "x4=" + f[-4:],
            "sp2=" + s[:2], "sp3=" + s[:3], "sx2=" + s[-2:], "sx3=" + s[-3:],
            "len=" + (str(lf) if lf < 8 else "8+"),
        ]
        for t in sorted(kb.begin_types(s) | kb.begin_types(f)):
            out.append("gb=" + t)
        for t in sorted(kb.inner_types(s) | kb.inner_types(f)):
            out.append("gc=" + t)
        out += lexicon.word_features(f)
        feats = cache[f] = tuple(out)
    return feats


def sentence_features(
    tokens: Sequence[str],
    folded: Sequence[str],
    kb: KnowledgeBase,
    gaz: Sequence[str] | None = None,
    lexicon: Lexicon | None = None,
) -> list[list[str]]:
    """CRF attribute lists for one sentence (``gaz`` may be passed in if already computed;
    ``lexicon`` defaults to the packaged word clusters and name lists)."""
    n = len(tokens)
    if gaz is None:
        gaz = gazetteer(kb, folded)
    if lexicon is None:
        lexicon = Lexicon.default()
    ctx = [lexicon.context_features(w) for w in ("<s>", *folded, "</s>")]
    stems = [feature_stem(f) for f in folded]
    shapes = [shape(t) for t in tokens]
    pad_w = ["<s>", "<s>", *folded, "</s>", "</s>"]
    pad_s = ["<s>", *stems, "</s>"]
    pad_sh = ["<s>", *shapes, "</s>"]
    pad_g = ["<s>", *[g or "O" for g in gaz], "</s>"]
    out: list[list[str]] = []
    for i in range(n):
        f = folded[i]
        feats = list(_local_features(kb, f, lexicon))
        feats += (
            "sh=" + shapes[i],
            "w-2=" + pad_w[i], "w-1=" + pad_w[i + 1], "w+1=" + pad_w[i + 3], "w+2=" + pad_w[i + 4],
            "s-1=" + pad_s[i], "s+1=" + pad_s[i + 2],
            "w-1w=" + pad_w[i + 1] + "|" + f, "ww+1=" + f + "|" + pad_w[i + 3],
            "sh-1=" + pad_sh[i], "sh+1=" + pad_sh[i + 2],
            "g=" + pad_g[i + 1], "g-1=" + pad_g[i], "g+1=" + pad_g[i + 2],
            "g-1g=" + pad_g[i] + "|" + pad_g[i + 1],
        )
        feats += ctx[i][0]  # the clusters of the word on the left (or the sentence start)
        feats += ctx[i + 2][1]  # and of the word on the right
        out.append(feats)
    return out


_SHAPE_PREFIXES = ("sh=", "sh-1=", "sh+1=")  # the token's shape, as seen from the right, from the left
_GAZ_PREFIXES = ("g=", "g-1=", "g+1=")
_GAZ_PAIR_PREFIX = ("g-1g=",)


class ModelFeatures:
    """``sentence_features`` kept to the attributes a model has weights for, built from word caches.

    Tagging passes crfsuite only attributes it knows (the rest weigh nothing),
    and filtering ~30 fresh strings per token cost as much as the tagging. Here
    each word's own features and its neighbour-context strings are made,
    filtered and encoded once per word, so a token is a concatenation of
    cached tuples. Attributes come out as UTF-8 bytes, which crfsuite takes
    without converting each string again (a quarter of its tagging time).
    The result equals ``[[a.encode() for a in f if a in attributes] for f in
    sentence_features(...)]``, same order, so predictions do not change.
    """

    def __init__(self, attributes: frozenset[str], lexicon: Lexicon | None = None) -> None:
        self.attributes = attributes
        self.lexicon = lexicon if lexicon is not None else Lexicon.default()
        self._cluster_context: dict[str, tuple[tuple[bytes, ...], tuple[bytes, ...]]] = {}
        self._kb_caches: "weakref.WeakKeyDictionary[KnowledgeBase, tuple[int, dict]]" = weakref.WeakKeyDictionary()
        self._context: dict[str, tuple[bytes | None, ...]] = {}
        self._stem_context: dict[str, tuple[bytes | None, bytes | None]] = {}
        self._small: dict[tuple[tuple[str, ...], str], tuple[bytes | None, ...]] = {}

    def _known(self, attribute: str) -> bytes | None:
        return attribute.encode() if attribute in self.attributes else None

    def _small_ctx(self, prefixes: tuple[str, ...], value: str) -> tuple[bytes | None, ...]:
        """The few shape and gazetteer values, with each prefix they take: cached by value."""
        key = (prefixes, value)
        ctx = self._small.get(key)
        if ctx is None:
            ctx = self._small[key] = tuple(self._known(prefix + value) for prefix in prefixes)
        return ctx

    def _words(self, kb: KnowledgeBase) -> dict[str, tuple[bytes, ...]]:
        entry = self._kb_caches.get(kb)
        if entry is None or entry[0] != kb.version or len(entry[1]) > _CACHE_LIMIT:
            entry = (kb.version, {})
            self._kb_caches[kb] = entry
        return entry[1]

    def _word_context(self, word: str) -> tuple[bytes | None, ...]:
        """The word seen from two, one token to the right and one, two to the left."""
        ctx = self._context.get(word)
        if ctx is None:
            if len(self._context) > _CACHE_LIMIT:
                self._context.clear()
            known = self._known
            ctx = self._context[word] = (
                known("w-2=" + word), known("w-1=" + word), known("w+1=" + word), known("w+2=" + word),
            )
        return ctx

    def _stem_ctx(self, stem: str) -> tuple[bytes | None, bytes | None]:
        ctx = self._stem_context.get(stem)
        if ctx is None:
            if len(self._stem_context) > _CACHE_LIMIT:
                self._stem_context.clear()
            ctx = self._stem_context[stem] = (self._known("s-1=" + stem), self._known("s+1=" + stem))
        return ctx

    def _cluster_ctx(self, word: str) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        """The word's clusters as the next token sees them, and as the previous one does."""
        ctx = self._cluster_context.get(word)
        if ctx is None:
            if len(self._cluster_context) > _CACHE_LIMIT:
                self._cluster_context.clear()
            attributes = self.attributes
            left, right = self.lexicon.context_features(word)
            ctx = self._cluster_context[word] = (
                tuple(a.encode() for a in left if a in attributes),
                tuple(a.encode() for a in right if a in attributes),
            )
        return ctx

    def sentence(
        self,
        tokens: Sequence[str],
        folded: Sequence[str],
        kb: KnowledgeBase,
        gaz: Sequence[str] | None = None,
    ) -> list[list[bytes]]:
        n = len(tokens)
        if gaz is None:
            gaz = gazetteer(kb, folded)
        words = self._words(kb)
        attributes = self.attributes
        lexicon = self.lexicon
        local = []
        for f in folded:
            kept = words.get(f)
            if kept is None:
                kept = words[f] = tuple(a.encode() for a in _local_features(kb, f, lexicon) if a in attributes)
            local.append(kept)
        k_ctx = [self._cluster_ctx(w) for w in ("<s>", *folded, "</s>")]
        bound = self._word_context("<s>"), self._word_context("</s>")
        w_ctx = [bound[0], bound[0], *[self._word_context(f) for f in folded], bound[1], bound[1]]
        s_bound = self._stem_ctx("<s>"), self._stem_ctx("</s>")
        s_ctx = [s_bound[0], *[self._stem_ctx(feature_stem(f)) for f in folded], s_bound[1]]
        small = self._small_ctx
        sh_ctx = [small(_SHAPE_PREFIXES, s) for s in ("<s>", *[shape(t) for t in tokens], "</s>")]
        pad_g = ["<s>", *[g or "O" for g in gaz], "</s>"]
        g_ctx = [small(_GAZ_PREFIXES, g) for g in pad_g]
        gg = [small(_GAZ_PAIR_PREFIX, pad_g[j] + "|" + pad_g[j + 1])[0] for j in range(n)]
        pad_w = ["<s>", "<s>", *folded, "</s>", "</s>"]
        out: list[list[bytes]] = []
        for i in range(n):
            f = folded[i]
            pair_left = "w-1w=" + pad_w[i + 1] + "|" + f
            pair_right = "ww+1=" + f + "|" + pad_w[i + 3]
            out.append([*local[i], *filter(None, (
                sh_ctx[i + 1][0],
                w_ctx[i][0], w_ctx[i + 1][1], w_ctx[i + 3][2], w_ctx[i + 4][3],
                s_ctx[i][0], s_ctx[i + 2][1],
                pair_left.encode() if pair_left in attributes else None,
                pair_right.encode() if pair_right in attributes else None,
                sh_ctx[i][1], sh_ctx[i + 2][2],
                g_ctx[i + 1][0], g_ctx[i][1], g_ctx[i + 2][2],
                gg[i],
            )), *k_ctx[i][0], *k_ctx[i + 2][1]])
        return out
