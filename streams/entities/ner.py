"""Run the packaged CRF named-entity tagger.

The model (``model/ner.crfsuite``, trained by ``streams.entities.train`` on
ANERcorp) reads the features of ``streams.entities.features`` and writes BIO
tags over PER, ORG, LOC and MISC. Loading is cached per path: a worker loads
the model once.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import pycrfsuite

from streams.entities.features import sentence_features
from streams.entities.kb import KnowledgeBase
from streams.entities.tokens import fold_token

MODEL_DIR = Path(__file__).with_name("model")
DEFAULT_MODEL = MODEL_DIR / "ner.crfsuite"


class NerTagger:
    """BIO tagging of token lists; the KB supplies the gazetteer features."""

    def __init__(self, model_path: str | Path, kb: KnowledgeBase | None = None) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"NER model not found: {path} (train it with python -m streams.entities.train)")
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
        folded = [fold_token(t) for t in tokens]
        return self.tag_features(sentence_features(tokens, folded, self.kb))

    def tag_features(self, xseq: list[list[str]]) -> list[str]:
        """Tags for precomputed feature lists (the extractor shares the KB pass)."""
        if not xseq:
            return []
        attrs = self._attrs
        xseq = [[a for a in feats if a in attrs] for feats in xseq]
        with self._lock:
            return list(self._tagger.tag(xseq))

    def known_words(self) -> frozenset[str]:
        """Folded words the model learned to weigh toward a name (non-O `w=`/`s=` weights).

        Used to decide when a proclitic may be stripped from an unknown name:
        only if the stripped form is something the model has seen as a name.
        """
        return self._known


@lru_cache(maxsize=8)
def _load(path: str) -> NerTagger:
    return NerTagger(path)
