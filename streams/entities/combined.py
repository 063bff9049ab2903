"""The CRF and the neural tagger together: their label probabilities averaged.

The two make different mistakes: the CRF is precise on names it has seen, the
network (``streams.entities.neural``) finds more of the organisations and
people it has not. Each gives every token a probability for every label; the
weighted average is read token by token (an `I-X` that does not continue an
`X` starts a new name, as in ``bio_spans``). The CRF's weight was chosen on
the development split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streams.entities.features import gazetteer, sentence_features
from streams.entities.ner import PROPAGATION_WINDOW, NerTagger, propagate
from streams.entities.neural import NeuralTagger
from streams.entities.tokens import fold_token

DEFAULT_CRF_WEIGHT = 0.7


class CombinedTagger:
    """``NerTagger``'s interface over a CRF and a ``NeuralTagger`` sharing one KB."""

    def __init__(self, crf: NerTagger, neural: NeuralTagger, crf_weight: float = DEFAULT_CRF_WEIGHT) -> None:
        if not 0.0 <= crf_weight <= 1.0:
            raise ValueError("crf_weight must be in [0, 1]")
        self.crf = crf
        self.neural = neural
        self.kb = crf.kb
        self.crf_weight = crf_weight
        self.labels = list(neural.labels)
        self._crf_columns = [(self.labels.index(lab), lab) for lab in crf.labels if lab in self.labels]

    def probabilities(self, tokens: Sequence[Sequence[str]], folded: Sequence[Sequence[str]],
                      gaz: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per sentence, (n, labels) averaged label probabilities."""
        out: list[np.ndarray] = [np.zeros((0, len(self.labels)))] * len(tokens)
        lengths = [len(t) for t in tokens]
        w = self.crf_weight
        for idx in self.neural.batches(lengths):
            n = np.array([lengths[i] for i in idx])
            scores = self.neural.emissions([tokens[i] for i in idx], [folded[i] for i in idx], [gaz[i] for i in idx])
            neural = self.neural.marginals(scores, n)
            for row, i in enumerate(idx):
                xseq = sentence_features(tokens[i], folded[i], self.kb, gaz[i])
                crf = self.crf.marginals(xseq, self._crf_columns, len(self.labels))
                out[i] = w * crf + (1.0 - w) * neural[row, : lengths[i]]
        return out

    def tag_parsed(self, tokens: Sequence[Sequence[str]], folded: Sequence[Sequence[str]],
                   gaz: Sequence[Sequence[str]]) -> list[list[str]]:
        """BIO tags for sentences given their folded tokens and KB phrase tags (``gazetteer``)."""
        labels = self.labels
        return [[labels[j] for j in p.argmax(axis=1)] for p in self.probabilities(tokens, folded, gaz)]

    def tag(self, tokens: list[str]) -> list[str]:
        """BIO tags for one sentence of tokens."""
        return self.tag_document([tokens], window=0)[0]

    def tag_document(self, sentences: Sequence[Sequence[str]],
                     window: int | None = PROPAGATION_WINDOW) -> list[list[str]]:
        """BIO tags for consecutive sentences of one text, then name propagation (``ner.propagate``)."""
        folded = [[fold_token(t) for t in s] for s in sentences]
        gaz = [gazetteer(self.kb, f) for f in folded]
        tags = self.tag_parsed([list(s) for s in sentences], folded, gaz)
        return propagate(folded, tags, window, tokens=sentences) if window != 0 else tags

    def known_words(self) -> frozenset[str]:
        """The CRF's words weighed toward a name (the extractor's clitic check)."""
        return self.crf.known_words()
