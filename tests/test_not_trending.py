"""Names that say nothing about the news stay entities but produce no trending mention record."""

from __future__ import annotations

import hashlib
import json
import lzma
from dataclasses import replace
from pathlib import Path

import pytest

from streams.cli import main
from streams.entities.extract import EntityExtractor, unknown_id
from streams.entities.ner import DEFAULT_MODEL
from streams.pipeline import mentions_of
from streams.tools import build_not_trending as builder
from streams.trending.not_trending import TrendFilter, packaged, trend_key

REPO = Path(__file__).resolve().parents[1]
ANERCORP = REPO.parent / "shared" / "data" / "anercorp" / "train.conll"


def entity(name: str, etype: str = "MISC", entity_id: str | None = None, mentions: int = 1) -> dict:
    """An entity shaped like the extractor's output (the tagger's id unless one is given)."""
    return {"id": entity_id or unknown_id(etype, name), "name": name, "type": etype, "mentions": mentions,
            "spans": [[0, len(name)]], "forms": [name]}


def enriched(*entities: dict) -> dict:
    return {"id": "a1", "source": {"name": "test"}, "published_at": "2026-12-01T10:00:00Z",
            "ingested_at": "2026-12-01T10:00:05Z", "entities": list(entities)}


# ---------------------------------------------------------------- the shipped filter in mentions_of

def test_non_names_produce_no_mention_record_but_stay_in_the_entities():
    article = enriched(
        entity("الله"), entity("على", "PER"), entity("الإسلام"),
        entity("Egypt", "LOC", "loc:eg"), entity("عبد الله", "PER"),
    )
    before = json.dumps(article, ensure_ascii=False)
    counted = {m["name"] for m in mentions_of(article)}
    assert counted == {"Egypt", "عبد الله"}
    assert json.dumps(article, ensure_ascii=False) == before  # the article's entities are untouched


@pytest.mark.parametrize("name", [
    "الله", "اللَّه", "اللّه", "ﷲ",             # harakat and the ligature fold away
    "الإسلام", "الاسلام", "الإسلَام",
    "على",
])
def test_spelling_variants_of_a_filtered_form_are_filtered(name):
    assert not packaged().allows(entity(name))


@pytest.mark.parametrize("name", [
    "عبد الله", "عبدالله", "حزب الله", "رام الله", "نصر الله", "رحمه الله",
    "جيش الإسلام", "سيف الإسلام",
    "علي",                                     # Ali is not the preposition: alef maksura is kept apart
    "مصر", "ترامب", "دونالد ترامب", "محمد صلاح", "فيسبوك", "الدولار",
])
def test_names_that_contain_a_filtered_word_and_ordinary_names_are_counted(name):
    assert packaged().allows(entity(name, "PER"))


def test_real_extraction_keeps_names_around_allah():
    extractor = EntityExtractor.default()
    body = ("وقال المتحدث إن الله وحده يعلم متى تنتهي الحرب في مصر، فيما التقى دونالد ترامب "
            "بالملك عبدالله في واشنطن. وأضاف أن الإسلام دين السلام وأن حزب الله في لبنان يرفض الاتفاق.")
    article = enriched(*extractor.extract(body))
    names = {e["name"] for e in article["entities"]}
    assert {"الله", "الإسلام"} <= names  # the tagger finds them, and the article keeps them
    counted = {m["entity_id"] for m in mentions_of(article)}
    ids = {e["name"]: e["id"] for e in article["entities"]}
    assert ids["الله"] not in counted and ids["الإسلام"] not in counted
    assert {"loc:eg", "per:donald-trump", "org:hezbollah", "loc:lb", ids["عبدالله"]} <= counted


def test_an_entity_made_only_of_function_words_is_filtered_whatever_its_words():
    rule = packaged()
    assert {trend_key("في"), trend_key("من"), trend_key("على")} <= rule.function_words
    assert not rule.allows(entity("وفي", "PER"))
    assert not rule.allows(entity("في ذلك", "LOC"))
    assert rule.allows(entity("على عبد الله صالح", "PER"))  # one name word is enough to be counted


def test_recorded_tagger_model_is_the_shipped_one():
    """Retraining the tagger changes what it finds: re-run `newsstreams build-trend-filter`."""
    document = json.loads((REPO / "streams" / "trending" / "not_trending.json").read_text(encoding="utf-8"))
    recorded = document["computed_from"]["tagger_model"]["sha256"]
    actual = hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    assert recorded == actual, (
        "streams/entities/model/ner.crfsuite changed since streams/trending/not_trending.json was built; "
        "run `newsstreams build-trend-filter` and commit its output"
    )


def test_shipped_file_is_what_its_own_rule_says():
    """The filtered forms are exactly those whose recorded statistics pass the recorded thresholds."""
    document = json.loads((REPO / "streams" / "trending" / "not_trending.json").read_text(encoding="utf-8"))
    rule = document["rule"]
    persistent = [item for item in document["filtered"] if item["rule"] == "persistent"]
    assert sorted(item["form"] for item in persistent) == document["filtered_forms"]
    for item in persistent:
        assert item["min_outlet_share"] >= rule["min_outlet_share"]
        assert item["reference_names"] >= rule["min_reference_names"]
    for group in document["closest_kept"].values():
        for item in group:
            assert (item["min_outlet_share"] < rule["min_outlet_share"]
                    or item["reference_names"] < rule["min_reference_names"])
    assert document["counts"]["removed_mention_records"] <= document["counts"]["mention_records"]


def test_recorded_reference_counts_match_anercorp():
    if not ANERCORP.is_file():
        pytest.skip(f"ANERcorp not found at {ANERCORP} (only in the full development checkout)")
    from streams.entities.conll import read_conll

    reference = builder.Reference.from_sentences(read_conll(ANERCORP))
    document = json.loads((REPO / "streams" / "trending" / "not_trending.json").read_text(encoding="utf-8"))
    for item in document["filtered"] + document["closest_kept"]["by_reference_names"]:
        assert reference.names[item["form"]] == item["reference_names"], item["form"]


# ---------------------------------------------------------------- the builder's rule on a synthetic corpus

OUTLETS = ("A", "B", "C")


def record(name: str, entity_id: str | None = None) -> builder.Record:
    return builder.Record(trend_key(name), entity_id or unknown_id("MISC", name), "MISC", name, 1)


def article(outlet: str, names: list[str], words: str, kb: tuple[str, ...] = ()) -> builder.ArticleStats:
    records = [record(n) for n in names] + [record(n, f"loc:{n}") for n in kb]
    return builder.ArticleStats(outlet, "news", tuple(records), frozenset(trend_key(w) for w in words.split()))


def synthetic_corpus() -> list[builder.ArticleStats]:
    """Twelve articles over three outlets.

    `الله` is in every outlet and frequent in the reference; `فيسبوك` is in every
    outlet but a new name; `دارفور` is frequent in the reference but one outlet's
    story; `لبنان` behaves like `الله` but is a knowledge-base entity; `على` is a
    tagger error made of a function word.
    """
    articles = []
    for i in range(12):
        outlet = OUTLETS[i % 3]
        names = ["الله", "فيسبوك"]
        if outlet == "A":
            names.append("دارفور")
        if i == 0:
            names.append("على")
        articles.append(article(outlet, names, "في من على قال محمد", kb=("لبنان",)))
    return articles


def synthetic_reference() -> builder.Reference:
    sentences = []
    for _ in range(5):
        sentences.append((["قال", "الله", "في", "دارفور", "من", "لبنان"], ["O", "B-MISC", "O", "B-LOC", "O", "B-LOC"]))
        sentences.append((["على", "محمد", "قال"], ["O", "B-PER", "O"]))
    return builder.Reference.from_sentences(sentences)


PARAMS = builder.Params(min_outlet_share=0.5, min_reference_names=3, function_word_rank=5,
                        min_reference_words=2, max_tagged_share=0.1)


def test_rule_filters_a_name_spread_everywhere_and_persistent_only():
    document = builder.decide(synthetic_corpus(), synthetic_reference(), PARAMS)
    assert document["filtered_forms"] == [trend_key("الله")]
    kept = {item["form"] for group in document["closest_kept"].values() for item in group}
    assert trend_key("فيسبوك") in kept    # everywhere, but not a name of the reference corpus
    assert trend_key("دارفور") in kept    # persistent, but one outlet's story
    assert trend_key("لبنان") not in kept  # knowledge-base entities are never candidates


def test_rule_derives_function_words_from_frequency_and_tags():
    document = builder.decide(synthetic_corpus(), synthetic_reference(), PARAMS)
    words = set(document["function_words"])
    assert {"في", "من", "على", "قال"} <= words  # frequent, never tagged
    assert "محمد" not in words                  # frequent, but always part of a name
    function_filtered = [item["form"] for item in document["filtered"] if item["rule"] == "function words"]
    assert function_filtered == ["على"]


def test_rule_counts_the_removed_mention_records():
    document = builder.decide(synthetic_corpus(), synthetic_reference(), PARAMS)
    counts = document["counts"]
    # 12 x (الله, فيسبوك, لبنان) + 4 x دارفور + 1 x على
    assert counts["mention_records"] == 41
    assert counts["removed_mention_records"] == 12 + 1
    assert counts["removed_share"] == round(13 / 41, 6)
    assert counts["outlets"] == {"A": 4, "B": 4, "C": 4}


def test_rule_thresholds_decide():
    strict = replace(PARAMS, min_reference_names=6)
    assert builder.decide(synthetic_corpus(), synthetic_reference(), strict)["filtered_forms"] == []
    loose = replace(PARAMS, min_outlet_share=0.0)
    assert builder.decide(synthetic_corpus(), synthetic_reference(), loose)["filtered_forms"] == sorted(
        [trend_key("الله"), trend_key("دارفور")])


def test_written_filter_loads_and_filters():
    document = builder.decide(synthetic_corpus(), synthetic_reference(), PARAMS)
    rule = TrendFilter.from_document(json.loads(json.dumps(document, ensure_ascii=False)))
    assert not rule.allows(entity("الله")) and rule.allows(entity("عبد الله", "PER"))


def test_a_document_of_another_kind_is_refused():
    with pytest.raises(ValueError):
        TrendFilter.from_document({"schema": "something/1", "filtered_forms": [], "function_words": []})
    with pytest.raises(ValueError):
        TrendFilter.from_document({"schema": "not_trending/1", "filtered_forms": "الله", "function_words": []})


# ---------------------------------------------------------------- the command

def write_corpus(path: Path, articles: list[dict]) -> None:
    with lzma.open(path, "wt", encoding="utf-8") as out:
        for item in articles:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")


def test_command_writes_a_filter_from_a_tiny_corpus(tmp_path, capsys):
    corpus = tmp_path / "ant.jsonl.xz"
    body = "وقال المتحدث إن الله وحده يعلم متى تنتهي الحرب في مصر، فيما التقى دونالد ترامب بالملك عبدالله."
    write_corpus(corpus, [{"source": s, "category": "news", "body": body} for s in ("A", "B")])
    conll = tmp_path / "ref.conll"
    conll.write_text("\n\n".join(["قال O\nالله B-MISC\nفي O"] * 50) + "\n", encoding="utf-8")
    out = tmp_path / "filter.json"
    assert main(["build-trend-filter", "--corpus", str(corpus), "--conll", str(conll),
                 "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["filtered_forms"] == [trend_key("الله")]
    assert document["counts"]["articles"] == 2
    assert document["computed_from"]["tagger_model"]["sha256"] == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["filtered_forms"] == 1


def test_command_reports_a_missing_or_broken_corpus_in_one_line(tmp_path, capsys):
    assert main(["build-trend-filter", "--corpus", str(tmp_path / "none.xz"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    broken = tmp_path / "broken.jsonl.xz"
    write_corpus(broken, [{"source": "A", "category": "news", "body": "نص"}])
    with lzma.open(broken, "at", encoding="utf-8") as out:
        out.write("{not json\n")
    conll = tmp_path / "ref.conll"
    conll.write_text("قال O\n", encoding="utf-8")
    assert main(["build-trend-filter", "--corpus", str(broken), "--conll", str(conll),
                 "--out", str(tmp_path / "f.json"), "--jobs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and ":2: not JSON" in err
    conll.write_text("قال NOT-A-TAG\n", encoding="utf-8")
    assert main(["build-trend-filter", "--corpus", str(broken), "--conll", str(conll),
                 "--out", str(tmp_path / "f.json"), "--jobs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ref.conll" in err
