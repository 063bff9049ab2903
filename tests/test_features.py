"""Cached model features must be exactly the filtered plain features, so tags never change."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.cli import sample_pages
from streams.entities.conll import read_conll
from streams.entities.extract import EntityExtractor, _Units
from streams.entities.features import ModelFeatures, gazetteer_tags, sentence_features
from streams.entities.kb import KnowledgeBase
from streams.entities.link import find_matches
from streams.entities.ner import NerTagger
from streams.entities.tokens import fold_token, sentences, tokenize
from streams.ingest.sources import iter_raw_articles
from streams.pipeline import Pipeline

REPO = Path(__file__).resolve().parents[1]
ANERCORP = REPO.parent / "shared" / "data" / "anercorp" / "train.conll"
SEEDS = REPO / "tests" / "fixtures" / "seeds"  # copies of ../shared/seeds: a fresh clone has them


def filtered(xseq: list[list[str]], attributes: frozenset[str]) -> list[list[bytes]]:
    """What ModelFeatures promises: the model's attributes only, in order, as UTF-8."""
    return [[a.encode() for a in feats if a in attributes] for feats in xseq]


def anercorp_sentences(limit: int) -> list[list[str]]:
    if not ANERCORP.is_file():
        pytest.skip(f"{ANERCORP} not present")
    return [tokens for tokens, _tags in read_conll(ANERCORP)[:limit]]


def body_sentences(kb: KnowledgeBase) -> list[tuple[list[str], list[str], list[str]]]:
    """Sentences of the seed and sample pages, whole and parsed, with the extractor's gazetteer tags."""
    pages = [*sorted(SEEDS.glob("*")), *sample_pages()]
    pipeline = Pipeline()
    out = []
    for page in pages:
        for item in iter_raw_articles(str(page)):
            bodies = [orjson.loads(item.value)["body"], *(a["body"] for a in pipeline.parse(item.value))]
            for body in bodies:
                toks = tokenize(body)
                folded = [fold_token(t) for t, _s, _e in toks]
                view = _Units(toks, folded)
                gaz = gazetteer_tags(kb, find_matches(kb, view.units), view.unit_tokens, len(toks))
                tokens = [t for t, _s, _e in toks]
                out += [(tokens[a:b], folded[a:b], gaz[a:b]) for a, b in sentences(body, toks)]
    assert len(out) > 100
    return out


@pytest.fixture(scope="module")
def tagger() -> NerTagger:
    return NerTagger.load()


def test_model_features_equal_filtered_features_on_anercorp(tagger):
    model = ModelFeatures(tagger._attrs)
    cases = []
    for tokens in anercorp_sentences(3000):
        folded = [fold_token(t) for t in tokens]
        cases.append((tokens, folded, filtered(sentence_features(tokens, folded, tagger.kb), tagger._attrs)))
    for _ in range(2):  # the second pass reads every word from the caches
        for tokens, folded, expected in cases:
            assert model.sentence(tokens, folded, tagger.kb) == expected, tokens


def test_model_features_and_tags_equal_on_the_seed_pages(tagger):
    kb = EntityExtractor.default().kb
    model = ModelFeatures(tagger._attrs)
    for tokens, folded, gaz in body_sentences(kb):
        plain = sentence_features(tokens, folded, kb, gaz)
        assert model.sentence(tokens, folded, kb, gaz) == filtered(plain, tagger._attrs)
        assert tagger.tag_sentence(tokens, folded, kb, gaz) == tagger.tag_features(plain)


def test_model_features_follow_knowledge_base_changes(tagger):
    kb = KnowledgeBase.packaged()
    model = ModelFeatures(tagger._attrs)
    tokens = ["زار", "فلانوف", "موسكو", "أمس"]
    folded = [fold_token(t) for t in tokens]
    before = model.sentence(tokens, folded, kb)
    kb.add({"id": "per:x-test", "type": "PER", "name": "فلانوف", "aliases": ["فلانوف"]})
    after = model.sentence(tokens, folded, kb)
    assert after == filtered(sentence_features(tokens, folded, kb), tagger._attrs)
    assert after != before  # the new alias shows in the gazetteer features
