"""Word clusters and name lists: the files beside the model, the features they give,
and the deterministic build (``streams.tools.train_embeddings``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from streams.entities.features import ModelFeatures, sentence_features
from streams.entities.kb import KnowledgeBase
from streams.entities.lexicon import CLUSTERS_FILE, NAMES_FILE, Lexicon
from streams.entities.ner import NerTagger, bio_spans
from streams.entities.tokens import fold_token, tokenize
from streams.tools import train_embeddings as te

REPO = Path(__file__).resolve().parents[1]
ANT = REPO.parent / "shared" / "data" / "ant" / "ant_v2.1.jsonl.xz"


def words(text: str) -> list[str]:
    return [t for t, _s, _e in tokenize(text)]


def test_packaged_files_are_small_and_load_once():
    assert CLUSTERS_FILE.stat().st_size < 3 * 1024 * 1024
    assert NAMES_FILE.stat().st_size < 1024 * 1024
    lex = Lexicon.default()
    assert lex is Lexicon.default()
    assert lex.ks == (64, 256, 1024)
    assert len(lex) > 50_000
    assert NerTagger.load().lexicon is lex


def test_clusters_group_names_with_names():
    lex = Lexicon.default()
    # Leaders' names share the finest cluster (1,024 of them), footballers another;
    # a common verb is in none of them.
    trump, obama, macron, messi, ronaldo, said = (
        lex.clusters(fold_token(w)) for w in ("ترامب", "أوباما", "ماكرون", "ميسي", "رونالدو", "قال"))
    assert trump[2] == obama[2] == macron[2]
    assert messi[2] == ronaldo[2] != trump[2]
    assert said[2] not in (trump[2], messi[2])
    # A clitic-glued form falls back to the stripped word's clusters.
    assert lex.clusters(fold_token("وبترامب")) is None
    assert lex.word_clusters(fold_token("وبترامب")) == trump
    assert lex.names(fold_token("كريستيانو")) and "pn" in lex.names(fold_token("كريستيانو"))


def test_features_carry_clusters_names_and_neighbours():
    kb = KnowledgeBase.packaged()
    tokens = words("وقال ترامب إن")
    feats = sentence_features(tokens, [fold_token(t) for t in tokens], kb)
    trump = Lexicon.default().clusters(fold_token("ترامب"))
    assert f"k64={trump[0]}" in feats[1] and f"k1024={trump[2]}" in feats[1]
    assert f"k-1_64={trump[0]}" in feats[2] and f"k+1_64={trump[0]}" in feats[0]
    assert "k-1=bound" in feats[0] and "k+1=bound" in feats[2]
    assert "n_pn" in feats[1]
    empty = sentence_features(tokens, [fold_token(t) for t in tokens], kb, lexicon=Lexicon.empty())
    assert not any(a.startswith(("k", "n_", "ns_")) for row in empty for a in row)


def test_model_features_with_an_other_lexicon_equal_filtered_features():
    lex = Lexicon({"ترامب": (1, 2), "قال": (0, 3)}, ks=(2, 4), names={"ترامب": ["pn"]})
    kb = KnowledgeBase.packaged()
    tokens = words("وقال ترامب وترامب ثم قال")
    folded = [fold_token(t) for t in tokens]
    plain = sentence_features(tokens, folded, kb, lexicon=lex)
    attrs = frozenset(a for row in plain for a in row if not a.startswith("w-2"))
    assert ModelFeatures(attrs, lex).sentence(tokens, folded, kb) == [
        [a.encode() for a in row if a in attrs] for row in plain]
    assert {"k2=1", "k4=2", "n_pn"} <= set(plain[1])
    # `وترامب` is not in the table: the stripped word's clusters, as the word's and the stem's.
    assert {"k2=1", "ks2=1", "ns_pn", "k-1_2=1"} <= set(plain[2])
    assert {"k=oov", "k-1_2=1"} <= set(plain[3]) and "k+1_4=3" in plain[3]


def test_an_unseen_name_is_found_through_its_cluster_and_name_lists():
    """`ماكرون`, `أردوغان` and `بومبيو` never occur in ANERcorp (a 2000s corpus), and
    the knowledge base is left out here; the clusters and name lists learned from
    2018 news put them beside the names the tagger was trained on. Without the
    lexicon the same model finds none of them."""
    tagger = NerTagger.load()
    kb = KnowledgeBase([])  # no gazetteer help
    bare = NerTagger(tagger.path, kb, Lexicon.empty())
    full = NerTagger(tagger.path, kb)
    found = {"with": 0, "without": 0}
    for text, name in (("وأعلن ماكرون أمس عن خطة جديدة .", "ماكرون"),
                       ("وأكد أردوغان أن بلاده لن تتراجع .", "أردوغان"),
                       ("والتقى بومبيو نظيره الروسي في هلسنكي .", "بومبيو")):
        tokens = words(text)
        for key, tg in (("with", full), ("without", bare)):
            spans = {" ".join(tokens[a:b]) for a, b, t in bio_spans(tg.tag(tokens)) if t == "PER"}
            found[key] += name in spans
    assert found == {"with": 3, "without": 0}


# ------------------------------------------------------------------ building
def test_kmeans_is_deterministic_and_groups_close_vectors():
    rng = np.random.RandomState(1)
    centres = rng.normal(size=(4, 8)).astype(np.float32) * 5
    x = np.concatenate([c + rng.normal(scale=0.1, size=(30, 8)).astype(np.float32) for c in centres])
    a = te.kmeans(x, 4, seed=0)
    b = te.kmeans(x, 4, seed=0)
    assert (a == b).all()
    for g in range(4):
        assert len(set(a[g * 30:(g + 1) * 30].tolist())) == 1
    assert len(set(a.tolist())) == 4


def test_written_files_round_trip_and_are_byte_stable(tmp_path):
    labels = [np.array([0, 1, 1]), np.array([3, 0, 2])]
    for name in ("a", "b"):
        te.write_clusters(tmp_path / f"{name}.tsv.gz", ["زيد", "عمرو", "قال"], labels, (2, 4))
    assert (tmp_path / "a.tsv.gz").read_bytes() == (tmp_path / "b.tsv.gz").read_bytes()
    names = tmp_path / "names.tsv"
    names.write_text("arabic\tlatin\nزيد\tzaid\nعمرو\tamr\n", encoding="utf-8")
    te.write_name_lists(tmp_path / "n.tsv.gz", te.name_lists(names, wikipedia=False))
    lex = Lexicon.load(tmp_path / "a.tsv.gz", tmp_path / "n.tsv.gz")
    assert lex.ks == (2, 4) and lex.clusters("عمرو") == (1, 0) and lex.clusters("x") is None
    assert lex.names("زيد") == ("pn",) and lex.names("قال") == ()
    assert gzip.decompress((tmp_path / "a.tsv.gz").read_bytes()).decode().startswith("word\tk2\tk4\n")


def test_a_missing_cluster_file_says_how_to_build_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_embeddings"):
        Lexicon.load(tmp_path / "none.tsv.gz", None)


def test_vectors_are_the_same_whatever_the_hash_seed(tmp_path):
    pytest.importorskip("gensim", reason="training vectors needs the 'embeddings' extra (gensim)")
    import subprocess
    import sys

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(" ".join(f"w{(i * j) % 37}" for j in range(12)) for i in range(300)) + "\n")
    code = ("import sys, hashlib; from streams.tools.train_embeddings import train_vectors; from pathlib import Path;"
            "w, v = train_vectors(Path(sys.argv[1]), kind='word2vec', window=2, dim=8, min_count=1, epochs=1, seed=0);"
            "print(hashlib.sha1(v.tobytes()).hexdigest(), len(w))")
    outs = {subprocess.run([sys.executable, "-c", code, str(corpus)], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                "PYTHONPATH": ":".join(p for p in sys.path if p)}).stdout
            for seed in ("1", "2")}
    assert len(outs) == 1


@pytest.mark.skipif(not ANT.is_file(), reason="the ANT corpus (../shared/data/ant) is not present")
def test_the_corpus_is_read_as_the_tagger_tokenises(tmp_path):
    out = tmp_path / "corpus.txt"
    import lzma
    import json
    small = tmp_path / "ant.jsonl.xz"
    with lzma.open(ANT, "rt", encoding="utf-8") as fh, lzma.open(small, "wt", encoding="utf-8") as dst:
        for _ in range(5):
            dst.write(fh.readline())
    counts = te.write_corpus(small, out)
    assert counts["articles"] == 5 and counts["tokens"] > 100
    first = out.read_text(encoding="utf-8").split("\n")[0].split(" ")
    assert all(w == fold_token(w) for w in first)
    with lzma.open(small, "rt", encoding="utf-8") as fh:
        title = json.loads(fh.readline())["title"]
    assert first == [fold_token(t) for t in words(title) if fold_token(t).strip()][:len(first)]
