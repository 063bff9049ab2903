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
        # Words share their id tuples (about 30,000 distinct ones for 100,000 words).
        self._clusters: dict[str, tuple[int, ...]] = {}
        self._tuples: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._strings: dict[tuple[str, tuple[int, ...]], tuple[str, ...]] = {}
        for word, ids in (clusters or {}).items():
            self._clusters[word] = self._checked(tuple(ids))
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
            checked = self._checked
            table = self._clusters
            for line in fh:
                fields = line.rstrip("\n").split("\t")
                table[fields[0]] = checked(tuple(int(x) for x in fields[1:]))

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

    def _checked(self, ids: tuple[int, ...]) -> tuple[int, ...]:
        if len(ids) != len(self.ks) or not all(0 <= c < k for c, k in zip(ids, self.ks)):
            raise ValueError(f"cluster ids {ids!r} do not fit {self.ks} clusters")
        return self._tuples.setdefault(ids, ids)

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
        return self._clusters.get(word)

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
    def _named(self, prefix: str, ids: tuple[int, ...]) -> tuple[str, ...]:
        """`k64=12`, `k256=…` … for a tuple of ids; made once per prefix and tuple."""
        key = (prefix, ids)
        out = self._strings.get(key)
        if out is None:
            out = self._strings[key] = tuple(f"{prefix}{k}={c}" for k, c in zip(self.ks, ids))
        return out

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
                out += self._named("k", ids)
            stem = feature_stem(word)
            if stem != word:
                sids = self.clusters(stem)
                if sids is not None:
                    out += self._named("ks", sids)
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

    def context_features(self, word: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The word's clusters as seen by the next token (`k-1_64=…`) and by the
        previous one (`k+1_64=…`); sentence bounds are ``<s>`` and ``</s>``."""
        if not self.ks:
            return (), ()
        if word == "<s>":
            return ("k-1=bound",), ()
        if word == "</s>":
            return (), ("k+1=bound",)
        ids = self.word_clusters(word)
        if ids is None:
            return (), ()
        return self._named("k-1_", ids), self._named("k+1_", ids)


@lru_cache(maxsize=1)
def _default() -> Lexicon:
    return Lexicon.load()
