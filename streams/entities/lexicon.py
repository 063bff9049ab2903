"""What the tagger knows about words beyond ANERcorp: word clusters and name lists.

Two small files beside the model, read once per process:

- ``model/word_clusters.tsv.gz``: folded word -> its cluster at several
  granularities (64, 256, 1,024 clusters). The clusters group words that occur
  in similar contexts in 7 million words of Arabic news (the ANT corpus): word
  vectors, then k-means. A name the tagger never saw in training sits in the
  cluster of names it did see, which is what the CRF learns from. Built by
  ``streams.tools.train_embeddings``; the vectors themselves are not shipped.
- ``model/name_lists.tsv.gz``: folded word -> the name lists it is in
  (``pn``: Wikidata person-name tokens; ``people``, ``clubs``, ``cities``:
  tokens of Arabic Wikipedia names of people, sports clubs and cities). Built
  by ``streams.tools.train_embeddings --names-only`` (or with the clusters).
  Membership is evidence, not a label: many name tokens are also words.

Both are keyed on the folded matching form (``streams.text.normalize.fold``).
Lookups are plain dict reads; ``streams.entities.features`` caches the
features of each distinct word, so a worker looks each word up once.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from streams.entities.clitics import feature_stem, strip_candidates

MODEL_DIR = Path(__file__).with_name("model")
CLUSTERS_FILE = MODEL_DIR / "word_clusters.tsv.gz"
NAMES_FILE = MODEL_DIR / "name_lists.tsv.gz"
NAME_LISTS = ("pn", "people", "clubs", "cities")


class Lexicon:
    """Cluster ids and name-list membership of folded words."""

    def __init__(
        self,
        clusters: Mapping[str, Iterable[int]] | None = None,
        ks: Iterable[int] = (),
        names: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.ks = tuple(int(k) for k in ks)
        self._bits = max((k - 1).bit_length() for k in self.ks) if self.ks else 0
        # One packed int per word (far smaller than a tuple per word).
        self._clusters: dict[str, int] = {}
        for word, ids in (clusters or {}).items():
            self._clusters[word] = self._pack(tuple(ids))
        self.name_lists: tuple[str, ...] = NAME_LISTS
        self._names: dict[str, int] = {}
        for word, lists in (names or {}).items():
            self._names[word] = self._name_mask(lists)

    # ------------------------------------------------------------- loading
    @classmethod
    def load(cls, clusters_path: str | Path | None = CLUSTERS_FILE,
             names_path: str | Path | None = NAMES_FILE) -> "Lexicon":
        """Read the two files (a path of None leaves that part empty)."""
        lex = cls()
        if clusters_path is not None:
            lex._read_clusters(Path(clusters_path))
        if names_path is not None:
            lex._read_names(Path(names_path))
        return lex

    @staticmethod
    def default() -> "Lexicon":
        """The packaged files, read once per process."""
        return _default()

    @classmethod
    def empty(cls) -> "Lexicon":
        return cls()

    def _read_clusters(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(
                f"word cluster file not found: {path} (build it with python -m streams.tools.train_embeddings)")
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            header = fh.readline().rstrip("\n").split("\t")
            if not header or header[0] != "word" or not all(h.startswith("k") for h in header[1:]):
                raise ValueError(f"{path}: the first line must be 'word<TAB>k64<TAB>k256...', got {header!r}")
            self.ks = tuple(int(h[1:]) for h in header[1:])
            self._bits = max((k - 1).bit_length() for k in self.ks)
            pack = self._pack
            table = self._clusters
            for line in fh:
                fields = line.rstrip("\n").split("\t")
                table[fields[0]] = pack(tuple(int(x) for x in fields[1:]))

    def _read_names(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(
                f"name list file not found: {path} (build it with python -m streams.tools.train_embeddings)")
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("#") or line.startswith("word\t"):
                    continue
                word, _tab, lists = line.rstrip("\n").partition("\t")
                self._names[word] = self._name_mask(lists.split(","))

    def _pack(self, ids: tuple[int, ...]) -> int:
        if len(ids) != len(self.ks):
            raise ValueError(f"expected {len(self.ks)} cluster ids, got {ids!r}")
        packed = 0
        for level, (c, k) in enumerate(zip(ids, self.ks)):
            if not 0 <= c < k:
                raise ValueError(f"cluster id {c} out of range for {k} clusters")
            packed |= c << (level * self._bits)
        return packed

    def _name_mask(self, lists: Iterable[str]) -> int:
        mask = 0
        for name in lists:
            if name in self.name_lists:
                mask |= 1 << self.name_lists.index(name)
        return mask

    # ------------------------------------------------------------- lookups
    def __len__(self) -> int:
        return len(self._clusters)

    def clusters(self, word: str) -> tuple[int, ...] | None:
        """Cluster ids of a folded word, coarse to fine; None if it has none."""
        packed = self._clusters.get(word)
        if packed is None:
            return None
        mask = (1 << self._bits) - 1
        return tuple((packed >> (level * self._bits)) & mask for level in range(len(self.ks)))

    def word_clusters(self, word: str) -> tuple[int, ...] | None:
        """Clusters of the word, else of the first clitic-stripped form that has some
        (longest strip first: `وللاعبين` -> `لاعبين`)."""
        ids = self.clusters(word)
        if ids is None:
            for _n, rest in reversed(strip_candidates(word)):
                ids = self.clusters(rest)
                if ids is not None:
                    break
        return ids

    def names(self, word: str) -> tuple[str, ...]:
        """The name lists a folded word is in."""
        mask = self._names.get(word, 0)
        return tuple(n for i, n in enumerate(self.name_lists) if mask >> i & 1)

    # ------------------------------------------------------------- features
    def word_features(self, word: str) -> list[str]:
        """Features of a word alone: its clusters (`k64=12` … or `k=oov`), its stem's
        clusters (`ks64=…`), and the name lists of the word (`n_pn`) or else of its stem
        (`ns_pn`)."""
        out: list[str] = []
        ks = self.ks
        if ks:
            ids = self.word_clusters(word)
            if ids is None:
                out.append("k=oov")
            else:
                out += [f"k{k}={c}" for k, c in zip(ks, ids)]
            stem = feature_stem(word)
            if stem != word:
                sids = self.clusters(stem)
                if sids is not None:
                    out += [f"ks{k}={c}" for k, c in zip(ks, sids)]
        if self._names:
            stem = feature_stem(word)
            own = self._names.get(word, 0)
            of_stem = self._names.get(stem, 0) if stem != word else 0
            for i, name in enumerate(self.name_lists):
                if own >> i & 1:
                    out.append("n_" + name)
                elif of_stem >> i & 1:
                    out.append("ns_" + name)
        return out

    def context_features(self, word: str) -> tuple[list[str], list[str]]:
        """The word's clusters as seen by the next token (`k-1_64=…`) and by the
        previous one (`k+1_64=…`); sentence bounds are ``<s>`` and ``</s>``."""
        if not self.ks:
            return [], []
        if word == "<s>":
            return ["k-1=bound"], []
        if word == "</s>":
            return [], ["k+1=bound"]
        ids = self.word_clusters(word)
        if ids is None:
            return [], []
        return ([f"k-1_{k}={c}" for k, c in zip(self.ks, ids)],
                [f"k+1_{k}={c}" for k, c in zip(self.ks, ids)])


@lru_cache(maxsize=1)
def _default() -> Lexicon:
    return Lexicon.load()
