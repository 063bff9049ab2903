"""Aggregator pages split into the lead article and what the site wrapped around it."""

import re
from pathlib import Path

import pytest

from streams.text.normalize import clean_display, fold_phrase
from streams.text.segment import load_rules, segment, split_tags

SEEDS = Path(__file__).parent / "fixtures" / "seeds"
KREMLIN = (SEEDS / "000_125a1a27dd233278.txt").read_text(encoding="utf-8")
MOSCOW = (SEEDS / "001_2bbf372be5c7d271.txt").read_text(encoding="utf-8")

BOILERPLATE = ["المصدر", "كلمات دلالية", "الوسوم", "إقرأ أيضاً", "اقرأ أيضا", "تابع أحدث الأخبار", "مقالات مشابهة", "•"]


def _paragraphs(page: str, first: int, last: int) -> list[str]:
    """Lines `first`..`last` (1-based, inclusive) of a seed as the body shows them.

    The body is display text: no-break spaces are spaces, `عام .2022` reads
    `عام 2022.` and an Arabic comma glued to the next word gets its space.
    """
    lines = page.splitlines()[first - 1 : last]
    out = []
    for line in lines:
        line = " ".join(clean_display(line).split())
        if line:
            out.append(re.sub(r"،(?=\S)", "، ", line))
    return out


def _related_lines(page: str) -> list[str]:
    return [line.strip().lstrip("•").strip() for line in page.splitlines() if line.strip().startswith("•")]


@pytest.fixture(scope="module")
def kremlin():
    return segment(KREMLIN)


@pytest.fixture(scope="module")
def moscow():
    return segment(MOSCOW)


def test_seed_000_lead_body_is_the_article_only(kremlin):
    body = kremlin.body
    assert body.split("\n\n") == _paragraphs(KREMLIN, 1, 13)
    assert "بوتين، اليوم الاثنين، في القصر" in body
    assert body.startswith("التقى الرئيس الروسي فلاديمير بوتين")
    assert body.endswith("تعرض أي من الدولتين لعدوان.")
    for marker in BOILERPLATE:
        assert marker not in body
    assert "عام 2022." in body and "عام .2022" not in body


def test_seed_000_keeps_no_text_of_the_embedded_article_or_related_headlines(kremlin):
    assert "جان نويل بارو" not in kremlin.body
    assert "هدنة" not in kremlin.body
    for headline in _related_lines(KREMLIN):
        assert headline not in kremlin.body


def test_seed_000_attribution(kremlin):
    assert kremlin.agency == "د ب أ"
    assert kremlin.source_name == "كويت نيوز"
    assert kremlin.title is None


def test_seed_000_tags_in_arabic_letters_once(kremlin):
    assert "روسيا" in kremlin.tags
    assert kremlin.tags.count("كوريا الشمالية") == 1
    assert not any(ch in tag for tag in kremlin.tags for ch in "کیە")
    assert len({fold_phrase(tag) for tag in kremlin.tags}) == len(kremlin.tags)


def test_seed_000_read_also_is_an_embedded_article(kremlin):
    assert len(kremlin.embedded) == 1
    embedded = kremlin.embedded[0]
    assert embedded.title == "وزير الخارجية الفرنسي: الهدنة بين روسيا وأوكرانيا قد تظهر مدى استعداد بوتين لمحادثات سلام"
    assert embedded.body.startswith("قال وزير الخارجية الفرنسي جان نويل بارو")
    assert embedded.body.endswith("في المكتب البيضاوي.")
    assert "تابع أحدث الأخبار" not in embedded.body
    assert "مقالات مشابهة" not in embedded.body
    assert "الكرملين: بوتين وافق" not in embedded.body


def test_seed_000_related_headlines(kremlin):
    assert kremlin.related == _related_lines(KREMLIN)
    assert len(kremlin.related) == 10
    assert kremlin.related[0] == "الكرملين: بوتين وافق على الوساطة بين إيران والولايات المتحدة"


def test_seed_001_lead_body_is_the_article_only(moscow):
    body = moscow.body
    assert body.split("\n\n") == _paragraphs(MOSCOW, 1, 11)
    assert body.endswith("توقيت الزيارة عبر القنوات الدبلوماسية.")
    for marker in BOILERPLATE:
        assert marker not in body
    assert "زيلينسكي" not in body
    for headline in _related_lines(MOSCOW):
        assert headline not in body


def test_seed_001_attribution_tags_embedded_related(moscow):
    assert moscow.source_name == "الوطن"
    assert moscow.agency is None  # «يونهاب» is quoted in the text, not the source
    assert "كوريا الشمالية" in moscow.tags and "لافروف" in moscow.tags
    assert moscow.tags.count("كوريا الشمالية") == 1
    assert [e.title for e in moscow.embedded] == ["زيلينسكي: تطوير دفاعات أوكرانيا الجوية لمواجهة التصعيد الروسي"]
    embedded = moscow.embedded[0].body
    assert embedded.startswith("في تطور جديد للحرب المستمرة منذ 33 شهرًا")
    assert "أنظمة جديدة لحماية الأرواح" in embedded  # sub-headings stay with their article
    assert embedded.endswith("لمواجهة هذا التصعيد.")
    assert len(moscow.related) == 10
    assert moscow.related == _related_lines(MOSCOW)


def test_knowledge_base_phrases_keep_names_together():
    known = {fold_phrase(p): p for p in ["كوريا الشمالية", "كيم جونج اون", "فلاديمير بوتين"]}

    def longest_match(text: str) -> list[str]:
        words, out, i = text.split(), [], 0
        while i < len(words):
            for j in range(len(words), i, -1):
                if fold_phrase(" ".join(words[i:j])) in known:
                    out.append(" ".join(words[i:j]))
                    i = j
                    break
            else:
                out.append(words[i])
                i += 1
        return out

    page = segment(MOSCOW, known_phrases=longest_match)
    assert page.tags == ["كوريا الشمالية", "بوتين", "كيم جونج اون", "روسيا", "لافروف"]


def test_a_knowledge_base_that_returns_only_known_phrases_still_keeps_other_words():
    tags = split_tags("روسيا كيم جونج اون لافروف", lambda text: ["كيم جونج اون"])
    assert tags == ["روسيا", "كيم جونج اون", "لافروف"]


def test_split_tags_heuristic_joins_nisba_adjectives_and_name_prefixes():
    assert split_tags("روسيا كوريا الشمالية الولايات المتحدة أبو ظبي") == [
        "روسيا", "كوريا الشمالية", "الولايات المتحدة", "أبو ظبي",
    ]


def test_split_tags_keeps_comma_separated_items_whole_and_folds_persian_letters():
    assert split_tags("روسيا، کوریا الشمالیة، كيم جونج-أون") == ["روسيا", "كوريا الشمالية", "كيم جونج-أون"]
    assert split_tags("كوريا الشمالية, کوریا الشمالیة") == ["كوريا الشمالية"]


def test_a_page_without_markers_is_just_a_body():
    page = segment("وقال الوزير إن المحادثات مستمرة.\n\nوأضاف أن الوفد سيعود غدا.")
    assert page.body == "وقال الوزير إن المحادثات مستمرة.\n\nوأضاف أن الوفد سيعود غدا."
    assert (page.title, page.source_name, page.agency) == (None, None, None)
    assert page.tags == page.related == page.embedded == []


def test_a_short_first_line_before_the_text_is_the_title():
    page = segment("بوتين يستقبل وزيرة خارجية كوريا الشمالية\n\nالتقى الرئيس الروسي اليوم الوزيرة في الكرملين.")
    assert page.title == "بوتين يستقبل وزيرة خارجية كوريا الشمالية"
    assert page.body == "التقى الرئيس الروسي اليوم الوزيرة في الكرملين."


def test_a_known_title_repeated_as_the_first_line_is_removed():
    page = segment("عنوان الخبر\nنص الخبر الأول.", known_title="عنوان  الخبر")
    assert page.body == "نص الخبر الأول."


def test_read_also_link_in_the_middle_of_the_article_is_only_a_headline():
    text = (
        "الفقرة الأولى من الخبر عن روسيا.\n"
        "اقرأ أيضا: بوتين يلتقي ترامب في قمة جديدة\n"
        "الفقرة الثانية من الخبر نفسه.\n"
        "المصدر: الوطن"
    )
    page = segment(text)
    assert page.body == "الفقرة الأولى من الخبر عن روسيا.\n\nالفقرة الثانية من الخبر نفسه."
    assert page.embedded == []
    assert page.related == ["بوتين يلتقي ترامب في قمة جديدة"]
    assert page.source_name == "الوطن"


def test_a_bare_read_also_link_does_not_swallow_the_next_paragraph():
    paragraph = "وأضاف الوزير أن الوفد سيعود إلى العاصمة غدا لاستكمال المحادثات مع الجانب الآخر بشأن الاتفاق."
    page = segment(f"الفقرة الأولى من الخبر.\nاقرأ أيضا\n{paragraph}\nالمصدر: الوطن")
    assert page.body == f"الفقرة الأولى من الخبر.\n\n{paragraph}"
    assert page.related == []


def test_read_also_run_on_after_a_sentence_is_split_off():
    text = "قال الوزير إن المحادثات مستمرة. اقرأ أيضا: عنوان آخر عن موضوع مختلف\nالمصدر: الوطن"
    page = segment(text)
    assert page.body == "قال الوزير إن المحادثات مستمرة."
    assert page.related == ["عنوان آخر عن موضوع مختلف"]


def test_promos_are_removed_wherever_they_appear():
    text = "قال الوزير إن المحادثات مستمرة. تابعونا على تطبيق واتساب. وأضاف أن الوفد سيعود.\nتابع أحدث الأخبار عبر تطبيق جوجل نيوز"
    assert segment(text).body == "قال الوزير إن المحادثات مستمرة. وأضاف أن الوفد سيعود."


def test_a_sentence_starting_with_the_word_source_stays_in_the_body():
    text = "المصدر أكد أن الاجتماع سيعقد الأسبوع المقبل في العاصمة بحضور عدد كبير من الوزراء والمسؤولين.\nالمصدر: الوطن"
    page = segment(text)
    assert page.body.startswith("المصدر أكد أن الاجتماع")
    assert page.source_name == "الوطن"


def test_agency_sign_off_at_the_end_is_attribution_not_text():
    page = segment("قال الوزير إن المحادثات مستمرة. (رويترز)")
    assert page.agency == "رويترز"
    assert page.body == "قال الوزير إن المحادثات مستمرة."
    assert segment("نص الخبر.\nالمصدر: وكالة الأناضول").agency == "الأناضول"
    assert segment("نص الخبر.\nالمصدر: د.ب.أ").agency == "د ب أ"


def test_tags_listed_one_per_line_after_the_marker():
    page = segment("نص الخبر.\nالوسوم\nروسيا\nكوريا الشمالية\nمقالات مشابهة\n• عنوان")
    assert page.tags == ["روسيا", "كوريا الشمالية"]
    assert page.related == ["عنوان"]
    assert page.body == "نص الخبر."


def test_new_layouts_are_a_data_change(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "source_markers: [بقلم المحرر]\n"
        "tag_markers: [{phrase: هاشتاغ}]\n"
        "read_also_markers: [طالع كذلك]\n"
        "related_markers: [روابط]\n"
        "promo_phrases: [نزل تطبيقنا]\n"
        "agencies: []\n",
        encoding="utf-8",
    )
    page = segment(
        "نص الخبر الأساسي.\nنزل تطبيقنا الآن\nبقلم المحرر: الموقع\nهاشتاغ: غزة\n"
        "طالع كذلك:\nعنوان خبر آخر\nنص الخبر الآخر.\nروابط\n- رابط أول",
        rules=load_rules(rules),
    )
    assert page.body == "نص الخبر الأساسي."
    assert page.source_name == "الموقع"
    assert page.tags == ["غزة"]
    assert [(e.title, e.body) for e in page.embedded] == [("عنوان خبر آخر", "نص الخبر الآخر.")]
    assert page.related == ["رابط أول"]
