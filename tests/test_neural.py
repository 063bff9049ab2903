"""The neural tagger: torch training, numpy inference, and its combination with the CRF.

Training needs torch (the ``train`` extra); without it these tests are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streams.entities.combined import CombinedTagger
from streams.entities.features import gazetteer
from streams.entities.kb import KnowledgeBase
from streams.entities.ner import NerTagger, bio_spans
from streams.entities.neural import NeuralTagger, allowed_transitions
from streams.entities.tokens import fold_token, tokenize

try:
    import torch

    from streams.tools import train_neural as train_neural_module
except ImportError:  # torch comes with the `train` extra only
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed (the train extra)")

REPO = Path(__file__).resolve().parents[1]
ANERCORP = REPO.parent / "shared" / "data" / "anercorp" / "train.conll"
needs_corpus = pytest.mark.skipif(not ANERCORP.is_file(), reason="ANERcorp training file not present")
NEWS = "وقال الرئيس الروسي فلاديمير بوتين في موسكو إن روسيا مستعدة للحوار ."


def corpus_slice(tmp_path: Path, sentences: int) -> Path:
    lines = ANERCORP.read_text(encoding="utf-8").split("\n")
    cut, blanks = 0, 0
    for cut, line in enumerate(lines):
        if not line.strip():
            blanks += 1
            if blanks == sentences:
                break
    path = tmp_path / "slice.conll"
    path.write_text("\n".join(lines[: cut + 1]) + "\n", encoding="utf-8")
    return path


def small_settings(**extra) -> dict:
    return {"max_epochs": 2, "patience": 2, "hidden": 16, "bag_dim": 16, "char_filters": 8, **extra}


def test_bio_transitions_forbid_an_inside_tag_without_its_begin():
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    ok = allowed_transitions(labels)
    assert ok[labels.index("B-PER"), labels.index("I-PER")]
    assert ok[labels.index("I-PER"), labels.index("I-PER")]
    assert not ok[labels.index("O"), labels.index("I-PER")]
    assert not ok[labels.index("B-LOC"), labels.index("I-PER")]
    assert not ok[len(labels), labels.index("I-LOC")]  # from the sentence start


@needs_torch
@needs_corpus
@pytest.mark.parametrize("encoder", ["bilstm", "cnn"])
def test_numpy_inference_reproduces_the_trained_network(tmp_path, encoder):
    """The exported weights give workers the scores torch computed."""
    tn = train_neural_module
    kb = KnowledgeBase.packaged()
    from streams.entities.conll import read_conll

    sentences = read_conll(corpus_slice(tmp_path, 40))
    encoded = tn._encode(sentences, kb)
    settings = {**tn.SETTINGS, **small_settings(encoder=encoder)}
    model, meta, _best, _history = tn._fit(torch, encoded, settings, seed=1, epochs=1)
    model.train(False)
    index = {a: i for i, a in enumerate(meta["attributes"])}
    chars = {c: i for i, c in enumerate(meta["chars"])}
    inputs, _tags, _mask = tn._batch(torch, encoded[:6], index, chars)
    with torch.no_grad():
        expected = model.emissions(inputs).numpy()
    model.export(tmp_path / "m.npz", meta)
    tagger = NeuralTagger(tmp_path / "m.npz", kb)
    folded = [f for f, _a, _y in encoded[:6]]
    got = tagger.emissions([t for t, _y in sentences[:6]], folded, [gazetteer(kb, f) for f in folded])
    for row, (tokens, _y) in enumerate(sentences[:6]):
        n = len(tokens)
        assert np.allclose(got[row, :n], expected[row, :n], atol=1e-3)


@needs_torch
@needs_corpus
def test_training_is_deterministic_and_tags_are_valid_bio(tmp_path):
    small = corpus_slice(tmp_path, 120)
    first = train_neural_module.train_neural(small, tmp_path / "a.npz", seed=5, refit=False,
                                             settings=small_settings())
    second = train_neural_module.train_neural(small, tmp_path / "b.npz", seed=5, refit=False,
                                              settings=small_settings())
    assert first["dev"] == second["dev"] and first["history"] == second["history"]
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert first["train_sentences"] == 108 and first["dev_sentences"] == 12

    tagger = NeuralTagger(tmp_path / "a.npz")
    tokens = [t for t, _s, _e in tokenize(NEWS)]
    tags = tagger.tag_sentences([tokens, [], tokens[:3]])
    assert [len(t) for t in tags] == [len(tokens), 0, 3]
    for row in tags:
        assert set(row) <= set(tagger.labels)
        for i, tag in enumerate(row):  # the CRF layer never opens a name with I-
            if tag.startswith("I-"):
                assert i > 0 and row[i - 1][2:] == tag[2:]


@needs_torch
@needs_corpus
def test_combined_tagger_with_full_crf_weight_finds_what_the_crf_finds(tmp_path):
    small = corpus_slice(tmp_path, 60)
    train_neural_module.train_neural(small, tmp_path / "n.npz", seed=2, refit=False,
                                     settings=small_settings(max_epochs=1))
    crf = NerTagger.load()
    tokens = [t for t, _s, _e in tokenize(NEWS)]
    combined = CombinedTagger(crf, NeuralTagger(tmp_path / "n.npz", crf.kb), crf_weight=1.0)
    spans = {(" ".join(tokens[a:b]), t) for a, b, t in bio_spans(combined.tag(tokens))}
    assert spans == {(" ".join(tokens[a:b]), t) for a, b, t in bio_spans(crf.tag(tokens))}
    assert ("فلاديمير بوتين", "PER") in spans
    folded = [fold_token(t) for t in tokens]
    probs = combined.probabilities([tokens], [folded], [gazetteer(crf.kb, folded)])[0]
    assert probs.shape == (len(tokens), len(combined.labels))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError):
        CombinedTagger(crf, combined.neural, crf_weight=1.5)
