"""The section model with the rules on top: what a subscriber of the category topics sees."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import orjson
import pytest

from streams.cli import main
from streams.contracts import validation_errors
from streams.ingest.sources import iter_raw_articles
from streams.pipeline import ENRICHED_SCHEMA, Pipeline
from streams.routing.combine import OTHER
from streams.routing.model import DEFAULT_MODEL_PATH, SectionModel, is_arabic
from streams.routing.rules_file import RulesError, load_rules, rules_from_text
from streams.routing.watcher import RulesWatcher

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted((ROOT / "tests" / "fixtures" / "seeds").glob("*.txt"))
SECTIONS_SAMPLE = ROOT / "tests" / "fixtures" / "routing" / "sections_sample.jsonl"
SECTIONS_FILE = ROOT / "streams" / "routing" / "sections.yaml"
ANT = ROOT.parent / "shared" / "data" / "ant" / "ant_v2.1.jsonl.xz"

POLITICS_BODY = ("التقى الرئيس الروسي وزيرة الخارجية الكورية الشمالية في الكرملين لإجراء محادثات "
                 "حول العلاقات الثنائية والتعاون بين البلدين")

RULES_WITH_MODEL = """\
    version: 1
    settings: {max_categories: 3, min_relative_score: 0.25, default_threshold: 2}
    model:
      min_probability: 0.5
      fallback_probability: 0.3
      secondary_probability: 0.2
      sections:
        politics: [politics, conflict]
        sport: [sport]
        economy: [economy]
    categories:
      - id: politics
        label: {ar: سياسة, en: Politics}
        terms:
          - weight: 2
            ar: [وزير]
        forbid:
          - name: satire
            any_of: [ساخر]
      - id: conflict
        label: {ar: نزاع, en: Conflict}
        terms:
          - weight: 2
            ar: [قصف]
      - id: sport
        label: {ar: رياضة, en: Sport}
        terms:
          - weight: 2
            ar: [مباراة]
            en: [match]
        force:
          - name: world-cup
            any_of: [كأس العالم]
      - id: economy
        label: {ar: اقتصاد, en: Economy}
        terms:
          - weight: 2
            ar: [بورصة]
      - id: health
        label: {ar: صحة, en: Health}
        terms:
          - weight: 2
            ar: [مستشفى]
    """


@pytest.fixture(scope="module")
def packaged():
    return load_rules()


@pytest.fixture
def small(tmp_path):
    return rules_from_text(textwrap.dedent(RULES_WITH_MODEL), "small.yaml")


def ids(result):
    return [c["id"] for c in result]


class NoEntities:
    """Keeps these tests about routing: the tagger and linker have tests of their own."""

    split_tags = None

    def extract(self, body):
        return []


# ------------------------------------------------------------ the model itself

def test_model_file_is_small_and_loads_once():
    assert DEFAULT_MODEL_PATH.stat().st_size < 5_000_000
    model = SectionModel.load()
    assert model.classes == ("politics", "economy", "culture", "sport", "science-technology")
    assert 0.1 < model.temperature < 10
    card = (DEFAULT_MODEL_PATH.parent / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Chouigui" in card and "antcorpus.github.io" in card and "France 24 (2,928)" in card


def test_probabilities_are_a_distribution_and_deterministic():
    model = SectionModel.load()
    p = model.probabilities("الهلال يفوز على النصر", "فاز فريق الهلال بهدفين في مباراة الدوري")
    assert abs(sum(p.values()) - 1) < 1e-5
    assert max(p, key=p.get) == "sport" and p["sport"] > 0.5
    assert model.probabilities("الهلال يفوز على النصر", "فاز فريق الهلال بهدفين في مباراة الدوري") == p


def test_only_arabic_text_goes_to_the_model():
    assert is_arabic("عنوان", "نص عربي قصير")
    assert not is_arabic("Putin meets Erdogan", "The two presidents met in Sochi to discuss Syria.")
    assert not is_arabic("", "")


# ------------------------------------------------------------ a real seed page

@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_a_real_seed_page_lands_in_the_politics_section(seed):
    pipeline = Pipeline(extractor=NoEntities())
    [item] = iter_raw_articles(str(seed))           # as `newsstreams produce` / `process` read a page
    article = next(a for a in pipeline.process(item.value) if not a.get("embedded_in"))
    categories = article["categories"]
    assert categories[0]["id"] in {"politics", "conflict-war-peace"}, categories
    assert categories[0]["via"] in {"model", "model+rules"} and categories[0]["model"] > 0.5
    assert validation_errors(article) == []


# ------------------------------------------------------------ how they combine

def test_model_decides_the_section_and_rules_the_category_within_it(small):
    p = {"politics": 0.8, "sport": 0.1, "economy": 0.1}
    # the rules like sport better, but the model says politics: conflict is politics' best rule category
    result = small.route("", "قصف مباراة مباراة مباراة", probabilities=p)
    assert result[0] == {"id": "conflict", "score": 2.0, "hits": ["قصف"], "via": "model+rules", "model": 0.8}
    assert "sport" not in ids(result)           # its section has 0.1 < secondary_probability
    # no rule of the section fires: the section's first category, explained by the model alone
    assert small.route("", "نص عن شيء ما", probabilities=p) == [
        {"id": "politics", "score": 0.0, "hits": [], "via": "model", "model": 0.8}]


def test_categories_in_no_section_and_likely_sections_stay_as_secondaries(small):
    p = {"politics": 0.6, "sport": 0.3, "economy": 0.1}
    result = small.route("", "وزير مستشفى مستشفى مباراة", probabilities=p)
    assert ids(result) == ["politics", "health", "sport"]
    assert [c["via"] for c in result] == ["model+rules", "rules", "rules"]
    assert "model" not in result[1]             # health is in no section: nothing to say


def test_unsure_model_leaves_the_ranking_to_the_rules(small):
    p = {"politics": 0.4, "sport": 0.35, "economy": 0.25}
    result = small.route("", "مباراة مباراة وزير", probabilities=p)
    assert ids(result) == ["sport", "politics"] and result[0]["via"] == "rules"
    # ... but with no rule at all, a best guess above fallback_probability beats `other`
    assert small.route("", "نص", probabilities=p)[0] == {
        "id": "politics", "score": 0.0, "hits": [], "via": "model", "model": 0.4}
    assert small.route("", "نص", probabilities={"politics": 0.25, "sport": 0.25, "economy": 0.5})[0]["id"] == "economy"


def test_force_beats_the_model(small):
    p = {"politics": 0.9, "sport": 0.05, "economy": 0.05}
    result = small.route("", "الوزير يتحدث عن كأس العالم", probabilities=p)
    assert result[0] == {"id": "sport", "score": 0.0, "hits": ["force:world-cup"], "via": "force", "model": 0.05}
    assert result[1]["id"] == "politics"


def test_forbid_beats_the_model_and_the_rules(small):
    p = {"politics": 0.9, "sport": 0.05, "economy": 0.05}
    result = small.route("", "مقال ساخر عن وزير", probabilities=p)
    # politics is forbidden: the model's section falls to its next category, with no rule
    assert "politics" not in ids(result)
    assert result[0]["id"] == "conflict" and result[0]["via"] == "model"


def test_force_and_forbid_work_with_the_real_model_too(tmp_path):
    text = (ROOT / "streams" / "routing" / "categories.yaml").read_text(encoding="utf-8")
    marker = "  - id: sport\n"
    assert marker in text
    text = text.replace(marker, marker + "    force:\n      - name: test\n        any_of: [الكرملين]\n", 1)
    marker = "  - id: politics\n"
    text = text.replace(marker, marker + "    forbid:\n      - name: test\n        any_of: [الكرملين]\n", 1)
    rules = rules_from_text(text, "edited.yaml")
    result = rules.route("", POLITICS_BODY)
    assert result[0]["id"] == "sport" and result[0]["via"] == "force"
    assert "politics" not in ids(result)
    assert ids(load_rules().route("", POLITICS_BODY))[0] == "politics"


def test_nothing_is_left_without_a_category(packaged):
    for title, body in [("", ""), ("", "   "), ("", "نص بلا معنى"), ("", "12345 !!!"),
                        ("Putin and Erdogan", "The two leaders spoke."), ("", "日本語のテキスト")]:
        result = packaged.route(title, body)
        assert result, (title, body)
    assert packaged.route("", "xyzzy plugh")[0] == {"id": OTHER, "score": 0.0, "hits": [], "via": "none"}


def test_english_is_routed_by_the_rules_alone(packaged):
    result = packaged.route("Liverpool win the league", "Liverpool beat Arsenal in the match; the striker "
                            "scored twice and the coach praised the players.")
    assert result[0]["id"] == "sport" and result[0]["via"] == "rules" and "model" not in result[0]
    # an article whose language is known not to be Arabic never reaches the model
    assert all("model" not in c for c in packaged.route("", POLITICS_BODY, language="en"))


def test_pipeline_output_always_has_a_category_and_validates():
    pipeline = Pipeline(extractor=NoEntities())
    payload = orjson.dumps({"url": "https://example.com/x", "source": "example", "title": "",
                            "body": "zzz qqq www vvv bbb nnn mmm", "published_at": "2024-01-01T00:00:00Z"})
    [article] = pipeline.process(payload)
    assert article["categories"] == [{"id": OTHER, "score": 0.0, "hits": [], "via": "none"}]
    assert article["schema"] == ENRICHED_SCHEMA and validation_errors(article) == []


# ------------------------------------------------------------ the rules file

def test_model_block_is_checked(small):
    bad = textwrap.dedent(RULES_WITH_MODEL).replace("economy: [economy]", "economy: [economics]")
    with pytest.raises(RulesError, match=r"model.sections.economy: unknown category 'economics'"):
        rules_from_text(bad, "bad.yaml")
    bad = textwrap.dedent(RULES_WITH_MODEL).replace("min_probability: 0.5", "min_probability: 2")
    with pytest.raises(RulesError, match=r"model.min_probability"):
        rules_from_text(bad, "bad.yaml")
    bad = textwrap.dedent(RULES_WITH_MODEL).replace("- name: world-cup", "- weight: 3")
    with pytest.raises(RulesError, match=r"force\[0\]: unknown key 'weight'"):
        rules_from_text(bad, "bad.yaml")


def test_a_forbid_added_to_the_file_takes_effect_without_a_restart(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(RULES_WITH_MODEL), encoding="utf-8")
    now = [0.0]
    watcher = RulesWatcher(path, check_interval=1.0, clock=lambda: now[0])
    p = {"politics": 0.1, "sport": 0.8, "economy": 0.1}
    assert ids(watcher.current().route("", "مباراة", probabilities=p)) == ["sport"]
    edited = textwrap.dedent(RULES_WITH_MODEL).replace(
        "    force:\n", "    forbid:\n      - any_of: [مباراة]\n    force:\n")
    path.write_text(edited, encoding="utf-8")
    os.utime(path, (time.time() + 5, time.time() + 5))
    now[0] += 2
    assert ids(watcher.current().route("", "مباراة", probabilities=p)) == [OTHER]


# ------------------------------------------------------------ eval-routing --sections

def test_eval_routing_scores_sections_beside_strict_categories(capsys):
    assert main(["eval-routing", str(SECTIONS_SAMPLE), "--sections", str(SECTIONS_FILE)]) == 0
    out = capsys.readouterr().out.splitlines()
    summary = orjson.loads(out[-1])
    assert summary["sections"]["articles"] == 10
    assert summary["macro_f1"] == summary["sections"]["macro_f1"] >= 0.8
    assert "strict_macro_f1" in summary and summary["unrouted"] == 0
    assert any(line.startswith("by section") for line in out)
    assert set(summary["sections"]["per_category"]) == {"politics", "economy", "culture", "sport",
                                                       "science-technology"}


def test_eval_routing_rules_only_and_bad_sections_file(tmp_path, capsys):
    assert main(["eval-routing", str(SECTIONS_SAMPLE), "--sections", str(SECTIONS_FILE), "--rules-only"]) == 0
    assert orjson.loads(capsys.readouterr().out.splitlines()[-1])["model"] == "none"
    bad = tmp_path / "sections.yaml"
    bad.write_text("sections:\n  sport: [football]\n", encoding="utf-8")
    assert main(["eval-routing", str(SECTIONS_SAMPLE), "--sections", str(bad)]) == 2
    assert "unknown category 'football'" in capsys.readouterr().err


# ------------------------------------------------------------ training (needs ../shared)

@pytest.mark.skipif(not ANT.exists(), reason=f"the ANT corpus is not at {ANT} (a fresh clone has no ../shared)")
def test_training_is_deterministic_on_a_slice_of_the_corpus(tmp_path):
    pytest.importorskip("sklearn", reason="training needs the 'train' extra (scikit-learn)")
    from streams.routing.model import FeatureConfig
    from streams.tools import train_routing

    corpus = train_routing.read_corpus(ANT, limit=1500)
    config = FeatureConfig(buckets=1 << 14, char_ngrams=(3,))
    X1, _ = train_routing.feature_matrix(corpus, config)
    X2, _ = train_routing.feature_matrix(corpus, config)
    assert (X1 != X2).nnz == 0
    a = train_routing._fit(X1, corpus.labels, 1e-5)
    b = train_routing._fit(X2, corpus.labels, 1e-5)
    assert (a.coef_ == b.coef_).all()
