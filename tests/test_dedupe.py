"""Near-duplicates: a syndicated copy of a story is marked and not counted twice."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.ingest.sources import iter_raw_articles
from streams.pipeline import Pipeline, mentions_of
from streams.text.dedupe import (
    SKETCH_SIZE, SketchIndex, check_and_remember, decode_sketch, encode_sketch, similarity, sketch,
)

from .conftest import SEEDS


def seed_raw(index: int) -> dict:
    (item,) = list(iter_raw_articles(str(SEEDS[index])))
    return orjson.loads(item.value)


def syndicated_copy(raw: dict) -> dict:
    """The same agency story as another site would run it: other boilerplate, light edits."""
    lead = raw["body"].split("المصدر")[0]
    lead = lead.replace("اليوم الاثنين", "الإثنين").replace("تشوي سونج هوي", "تشوي سون هوي")
    body = (
        "موسكو - وكالات\n\n" + lead +
        "\n\nالمصدر: صحيفة الخليج\n\nكلمات دلالية: موسكو الكرملين\n\n"
        "اقرأ أيضا:\n\nارتفاع أسعار النفط في الأسواق العالمية\n\n"
        "قفزت أسعار النفط اليوم مع تراجع المخزونات الأمريكية وتزايد الطلب في آسيا خلال الأسبوع.\n"
    )
    return {**raw, "url": "https://other-site.example/world/123", "source": "الخليج", "body": body}


def test_copy_with_other_boilerplate_is_a_near_duplicate():
    original, copy = seed_raw(0), syndicated_copy(seed_raw(0))
    pipeline = Pipeline()
    first = pipeline.process(orjson.dumps(original))
    second = pipeline.process(orjson.dumps(copy))
    assert first[0]["duplicate_of"] is None
    assert second[0]["duplicate_of"] == first[0]["id"]
    assert second[0]["id"] != first[0]["id"]
    # The copy's own "read also" article is a different story: not a duplicate.
    assert [a["duplicate_of"] for a in second[1:]] == [None]
    assert mentions_of(second[0]) == []
    assert mentions_of(first[0])


def test_different_stories_are_not_duplicates():
    pipeline = Pipeline()
    a = pipeline.process(orjson.dumps(seed_raw(0)))
    b = pipeline.process(orjson.dumps(seed_raw(1)))
    assert all(article["duplicate_of"] is None for article in a + b)


def test_same_page_twice_keeps_its_id_and_is_not_its_own_duplicate():
    pipeline = Pipeline()
    payload = orjson.dumps(seed_raw(1))
    first, again = pipeline.process(payload), pipeline.process(payload)
    assert again[0]["id"] == first[0]["id"] and again[0]["duplicate_of"] is None
    assert again[0]["embedded"] == first[0]["embedded"]
    assert len(again) == 1  # its embedded article was already emitted the first time


def lead_body(index: int) -> str:
    return seed_raw(index)["body"].split("المصدر")[0]


def test_forgetting_bounds_the_index():
    index = SketchIndex()
    body = lead_body(0)
    check_and_remember(index, "a-1", body, now=100.0)
    assert "a-1" in index
    assert index.forget_before(cutoff=50.0) == 0
    assert index.forget_before(cutoff=200.0) == 1
    assert index.sketches == {} and "a-1" not in index
    # Forgotten means a later copy is treated as an original again.
    assert check_and_remember(index, "a-2", body, now=300.0).duplicate_of is None


def test_beyond_its_capacity_the_oldest_originals_are_forgotten():
    """Memory stays bounded at any input rate: the newest originals are the ones kept."""
    index = SketchIndex()
    check_and_remember(index, "old", lead_body(0), now=1.0)
    check_and_remember(index, "new", lead_body(1), now=2.0)
    assert index.forget_oldest(keep=5) == 0
    assert index.forget_oldest(keep=1) == 1
    assert sorted(index.sketches) == ["s:new"]
    # The forgotten original no longer claims its copies; the kept one still does.
    assert check_and_remember(index, "old-copy", syndicated_copy(seed_raw(0))["body"], now=3.0).duplicate_of is None
    copy_of_new = lead_body(1).replace("\n\n", "\n\nعاجل\n\n", 1)
    assert check_and_remember(index, "new-copy", copy_of_new, now=4.0).duplicate_of == "new"


def test_a_sketch_is_stored_compactly_and_read_back_exactly():
    own = sketch(lead_body(0))
    index = SketchIndex()
    check_and_remember(index, "a-1", lead_body(0), now=1.0)
    stored = index.sketches["s:a-1"]["sketch"]
    assert isinstance(stored, str) and len(stored) == 16 * SKETCH_SIZE
    assert decode_sketch(stored) == own == index.sketch_of("a-1")
    assert decode_sketch(encode_sketch([0, 2**64 - 1])) == (0, 2**64 - 1)
    # Records written before sketches were stored as hex still count.
    assert decode_sketch(list(own)) == own
    # A damaged record is left out of the lookup, never fatal.
    for damaged in ("zz", "abc", ["x"], None, 5):
        assert decode_sketch(damaged) is None
        index.apply("s:damaged", {"sketch": damaged, "ts": 0.0})
        assert "damaged" not in index.candidates(own)


def test_short_texts_are_never_duplicates():
    index = SketchIndex()
    assert check_and_remember(index, "a", "خبر قصير جدا", now=0).duplicate_of is None
    assert check_and_remember(index, "b", "خبر قصير جدا", now=0).duplicate_of is None


def test_one_stored_record_per_original_article():
    """The stored mapping is a replicated table: each record is a changelog message in every worker."""
    index = SketchIndex()
    check_and_remember(index, "a-1", lead_body(0), now=1.0)
    check_and_remember(index, "b-1", lead_body(1), now=2.0)
    assert check_and_remember(index, "a-2", syndicated_copy(seed_raw(0))["body"], now=3.0).duplicate_of == "a-1"
    assert sorted(index.sketches) == ["s:a-1", "s:b-1"]


def test_a_copy_finds_an_original_remembered_by_another_worker():
    """Records that reach the shared mapping from elsewhere are found once applied or rebuilt."""
    shared = {}
    here, there = SketchIndex(shared), SketchIndex({})
    check_and_remember(there, "a-1", lead_body(0), now=1.0)
    for key, entry in there.sketches.items():
        shared[key] = entry
        here.apply(key, entry)
    copy = syndicated_copy(seed_raw(0))["body"]
    assert check_and_remember(here, "a-2", copy, now=2.0).duplicate_of == "a-1"
    # A worker that starts on a restored table rebuilds the lookup from it.
    assert check_and_remember(SketchIndex(dict(shared)), "a-3", copy, now=3.0).duplicate_of == "a-1"
    # Removed elsewhere: found no more, and the copy becomes an original.
    del shared["s:a-1"]
    here.apply("s:a-1", None)
    assert check_and_remember(here, "a-4", copy, now=4.0).duplicate_of is None


def test_the_earliest_original_is_found_whatever_order_records_arrive_in():
    body = lead_body(0)
    index = SketchIndex()
    index.apply("s:late", {"sketch": list(sketch(body)), "ts": 5.0})
    index.apply("s:early", {"sketch": list(sketch(body)), "ts": 1.0})
    assert index.candidates(sketch(body)[:3]) == ["early"]
    # Remembered at the same moment (one broker timestamp): the first seen keeps it.
    index.apply("s:same-moment", {"sketch": list(sketch(body)), "ts": 1.0})
    assert index.candidates(sketch(body)[:3]) == ["early"]
    # Records of another shape (an older layout) are ignored, not fatal.
    index.apply("h:ff", {"id": "x", "ts": 0.0})
    assert index.candidates(sketch(body)[:3]) == ["early"]


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=0, max_size=400))
def test_similarity_is_a_fraction_and_self_similarity_is_one(text):
    own = sketch(text)
    if own is not None:
        assert similarity(own, own) == 1.0
        other = sketch(text + " كلمة أخرى مختلفة هنا تماما")
        if other is not None:
            assert 0.0 <= similarity(own, other) <= 1.0


def test_an_embedded_article_is_emitted_with_the_first_page_only():
    pipeline = Pipeline()
    first = pipeline.process(orjson.dumps(seed_raw(0)))
    other_host = {**seed_raw(0), "url": "https://elsewhere.example/1",
                  "body": "خبر آخر مختلف تماما عن الاقتصاد المحلي وأسعار السلع في الأسواق الشعبية هذا الأسبوع.\n\n"
                          + seed_raw(0)["body"][seed_raw(0)["body"].index("إقرأ أيضاً"):]}
    second = pipeline.process(orjson.dumps(other_host))
    assert [a["embedded_in"] for a in first] == [None, first[0]["id"]]
    assert len(second) == 1 and second[0]["embedded"] == first[0]["embedded"]


def test_a_long_running_index_forgets_old_and_excess_sketches_at_each_clean_up():
    from streams.text.dedupe import Forgetting

    index = SketchIndex()
    day = 86400.0
    for n in range(6):  # two stale originals, four recent ones
        body = " ".join(f"كلمة{n}_{i}" for i in range(40))
        check_and_remember(index, f"a{n}", body, now=(0.0 if n < 2 else 10 * day + n))
    forgetting = Forgetting(index, capacity=3, memory_seconds=3 * day, every=5)
    assert [forgetting.tick(10 * day + 10) for _ in range(4)] == [0, 0, 0, 0]  # not due yet
    assert "a0" in index and len(index.sketches) == 6
    assert forgetting.tick(10 * day + 10) == 3  # the two stale ones, then the oldest beyond 3
    assert sorted(key for key in ("a0", "a1", "a2", "a3", "a4", "a5") if key in index) == ["a3", "a4", "a5"]
