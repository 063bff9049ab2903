"""Routing rules: what lands in which `articles.enriched.<category>` topic."""

from __future__ import annotations

import re
import time
import textwrap
from pathlib import Path

import pytest

from streams.routing.rules import topic_for
from streams.routing.rules_file import DEFAULT_RULES_PATH, RulesError, load_rules
from streams.routing.watcher import RulesWatcher
from streams.text.normalize import match_text

ROOT = Path(__file__).resolve().parents[1]

IPTC_IDS = {
    "politics", "conflict-war-peace", "economy-business-finance", "sport", "health",
    "science-technology", "crime-law-justice", "disaster-accident", "environment",
    "arts-culture-entertainment", "education", "religion", "society", "labour",
    "lifestyle-leisure", "weather", "human-interest",
}


def _seed_pages() -> list[Path]:
    """The two real seed pages, committed in tests/fixtures/seeds (copies of the shared ones)."""
    pages = sorted((ROOT / "tests" / "fixtures" / "seeds").glob("*.txt"))
    assert pages, "no seed pages in tests/fixtures/seeds"
    return pages


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def ids(result):
    return [c["id"] for c in result]


def write_rules(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


SMALL_RULES = """\
    version: 1
    settings:
      title_weight: 2.0
      body_weight: 1.0
      max_repeats: 3
      max_categories: 2
      min_relative_score: 0
      default_threshold: 2
    categories:
      - id: war
        label: {ar: حرب, en: War}
        terms:
          - weight: 2
            ar: [حرب, كأس العالم]
      - id: football
        label: {ar: كرة القدم, en: Football}
        terms:
          - weight: 1
            ar: [كأس, كأس العالم]
            en: [goal*]
      - id: money
        label: {ar: مال, en: Money}
        threshold: 5
        terms:
          - weight: 1
            ar: [بنك]
      - id: alliance
        label: {ar: تحالف, en: Alliance}
        threshold: 3
        entities:
          - ids: [org:nato]
            weight: 3
          - types: [LOC]
            weight: 0.5
    """


# ------------------------------------------------------------ packaged rules

def test_packaged_rules_cover_iptc_top_level_with_bilingual_labels(rules):
    assert set(rules.category_ids) == IPTC_IDS
    for category in rules.categories:
        assert category.label_ar and re.search(r"[\u0600-\u06ff]", category.label_ar)
        assert category.label_en and category.label_en.isascii()
        assert topic_for(category.id) == f"articles.enriched.{category.id}"
        assert re.fullmatch(r"[a-zA-Z0-9._-]{1,249}", topic_for(category.id))
    assert rules.topics == tuple(topic_for(i) for i in rules.category_ids)


@pytest.mark.parametrize("page", _seed_pages(), ids=lambda p: p.name)
def test_seed_pages_route_to_politics_and_conflict(rules, page):
    text = page.read_text(encoding="utf-8")
    title, _, body = text.partition("\n")
    result = rules.categorize(title, body, [])
    assert {"politics", "conflict-war-peace"} <= set(ids(result)), result
    assert len(result) <= rules.settings.max_categories
    scores = [c["score"] for c in result]
    assert scores == sorted(scores, reverse=True)
    for category in result:
        assert category["hits"], category
        assert isinstance(category["score"], float)


def test_arabic_sports_article_routes_to_sport(rules):
    title = "الهلال يفوز على النصر ويتصدر الدوري"
    body = (
        "حقق فريق الهلال فوزا مستحقا على ضيفه النصر بهدفين مقابل هدف في المباراة التي أقيمت "
        "مساء أمس على ملعب المملكة أرينا ضمن الجولة العشرين من الدوري. وسجل المهاجم هدف الفوز في "
        "الشوط الثاني من ركلة جزاء، فيما أشاد المدرب بأداء اللاعبين وبالجماهير التي ملأت المدرجات."
    )
    result = rules.categorize(title, body, [])
    assert ids(result)[0] == "sport", result
    assert "economy-business-finance" not in ids(result)


def test_arabic_economy_article_routes_to_economy(rules):
    title = "البنك المركزي يرفع أسعار الفائدة لكبح التضخم"
    body = (
        "قرر البنك المركزي رفع أسعار الفائدة بمقدار نقطتين مئويتين في محاولة لكبح معدلات التضخم "
        "التي بلغت مستويات قياسية. وتراجع مؤشر البورصة الرئيسي وارتفع سعر الدولار، فيما قال "
        "محللون إن القرار سيضغط على الاستثمار والاقتراض ويبطئ نمو الاقتصاد."
    )
    result = rules.categorize(title, body, [])
    assert ids(result)[0] == "economy-business-finance", result
    assert "sport" not in ids(result)


def test_english_articles_route_too(rules):
    economy = rules.categorize(
        "Central bank raises interest rates as inflation bites",
        "The central bank raised its benchmark rate on Tuesday, saying inflation remained too high. "
        "Stocks fell on Wall Street and bond yields climbed as investors braced for a recession.",
        [],
    )
    assert ids(economy)[0] == "economy-business-finance", economy
    sport = rules.categorize(
        "Liverpool beat Arsenal to go top of the Premier League",
        "Liverpool scored twice in the second half. The head coach praised his players and the fans "
        "after the match, which leaves the club three points clear at the top of the league.",
        [],
    )
    assert ids(sport)[0] == "sport", sport


def test_clitics_are_stripped_so_wa_al_iqtisad_hits_the_economy_term(rules):
    result = rules.categorize("", "والاقتصاد والاقتصاد والاقتصاد", [])
    economy = next(c for c in result if c["id"] == "economy-business-finance")
    assert "اقتصاد*" in economy["hits"]
    # `للانتخابات` = ل + ال + انتخابات
    result = rules.categorize("", "دعوة للانتخابات وبالانتخابات الرئاسية والانتخابات", [])
    politics = next(c for c in result if c["id"] == "politics")
    assert "انتخاب*" in politics["hits"]


def test_letter_variants_do_not_matter(rules):
    # diacritics, shadda and ta marbuta written as ha fold to the same terms
    plain = rules.categorize("", "الاقتصاد والتضخم والبورصة", [])
    variant = rules.categorize("", "الاقْتِصاد والتضخّم والبورصه", [])
    assert plain == variant


def test_title_counts_more_than_body(rules):
    in_title = rules.categorize("زلزال", "", [])
    in_body = rules.categorize("", "زلزال", [])
    # one weight-3 term: below the threshold in the body, above it in the headline
    assert ids(in_title) == ["disaster-accident"]
    assert in_body == []
    assert in_title[0]["score"] == 3.0 * rules.settings.title_weight


def test_an_already_folded_body_gives_the_same_answer(rules):
    for page in _seed_pages():
        text = page.read_text(encoding="utf-8")
        title, _, body = text.partition("\n")
        assert rules.categorize(title, body, [], folded_body=match_text(body).text) == rules.categorize(title, body, [])


# -------------------------------------------------------------- own rule files

def test_matching_is_token_aware_and_longest_match_wins(tmp_path):
    rules = load_rules(write_rules(tmp_path / "r.yaml", SMALL_RULES))
    # `محارب` contains `حرب` but is another word
    assert rules.categorize("", "محارب محاربة", []) == []
    result = rules.categorize("", "والحرب", [])
    assert result == [{"id": "war", "score": 2.0, "hits": ["حرب"]}]
    # `كأس العالم` counts once per category, not again as `كأس`; each
    # category that lists the phrase gets it with its own weight
    result = rules.categorize("كأس العالم", "", [])
    assert result == [
        {"id": "war", "score": 4.0, "hits": ["كأس العالم"]},
        {"id": "football", "score": 2.0, "hits": ["كأس العالم"]},
    ]
    # prefix terms: `goal*` covers goals and goalkeeper
    result = rules.categorize("", "two goals and a goalkeeper", [])
    assert result == [{"id": "football", "score": 2.0, "hits": ["goal*"]}]


def test_repetitions_saturate(tmp_path):
    rules = load_rules(write_rules(tmp_path / "r.yaml", SMALL_RULES))
    once = rules.categorize("", "حرب", [])[0]["score"]
    many = rules.categorize("", " ".join(["الحرب"] * 20), [])[0]["score"]
    assert many == once * rules.settings.max_repeats


def test_entity_condition_fires(tmp_path):
    rules = load_rules(write_rules(tmp_path / "r.yaml", SMALL_RULES))
    assert rules.categorize("", "نص بلا كلمات", []) == []
    nato = {"id": "org:nato", "name": "الناتو", "type": "ORG", "mentions": 2, "spans": [], "forms": []}
    result = rules.categorize("", "نص بلا كلمات", [nato])
    assert result == [{"id": "alliance", "score": 3.0, "hits": ["entity:org:nato"]}]
    # a type condition counts distinct entities of that type, capped at max_repeats
    places = [{"id": f"loc:{code}", "type": "LOC"} for code in ("ru", "ua", "kp", "fr", "gb")]
    result = rules.categorize("", "", [nato, *places])
    assert result[0]["id"] == "alliance"
    assert result[0]["score"] == 3.0 + 0.5 * 3
    # malformed entity items are ignored, not fatal
    assert rules.categorize("", "", ["junk", {"type": "ORG"}, None]) == []


def test_packaged_rules_use_entity_ids(rules):
    body = "اجتمع وزراء دفاع الحلف لبحث تعزيز القوات"
    without = {c["id"]: c for c in rules.categorize("", body, [])}
    with_nato = {c["id"]: c for c in rules.categorize("", body, [{"id": "org:nato", "type": "ORG"}])}
    assert "entity:org:nato" in with_nato["conflict-war-peace"]["hits"]
    before = without.get("conflict-war-peace", {"score": 0.0})["score"]
    assert with_nato["conflict-war-peace"]["score"] > before


def test_threshold_and_cap_are_respected(tmp_path):
    rules = load_rules(write_rules(tmp_path / "r.yaml", SMALL_RULES))
    # money needs 5 points; two mentions of a weight-1 term are not enough
    assert rules.categorize("", "بنك البنك", []) == []
    assert ids(rules.categorize("", "بنك البنك وبنك", [])) == []
    assert ids(rules.categorize("بنك", "بنك البنك وبنك", [])) == ["money"]  # 2 + 3 = 5
    # money (5), war (4) and football (3) all qualify; max_categories is 2, best first
    result = rules.categorize("بنك", "الحرب والحرب بنك وبنك والبنك goal goals goalkeeper", [])
    assert ids(result) == ["money", "war"], result
    assert [c["score"] for c in result] == [5.0, 4.0]


def test_min_relative_score_drops_side_topics(tmp_path):
    text = SMALL_RULES.replace("min_relative_score: 0", "min_relative_score: 0.5")
    rules = load_rules(write_rules(tmp_path / "r.yaml", text))
    result = rules.categorize("حرب", "الحرب والحرب goals goalkeeper", [])
    assert ids(result) == ["war"]  # football (2) is below half of war (8)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t + "  - id: war\n    label: {ar: ب, en: B}\n    terms: [{weight: 1, en: [x]}]\n",
         r"duplicate id 'war'"),
        (lambda t: t.replace("id: money", "id: Money & Finance"), r"cannot be a topic suffix"),
        (lambda t: t.replace("id: money", "id: money.finance"), r"cannot be a topic suffix"),
        (lambda t: t.replace("weight: 2\n", "weight: -2\n", 1), r"categories\[0\] \(war\)\.terms\[0\]\.weight: must be a number > 0"),
        (lambda t: t.replace("weight: 2\n", "weight: heavy\n", 1), r"weight: must be a number"),
        (lambda t: t.replace("weight: 2\n", "weight: 1000\n", 1), r"weight: must be a number"),
        (lambda t: t.replace("    terms:\n      - weight: 2", "    termz:\n      - weight: 2", 1),
         r"unknown key 'termz'"),
        (lambda t: t.replace("max_categories: 2", "max_categorys: 2"), r"settings: unknown key 'max_categorys'"),
        (lambda t: t.replace("ar: [بنك]", "ar: [بنك, البنك]"), r"repeats"),
        (lambda t: t.replace("ar: [بنك]", "ar: [بنك, yes]"), r"must be non-empty text.*quote it"),
        (lambda t: t.replace("types: [LOC]", "types: [PLACE]"), r"types: must be a list of entity types"),
        (lambda t: t.replace("en: [goal*]", "en: [g*]"), r"needs at least 3 letters"),
        (lambda t: t.replace("label: {ar: مال, en: Money}", "label: {ar: مال}"), r"missing key 'en'"),
        (lambda t: t.replace("ar: [بنك]", "ar: [بنك"), r"not valid YAML: line \d+"),
        (lambda t: t.replace("  default_threshold: 2\n", "  default_threshold: 2\n  title_weight: 3\n"),
         r"not valid YAML.*duplicate key 'title_weight'"),
        (lambda t: "", r"the file is empty"),
    ],
)
def test_bad_rules_file_raises_a_clear_error(tmp_path, change, message):
    path = write_rules(tmp_path / "bad.yaml", SMALL_RULES)
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert str(info.value).startswith(str(path)), info.value
    assert re.search(message, str(info.value)), info.value


def test_missing_rules_file(tmp_path):
    with pytest.raises(RulesError, match="no such file"):
        load_rules(tmp_path / "nope.yaml")


def test_topic_for_rejects_unsafe_ids():
    assert topic_for("sport") == "articles.enriched.sport"
    for bad in ("", "Sport", "a b", "a.b", "../x", "a--b"):
        with pytest.raises(ValueError):
            topic_for(bad)


# ------------------------------------------------------------------ watcher

def test_watcher_picks_up_edits_and_keeps_old_rules_when_broken(tmp_path, caplog):
    path = write_rules(tmp_path / "rules.yaml", SMALL_RULES)
    watcher = RulesWatcher(path, check_interval=0)
    assert watcher.current().categorize("", "مصرف", []) == []

    # an editor adds a term: the next article already sees it
    path.write_text(path.read_text(encoding="utf-8").replace("ar: [بنك]", "ar: [بنك, مصرف]"), encoding="utf-8")
    assert ids(watcher.current().categorize("مصرف", "مصرف مصرف مصرف", [])) == ["money"]
    assert watcher.reloads == 1

    # a broken save: routing carries on with the rules in force, the error is logged
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("weight: 1\n", "weight: lots\n", 1), encoding="utf-8")
    with caplog.at_level("ERROR", logger="streams.routing.watcher"):
        rules = watcher.current()
    assert ids(rules.categorize("مصرف", "مصرف مصرف مصرف", [])) == ["money"]
    assert watcher.last_error is not None and "weight" in str(watcher.last_error)
    assert any("keeping the previous" in r.getMessage() for r in caplog.records)

    # the file disappears for a moment (editors that save by rename): still fine
    path.unlink()
    assert ids(watcher.current().categorize("مصرف", "مصرف مصرف مصرف", [])) == ["money"]

    # fixed again: reloaded, error cleared
    path.write_text(good.replace("ar: [بنك, مصرف]", "ar: [بنك, مصرف, ريال]"), encoding="utf-8")
    assert ids(watcher.current().categorize("ريال", "ريال ريال ريال", [])) == ["money"]
    assert watcher.last_error is None
    assert watcher.reloads == 2


def test_watcher_checks_the_file_at_most_every_interval(tmp_path):
    now = [100.0]
    path = write_rules(tmp_path / "rules.yaml", SMALL_RULES)
    watcher = RulesWatcher(path, check_interval=5, clock=lambda: now[0])
    first = watcher.current()
    path.write_text(path.read_text(encoding="utf-8").replace("ar: [بنك]", "ar: [بنك, مصرف]"), encoding="utf-8")
    now[0] += 1
    assert watcher.current() is first
    now[0] += 5
    assert watcher.current() is not first


def test_watcher_refuses_to_start_on_a_bad_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("categories: [", encoding="utf-8")
    with pytest.raises(RulesError):
        RulesWatcher(path)


def test_default_rules_path_is_packaged():
    assert DEFAULT_RULES_PATH.name == "categories.yaml"
    assert DEFAULT_RULES_PATH.parent == ROOT / "streams" / "routing"
    assert RulesWatcher().current().category_ids == load_rules().category_ids


def test_indefinite_accusative_alif_is_dropped(tmp_path):
    rules = load_rules(write_rules(tmp_path / "r.yaml", SMALL_RULES))
    # `حرباً` (tanween fath) folds to `حربا` and meets `حرب`; short words stay whole
    assert ids(rules.categorize("", "حرباً", [])) == ["war"]
    assert rules.categorize("", "حربيا محاربا", []) == []


# ------------------------------------------------------------- combinations

COMBO_RULES = """\
    version: 1
    settings: {min_relative_score: 0, default_threshold: 2, max_categories: 3}
    categories:
      - id: football
        label: {ar: كرة القدم, en: Football}
        combinations:
          - name: scored
            weight: 3
            near: {terms: [scored, goal*], within: 2}
          - weight: 2
            all_of: [stadium, fans]
            any_of: [match, final]
            none_of: [concert, مسرح العمليات]
      - id: money
        label: {ar: مال, en: Money}
        terms:
          - weight: 1
            en: [bank]
        combinations:
          - name: rates
            weight: 2
            all_of: [central bank]
            near: [{terms: [rate*, rise*], within: 0}]
    """


def test_combinations_all_any_none_and_near(tmp_path):
    rules = load_rules(write_rules(tmp_path / "r.yaml", COMBO_RULES))
    # near: at most 2 words between, in either order, within one zone
    assert rules.categorize("", "He scored a late goal", []) == [
        {"id": "football", "score": 3.0, "hits": ["combo:scored"]}]
    assert rules.categorize("", "The goal was scored", [])[0]["hits"] == ["combo:scored"]
    assert rules.categorize("", "He scored in the first half and the late goal", []) == []
    assert rules.categorize("scored", "goal", []) == []  # title and body are separate zones
    # all_of + any_of, anywhere in title or body; none_of vetoes
    assert ids(rules.categorize("Fans flock to the stadium", "before the final", [])) == ["football"]
    assert rules.categorize("Fans flock to the stadium", "before the concert final", []) == []
    assert rules.categorize("Fans flock to the stadium", "", []) == []           # any_of missing
    assert rules.categorize("", "the stadium final", []) == []                   # all_of incomplete
    assert rules.categorize("", "الجماهير stadium fans match في مسرح العمليات", []) == []
    # combinations add to the category's terms; `within: 0` means adjacent
    result = rules.categorize("", "the central bank said rates rise again at the bank", [])
    assert result == [{"id": "money", "score": 4.0, "hits": ["bank", "combo:rates"]}]
    assert rules.categorize("", "the central bank said rates will rise", []) == []  # not adjacent; bank alone is 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("near: {terms: [scored, goal*], within: 2}", "none_of: [scored]"),
         r"combinations\[0\]: needs at least one of 'all_of', 'any_of' or 'near'"),
        (lambda t: t.replace("within: 2}", "within: 99}"), r"near\.within: must be a whole number >= 0 and <= 50"),
        (lambda t: t.replace("within: 2}", "within: 1.5}"), r"near\.within: must be a whole number"),
        (lambda t: t.replace("[scored, goal*]", "[scored]"), r"near\.terms: must name exactly two terms, got 1"),
        (lambda t: t.replace("{terms: [scored, goal*], within: 2}", "{terms: [scored, goal*]}"),
         r"near: missing key 'within'"),
        (lambda t: t.replace("all_of: [stadium, fans]", "all_of: []"), r"all_of: must be a non-empty list of terms"),
        (lambda t: t.replace("any_of: [match, final]", "any_of: match"), r"any_of: must be a non-empty list of terms"),
        (lambda t: t.replace("none_of: [concert, ", "none_of: [fans, "), r"none_of: repeats a term the combination requires"),
        (lambda t: t.replace("all_of: [stadium, fans]", "all_off: [stadium, fans]"), r"unknown key 'all_off'"),
        (lambda t: t.replace("weight: 2\n        all_of", "weight: 0\n        all_of"),
         r"combinations\[1\]\.weight: must be a number > 0"),
        (lambda t: t.replace("[rate*, rise*]", "[r*, rise*]"), r"near\[0\]\.terms\[0\]: term 'r\*'.*3 letters"),
        (lambda t: t.replace("name: rates", "name: scored").replace("name: scored\n        weight: 3", "name: x\n        weight: 3"),
         None),
        (lambda t: t.replace("- weight: 2\n        all_of", "- name: scored\n        weight: 2\n        all_of"),
         r"duplicate combination name 'scored'"),
    ],
)
def test_bad_combinations_raise_a_clear_error(tmp_path, change, message):
    path = write_rules(tmp_path / "bad.yaml", COMBO_RULES)
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
    if message is None:  # the same name in two categories is fine
        load_rules(path)
        return
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert str(info.value).startswith(str(path)), info.value
    assert re.search(message, str(info.value)), info.value


def test_packaged_rules_use_a_combination(rules):
    result = {c["id"]: c for c in rules.categorize("", "وسجل اللاعب هدفا رائعا في المباراة", [])}
    assert "combo:goal-scored" in result["sport"]["hits"]
    # the same words apart, or about inflation targets, are not a goal
    far = rules.categorize("", "سجل الاقتصاد نموا قويا هذا العام وهو هدف الحكومة", [])
    assert all("combo:goal-scored" not in c["hits"] for c in far)


# ------------------------------------------------- documents from routing.rules

def test_documents_swap_the_rules_and_bad_ones_keep_the_previous(tmp_path):
    path = write_rules(tmp_path / "rules.yaml", SMALL_RULES)
    watcher = RulesWatcher(path, check_interval=0)
    assert watcher.origin == "file"
    published = textwrap.dedent(SMALL_RULES).replace("ar: [بنك]", "ar: [بنك, مصرف]").encode()
    outcome = watcher.apply_document(published, source="routing.rules[0]@0", timestamp=time.time() + 1)
    assert "in force" in outcome and watcher.origin == "routing.rules[0]@0"
    assert ids(watcher.current().categorize("مصرف", "مصرف مصرف مصرف", [])) == ["money"]

    for bad, reason in [(b"categories: [", "not valid YAML"), (b"\xff\xfe", "not UTF-8"),
                        (published.replace(b"weight: 1\n", b"weight: lots\n", 1), "weight")]:
        with pytest.raises(RulesError, match=reason) as info:
            watcher.apply_document(bad, source="routing.rules[0]@1", timestamp=time.time() + 2)
        assert str(info.value).startswith("routing.rules[0]@1: ")
        assert watcher.last_error is info.value
        assert ids(watcher.current().categorize("مصرف", "مصرف مصرف مصرف", [])) == ["money"]
        assert watcher.origin == "routing.rules[0]@0"

    # a tombstone withdraws the published rules: the file is in force again
    assert "withdrawn" in watcher.apply_document(None, source="routing.rules[0]@2")
    assert watcher.origin == "file" and watcher.current().categorize("مصرف", "مصرف مصرف مصرف", []) == []
    assert "ignored" in watcher.apply_document(None, source="routing.rules[0]@3")


def test_the_newest_change_wins_between_file_and_topic(tmp_path):
    path = write_rules(tmp_path / "rules.yaml", SMALL_RULES)
    mtime = path.stat().st_mtime
    watcher = RulesWatcher(path, check_interval=0)
    published = textwrap.dedent(SMALL_RULES).replace("ar: [بنك]", "ar: [بنك, مصرف]").encode()
    # replayed after a restart: a document older than the file's last edit is skipped
    assert "skipped" in watcher.apply_document(published, source="t@0", timestamp=mtime - 60)
    assert watcher.origin == "file"
    # a newer one replaces the file's rules
    watcher.apply_document(published, source="t@1", timestamp=mtime + 60)
    assert ids(watcher.current().categorize("مصرف", "مصرف مصرف مصرف", [])) == ["money"]
    # then an editor saves the file: that edit is the newest change
    path.write_text(textwrap.dedent(SMALL_RULES).replace("ar: [بنك]", "ar: [بنك, ريال]"), encoding="utf-8")
    rules = watcher.current()
    assert watcher.origin == "file"
    assert ids(rules.categorize("ريال", "ريال ريال ريال", [])) == ["money"]
    assert rules.categorize("مصرف", "مصرف مصرف مصرف", []) == []
    # and a document published after that replaces it again
    watcher.apply_document(published, source="t@2", timestamp=time.time() + 120)
    assert ids(watcher.current().categorize("مصرف", "مصرف مصرف مصرف", [])) == ["money"]


def test_worker_task_reads_record_source_and_timestamp(tmp_path):
    from types import SimpleNamespace

    from streams.runtime.follow import apply_rules_message

    path = write_rules(tmp_path / "rules.yaml", SMALL_RULES)
    watcher = RulesWatcher(path, check_interval=0)
    message = SimpleNamespace(topic="routing.rules", partition=0, offset=7, key=b"rules",
                              value=textwrap.dedent(SMALL_RULES).encode(), timestamp=int(time.time() * 1000) + 5000)
    assert apply_rules_message(watcher, message) == "rules from routing.rules[0]@7 in force (4 categories)"
    with pytest.raises(RulesError, match=r"^routing.rules\[0\]@8: .*the file is empty"):
        apply_rules_message(watcher, SimpleNamespace(**{**vars(message), "offset": 8, "value": b""}))


def test_rules_cli_validates_before_publishing(tmp_path, monkeypatch, capsys):
    from streams.cli import main

    monkeypatch.setenv("KAFKA_BROKER", "kafka://127.0.0.1:1")
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent(SMALL_RULES).replace("weight: 2\n", "weight: -2\n", 1), encoding="utf-8")
    assert main(["rules", "publish", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "weight: must be a number > 0" in err and "Traceback" not in err
    good = write_rules(tmp_path / "good.yaml", SMALL_RULES)
    assert main(["rules", "check", str(good)]) == 0
    assert "valid, 4 categories (war, football, money, alliance)" in capsys.readouterr().out
    assert main(["rules", "publish", str(good)]) == 2  # validated, but no broker there
    assert "cannot connect to Kafka" in capsys.readouterr().err


@pytest.mark.broker
@pytest.mark.timeout(180)
async def test_workers_swap_in_published_rules_without_restart(broker, start_worker, tmp_path):
    import asyncio
    import base64
    import os
    import subprocess
    import sys
    from datetime import datetime, timezone

    import orjson

    from streams import topics

    from .conftest import consume, produce, values

    worker = start_worker()
    # a broken document first: dead-lettered, the rules in force stay
    await produce(broker, topics.ROUTING_RULES, [b"categories: ["], keys=[b"rules"])
    published = DEFAULT_RULES_PATH.read_text(encoding="utf-8") + (
        "\n  - id: invented-beat\n"
        "    label: {ar: موضوع مخترع, en: Invented beat}\n"
        "    threshold: 2\n"
        "    terms:\n"
        "      - weight: 3\n"
        "        ar: [زعفرانستان]\n"
    )
    path = tmp_path / "published.yaml"
    path.write_text(published, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "streams", "rules", "publish", str(path)], capture_output=True, text=True,
        env={**os.environ, "KAFKA_BROKER": f"kafka://{broker}"}, cwd=ROOT, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for _ in range(60):
        if "18 categories" in worker.log():
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"worker never swapped the rules in\n{worker.log()}")
    assert "routing.rules: record at 0@0 refused" in worker.log()
    raw = {"url": "https://example.org/invented", "source": "example", "title": "أخبار زعفرانستان",
           "body": "وصل وفد من زعفرانستان إلى العاصمة أمس في زيارة تستمر ثلاثة أيام. وقال رئيس الوفد إن "
                   "الزيارة تهدف إلى تعزيز التعاون في مجالات عدة.",
           "published_at": datetime.now(timezone.utc).isoformat()}
    await produce(broker, topics.RAW, [orjson.dumps(raw)])
    (article,) = values(await consume(broker, topics.category_topic("invented-beat"),
                                      until=lambda m: len(m) >= 1, timeout=60))
    # the new category is there beside the section the model chose (a category outside the five sections)
    assert article["url"] == raw["url"] and "invented-beat" in [c["id"] for c in article["categories"]]
    # ... and its copies in the topics it already had reach them too, though the new topic was made meanwhile
    for other in [c["id"] for c in article["categories"] if c["id"] != "invented-beat"]:
        (copy,) = values(await consume(broker, topics.category_topic(other), until=lambda m: len(m) >= 1, timeout=30))
        assert copy["id"] == article["id"]
    dead = values(await consume(broker, topics.DEADLETTER, until=lambda m: len(m) >= 1, timeout=30))
    assert dead[0]["stage"] == "rules" and base64.b64decode(dead[0]["original_b64"]) == b"categories: ["
    assert "not valid YAML" in dead[0]["reason"]
