"""Run the packaged CRF named-entity tagger.

The model (``model/ner.crfsuite``, trained by ``streams.tools.train_ner`` on
ANERcorp) reads the features of ``streams.entities.features`` and writes BIO
tags over PER, ORG, LOC and MISC. ``propagate`` then tags the untagged
repeats of names found in nearby sentences (``NerTagger.tag_document``; the
extractor does the same within an article). Loading is cached per path: a
worker loads the model once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pycrfsuite

from streams.entities.clitics import clitic_of, feature_stem
from streams.entities.features import ModelFeatures
from streams.entities.kb import KnowledgeBase
from streams.entities.lexicon import Lexicon
from streams.entities.tokens import fold_token
from streams.trending.not_trending import packaged as _function_word_filter, trend_key

MODEL_DIR = Path(__file__).with_name("model")
DEFAULT_MODEL = MODEL_DIR / "ner.crfsuite"
# Sentences on each side whose names are repeated onto untagged copies (see
# ``propagate``); chosen on the development split (3 to 20 score alike).
PROPAGATION_WINDOW = 10
_MIN_PROPAGATED_CHARS = 3


def bio_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Half-open ``(start, end, type)`` entities of a BIO sequence.

    As in conlleval, an `I-X` that does not continue an `X` starts a new one.
    """
    spans: list[tuple[int, int, str]] = []
    start = -1
    etype = ""
    for i, tag in enumerate(tags):
        if tag.startswith("B-") or (tag.startswith("I-") and tag[2:] != etype):
            if start >= 0:
                spans.append((start, i, etype))
            start, etype = i, tag[2:]
        elif tag == "O" or not tag.startswith("I-"):
            if start >= 0:
                spans.append((start, i, etype))
            start, etype = -1, ""
    if start >= 0:
        spans.append((start, len(tags), etype))
    return spans


class NerTagger:
    """BIO tagging of token lists; the KB supplies the gazetteer features."""

    def __init__(self, model_path: str | Path, kb: KnowledgeBase | None = None,
                 lexicon: Lexicon | None = None) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"NER model not found: {path} (train it with newsstreams train-ner)")
        self.path = path
        self.kb = kb if kb is not None else KnowledgeBase.default()
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(path))
        # A crfsuite tagger keeps per-sequence state; one caller at a time.
        self._lock = threading.Lock()
        # Attributes the model has weights for, and words it weighs toward a
        # name. Passing crfsuite only attributes it knows halves tagging time
        # (L1 training leaves most context pairs without a weight).
        attrs: set[str] = set()
        known: set[str] = set()
        for (attr, label), weight in self._tagger.info().state_features.items():
            attrs.add(attr)
            if label != "O" and weight > 0 and attr[:2] in ("w=", "s="):
                known.add(attr[2:])
        self._attrs = frozenset(attrs)
        self._known = frozenset(known)
        # Word clusters and name lists (``streams.entities.lexicon``): the
        # packaged files, which the packaged model was trained with.
        self.lexicon = lexicon if lexicon is not None else Lexicon.default()
        self._features = ModelFeatures(self._attrs, self.lexicon)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "NerTagger":
        """The tagger for a model file (default: the packaged one), loaded once."""
        return _load(str(Path(path).resolve()) if path else str(DEFAULT_MODEL))

    @property
    def labels(self) -> list[str]:
        return list(self._tagger.labels())

    def tag(self, tokens: list[str]) -> list[str]:
        """BIO tags for one sentence of tokens (ANERcorp style: clitics attached)."""
        if not tokens:
            return []
        return self.tag_sentence(tokens, [fold_token(t) for t in tokens], self.kb)

    def tag_document(
        self, sentences: Sequence[Sequence[str]], window: int | None = PROPAGATION_WINDOW
    ) -> list[list[str]]:
        """BIO tags for consecutive sentences of one text, names made consistent
        across them (``propagate``); ``window=0`` tags each sentence alone."""
        folded = [[fold_token(t) for t in tokens] for tokens in sentences]
        tags = [self.tag_sentence(list(tokens), f, self.kb) if tokens else []
                for tokens, f in zip(sentences, folded)]
        return propagate(folded, tags, window, tokens=sentences) if window != 0 else tags

    def tag_features(self, xseq: list[list[str]]) -> list[str]:
        """Tags for precomputed feature lists (the extractor shares the KB pass)."""
        if not xseq:
            return []
        attrs = self._attrs
        xseq = [[a for a in feats if a in attrs] for feats in xseq]
        with self._lock:
            return list(self._tagger.tag(xseq))

    def marginals(self, xseq: list[list[str]], columns: Sequence[tuple[int, str]], width: int) -> np.ndarray:
        """(n, width) probability of each label at each token; ``columns`` maps labels to columns."""
        out = np.zeros((len(xseq), width))
        if not xseq:
            return out
        attrs = self._attrs
        xseq = [[a for a in feats if a in attrs] for feats in xseq]
        positions = range(len(xseq))
        with self._lock:
            self._tagger.set(xseq)
            for col, label in columns:
                out[:, col] = [self._tagger.marginal(label, i) for i in positions]
        return out

    def tag_parsed(self, tokens: Sequence[Sequence[str]], folded: Sequence[Sequence[str]],
                   gaz: Sequence[Sequence[str]]) -> list[list[str]]:
        """Tags for sentences given their folded tokens and KB phrase tags (``features.gazetteer``)."""
        return [self.tag_sentence(list(t), f, self.kb, g) for t, f, g in zip(tokens, folded, gaz)]

    def tag_sentence(
        self, tokens: Sequence[str], folded: Sequence[str], kb: KnowledgeBase, gaz: Sequence[str] | None = None,
    ) -> list[str]:
        """Tags for one sentence; the same as ``tag_features(sentence_features(...))``, faster."""
        if not tokens:
            return []
        xseq = self._features.sentence(tokens, folded, kb, gaz)
        with self._lock:
            return list(self._tagger.tag(xseq))

    def known_words(self) -> frozenset[str]:
        """Folded words the model learned to weigh toward a name (non-O `w=`/`s=` weights).

        Used to decide when a proclitic may be stripped from an unknown name:
        only if the stripped form is something the model has seen as a name.
        """
        return self._known


def propagate(
    folded: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]],
    window: int | None = PROPAGATION_WINDOW,
    tokens: Sequence[Sequence[str]] | None = None,
) -> list[list[str]]:
    """Tag untagged repeats of names the tagger found in nearby sentences.

    A news story names someone in full once and then repeats the name in
    contexts the tagger alone misses (`ورفض جوزيه ...`). For each sentence,
    the names tagged within ``window`` sentences on either side (all of them
    if ``window`` is None) are looked up, longest first, in its runs of `O`
    tokens, compared by ``feature_stem`` so that clitics do not hide a repeat
    (`الاهلي` / `للاهلي`), but with or without the article alike (`مالي`,
    Mali, does not make `المالي`, "the financial", a name). A repeat takes the
    type the name was given most often. The last word of a person's name of
    two words or more counts as a name too (`فايزة أبوالنجا` ...
    `وقالت أبوالنجا`). Tags the tagger set are never changed. ``folded``
    holds the folded tokens of each sentence (``fold_token``).

    Given the sentences' ``tokens`` as written, a repeat made only of function
    words (``streams.trending.not_trending``: `على`, on, folds like `علي`, Ali)
    stays untagged: one mistaken name must not spread to every preposition of
    the story.
    """
    out = [list(t) for t in tags]
    n = len(out)
    # Names of each sentence as (key, type); most sentences have none.
    names: list[list[tuple[tuple[str, ...], str]]] = []
    for sent, row in zip(folded, tags):
        found = []
        if row.count("O") == len(row):
            names.append(found)
            continue
        for a, b, etype in bio_spans(row):
            key = tuple(_repeat_key(f) for f in sent[a:b])
            if len("".join(key)) >= _MIN_PROPAGATED_CHARS and any(ch.isalpha() for ch in key[0]):
                found.append((key, etype))
            if etype == "PER" and b - a >= 2 and len(key[-1]) >= _MIN_PROPAGATED_CHARS:
                found.append((key[-1:], etype))  # the surname a story repeats alone
        names.append(found)
    if not any(names):
        return out
    span = n if window is None else window
    table: dict[tuple[str, ...], Counter] = {}
    firsts: dict[str, int] = {}  # first key of a name -> longest name starting with it
    dirty = [False]

    def count(si: int, step: int) -> None:
        if names[si]:
            dirty[0] = True
        for key, etype in names[si]:
            counts = table.setdefault(key, Counter())
            counts[etype] += step
            if counts[etype] <= 0:
                del counts[etype]
                if not counts:
                    del table[key]

    for sj in range(min(n, span + 1)):  # the window of sentence 0
        count(sj, 1)
    for si in range(n):
        if si > 0:  # slide: one sentence enters on the right, one leaves on the left
            if si + span < n:
                count(si + span, 1)
            if si - span - 1 >= 0:
                count(si - span - 1, -1)
        if not table:
            continue
        if dirty[0]:
            firsts.clear()
            for key in table:
                firsts[key[0]] = max(firsts.get(key[0], 0), len(key))
            dirty[0] = False
        row = out[si]
        if "O" not in row:
            continue
        ks = [_repeat_key(f) for f in folded[si]]
        i, m_len = 0, len(ks)
        while i < m_len:
            hit = 0
            longest = firsts.get(ks[i], 0) if row[i] == "O" else 0
            if longest:
                for length in range(min(longest, m_len - i), 0, -1):
                    counts = table.get(tuple(ks[i:i + length]))
                    if counts and all(row[j] == "O" for j in range(i, i + length)):
                        if tokens is not None and _only_function_words(tokens[si][i:i + length]):
                            break
                        etype = max(sorted(counts), key=counts.__getitem__)
                        row[i] = "B-" + etype
                        for j in range(i + 1, i + length):
                            row[j] = "I-" + etype
                        hit = length
                        break
            i += hit or 1
    return out


def _only_function_words(words: Sequence[str]) -> bool:
    function_words = _function_word_filter().function_words
    return all(trend_key(w) in function_words for w in words)


@lru_cache(maxsize=65536)
def _repeat_key(folded: str) -> str:
    """What ``propagate`` compares: the stem, marked if the clitics hold the article."""
    clitic = clitic_of(folded)
    return feature_stem(folded) + ("\u0000" if "ال" in clitic or clitic.endswith("لل") else "")


@lru_cache(maxsize=8)
def _load(path: str) -> NerTagger:
    return NerTagger(path)
