"""The section model: which broad newspaper section an Arabic article belongs to.

A multinomial logistic regression over hashed features of the folded text,
learned from the ANT corpus (``newsstreams train-routing``, code in
``streams/tools/train_routing.py``; model card beside the model file). At run
time it needs numpy alone: an article's features are hashed into a fixed number
of buckets with CRC-32, their log counts are L2-normalised, and the section
scores are a weighted sum of the rows of the weight matrix, divided by a
temperature fitted on articles of outlets the model had not seen (calibration)
before the softmax.

Features (each hashed, so no vocabulary is stored):

* ``w:`` the word without proclitics (``streams.text.arabic.feature_stem``:
  `والاقتصاد` and `اقتصاد` share one feature), in title and body;
* ``t:`` the same words of the headline again, which an editor chose to say
  what the article is about;
* ``b:`` pairs of consecutive words (`كأس العالم`, `البنك المركزي`);
* ``c:`` character 3- and 4-grams of each word between boundary marks, for
  endings and spellings the corpus never showed whole (when the model file
  says so; see the model card for what they buy and cost).

The model is Arabic only: ``is_arabic`` tells the router whether to ask it.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from streams.text.arabic import feature_stem
from streams.text.normalize import fold

DEFAULT_MODEL_PATH = Path(__file__).with_name("model") / "sections.npz"
FORMAT = "newsstreams-section-model/1"

_TOKEN_RE = re.compile(r"[^\W\d_]+")
_ARABIC_RE = re.compile(r"[\u0600-\u06ff]")
_LATIN_RE = re.compile(r"[A-Za-z]")

MAX_BODY_CHARS = 4000
"""The lead says what an article is about; the rest of a long body costs time and adds little."""
ARABIC_SAMPLE_CHARS = 600
MIN_ARABIC_SHARE = 0.5
"""An article is given to the model when at least this share of its first letters is Arabic."""
WORD_CACHE = 50_000
"""Words whose features are kept hashed (about 25 MB at most); the cache starts over when full."""


class ModelError(ValueError):
    """The model file cannot be used; the message names the file."""


@dataclass(frozen=True)
class FeatureConfig:
    buckets: int = 1 << 18
    bigrams: bool = True
    title: bool = True
    char_ngrams: tuple[int, ...] = ()

    def to_json(self) -> dict:
        return {"buckets": self.buckets, "bigrams": self.bigrams, "title": self.title,
                "char_ngrams": list(self.char_ngrams)}

    @classmethod
    def from_json(cls, data: dict) -> "FeatureConfig":
        return cls(buckets=int(data["buckets"]), bigrams=bool(data["bigrams"]), title=bool(data["title"]),
                   char_ngrams=tuple(int(n) for n in data.get("char_ngrams", ())))


def is_arabic(title: str, body: str) -> bool:
    """Whether most letters at the start of the article are Arabic (the model knows nothing else)."""
    sample = (title or "") + " " + (body or "")[:ARABIC_SAMPLE_CHARS]
    arabic = len(_ARABIC_RE.findall(sample))
    latin = len(_LATIN_RE.findall(sample))
    return arabic > 0 and arabic >= MIN_ARABIC_SHARE * (arabic + latin)


def _hash(feature: str, mask: int) -> int:
    return zlib.crc32(feature.encode("utf-8")) & mask


class Featurizer:
    """Text -> (bucket ids, values): the same code for training and at run time."""

    def __init__(self, config: FeatureConfig) -> None:
        if config.buckets & (config.buckets - 1) or config.buckets < 2:
            raise ValueError("buckets must be a power of two")
        self.config = config
        self._mask = config.buckets - 1
        # words repeat from article to article: hash each one once
        self._word_cache: dict[str, tuple[str, tuple[int, ...], int]] = {}

    def _word(self, token: str) -> tuple[str, tuple[int, ...], int]:
        """(stem, body bucket ids, title bucket id) of one folded token."""
        cached = self._word_cache.get(token)
        if cached is not None:
            return cached
        stem = feature_stem(token) if not token.isascii() else token.lower()
        mask = self._mask
        ids = [_hash("w:" + stem, mask)]
        for n in self.config.char_ngrams:
            marked = f"<{stem}>"
            ids.extend(_hash(f"c{n}:" + marked[i:i + n], mask) for i in range(len(marked) - n + 1))
        result = (stem, tuple(ids), _hash("t:" + stem, mask))
        if len(self._word_cache) > WORD_CACHE:
            self._word_cache.clear()
        self._word_cache[token] = result
        return result

    def stems(self, text: str) -> list[str]:
        return [self._word(token)[0] for token in _TOKEN_RE.findall(fold(text))]

    def features(self, title: str, body: str) -> tuple[np.ndarray, np.ndarray]:
        """Bucket ids (sorted, unique) and their L2-normalised log-count values."""
        config = self.config
        mask = self._mask
        ids: list[int] = []
        title_tokens = _TOKEN_RE.findall(fold(title or ""))
        body_tokens = _TOKEN_RE.findall(fold((body or "")[:MAX_BODY_CHARS]))
        for tokens, is_title in ((title_tokens, True), (body_tokens, False)):
            previous = None
            for token in tokens:
                stem, word_ids, title_id = self._word(token)
                ids.extend(word_ids)
                if is_title and config.title:
                    ids.append(title_id)
                if config.bigrams and previous is not None:
                    ids.append(_hash("b:" + previous + " " + stem, mask))
                previous = stem
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        buckets, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        values = np.log1p(counts.astype(np.float32))
        values /= np.sqrt(np.dot(values, values))
        return buckets, values


class SectionModel:
    """Calibrated section probabilities of an Arabic article."""

    def __init__(self, classes: tuple[str, ...], weights: np.ndarray, bias: np.ndarray, temperature: float,
                 config: FeatureConfig, meta: dict | None = None, source: str = "<model>") -> None:
        if weights.shape != (config.buckets, len(classes)) or bias.shape != (len(classes),):
            raise ModelError(f"{source}: weights {weights.shape} / bias {bias.shape} do not fit "
                             f"{config.buckets} buckets and {len(classes)} classes")
        if not temperature > 0:
            raise ModelError(f"{source}: temperature must be positive")
        self.classes = tuple(classes)
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.bias = bias.astype(np.float32)
        self.temperature = float(temperature)
        self.config = config
        self.meta = meta or {}
        self.source = source
        self.featurizer = Featurizer(config)

    def logits(self, title: str, body: str) -> np.ndarray:
        buckets, values = self.featurizer.features(title, body)
        return values @ self.weights[buckets] + self.bias

    def probabilities(self, title: str, body: str) -> dict[str, float]:
        """Probability of each section (sums to 1), calibrated on outlets unseen in training."""
        z = self.logits(title, body) / self.temperature
        z = np.exp(z - z.max())
        p = z / z.sum()
        return {c: float(v) for c, v in zip(self.classes, p)}

    # ------------------------------------------------------------ file

    def save(self, path: str | Path) -> None:
        header = {"format": FORMAT, "classes": list(self.classes), "temperature": self.temperature,
                  "features": self.config.to_json(), "meta": self.meta}
        with open(path, "wb") as fh:
            np.savez_compressed(fh, weights=self.weights.astype(np.float16), bias=self.bias.astype(np.float32),
                                header=np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"),
                                                     dtype=np.uint8))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "SectionModel":
        path = Path(path) if path is not None else DEFAULT_MODEL_PATH
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(bytes(data["header"]).decode("utf-8"))
                weights = data["weights"]
                bias = data["bias"]
        except FileNotFoundError:
            raise ModelError(f"{path}: no such file") from None
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{path}: not a section model: {exc}") from None
        if header.get("format") != FORMAT:
            raise ModelError(f"{path}: format {header.get('format')!r}, expected {FORMAT!r}")
        return cls(tuple(header["classes"]), weights, bias, float(header["temperature"]),
                   FeatureConfig.from_json(header["features"]), header.get("meta"), source=str(path))


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _load_cached(path: str) -> SectionModel:
    return SectionModel.load(path)


def shared_model(path: str | Path | None = None) -> SectionModel:
    """The model of a file, loaded once per process however often the rules reload."""
    key = str(Path(path) if path is not None else DEFAULT_MODEL_PATH)
    with _lock:
        return _load_cached(key)
