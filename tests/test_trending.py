"""Window counting, closing and scoring, checked against a brute-force recount."""

from __future__ import annotations

import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.contracts import validation_errors
from streams.trending.query import find_spec, timeline, top_trending
from streams.trending.score import trending_score
from streams.trending.windows import (
    WindowIndex,
    WindowSpec,
    advance_windows,
    brute_force_counts,
    count_mention,
    window_entries,
    window_key,
)
from streams.trending.write_back import WriteBack

SPECS = (WindowSpec(300), WindowSpec(3600), WindowSpec(3600, 300))
GRACE = 600


def mention(entity: str, article: str, ts: float, count: int = 1, kind: str = "PER") -> dict:
    return {"entity_id": entity, "name": entity, "type": kind, "article_id": article,
            "source": "src-" + article[-1], "mentions": count, "event_ts": ts}


def run_stream(mentions, specs=SPECS, grace=GRACE, store=None):
    """Feed mentions in order as the aggregate agent does with one input: the watermark
    follows the largest event time less grace; windows advance after every mention."""
    store = {} if store is None else store
    index = WindowIndex()
    index.ensure(store, 0)
    finals, late = [], []
    high = watermark = None
    for m in mentions:
        result = count_mention(store, m, specs, watermark, 0, index)
        late.extend(result.late)
        high = m["event_ts"] if high is None else max(high, m["event_ts"])
        new = high - grace if watermark is None else max(watermark, high - grace)
        if result.revised or new != watermark:
            finals += advance_windows(store, specs, partition=0, previous=watermark, watermark=new,
                                      index=index, revised=result.revised)
            watermark = new
    return store, finals, late


def latest_revisions(finals) -> dict[str, dict]:
    """What a consumer of trending.entities ends with: the highest revision of each window."""
    latest = {}
    for final in finals:
        key = window_key_of(final)
        if key not in latest or final["revision"] > latest[key]["revision"]:
            latest[key] = final
    return latest


def window_key_of(final) -> str:
    return f"{final['window']}|{final['start_ts']}|{final['entity_id']}"


def test_window_starts_cover_the_timestamp():
    assert WindowSpec(300).starts(1000) == [900]
    hopping = WindowSpec(3600, 300).starts(4000)
    assert len(hopping) == 12 and all(s <= 4000 < s + 3600 for s in hopping)
    assert WindowSpec(3600, 300).name == "1h/5m"


def test_same_article_twice_counts_once():
    store = {}
    first = count_mention(store, mention("per:a", "a1", 100, 3), SPECS, None)
    again = count_mention(store, mention("per:a", "a1", 100, 3), SPECS, None)
    assert first.counted and not again.counted and again.repeated
    assert {e["window"]: e["mentions"] for e in window_entries(store, SPECS[0])} == {"5m": 3}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["per:a", "loc:b", "org:c"]), st.integers(0, 20000), st.integers(1, 5)),
             min_size=1, max_size=60),
    st.randoms(use_true_random=False),
)
def test_closed_windows_equal_brute_force_under_reordering(events, rnd):
    """Any arrival order whose disorder stays within the grace period gives the same windows."""
    mentions = [mention(e, f"art{i}", ts, n) for i, (e, ts, n) in enumerate(events)]
    ordered = sorted(mentions, key=lambda m: m["event_ts"])
    # Shuffle only among mentions less than grace/2 apart, so nothing is late.
    shuffled = sorted(ordered, key=lambda m: m["event_ts"] + rnd.uniform(0, GRACE / 2))
    flush = mention("per:z", "flush", 10**6)
    store, finals, late = run_stream(shuffled + [flush])
    assert late == []
    assert all(f["revision"] == 0 for f in finals), "nothing was late, so nothing is revised"
    expected = brute_force_counts(ordered, SPECS)
    closed = latest_revisions(finals)
    assert set(closed) == set(expected)
    for key, final in closed.items():
        assert final["mentions"] == expected[key]["mentions"]
        assert final["articles"] == expected[key]["articles"]
        assert validation_errors({**final, "entity_id": final["entity_id"]}) == []


class WriteCountingStore(dict):
    """A table stand-in that counts the writes (each one a changelog record in the worker)."""

    def __init__(self):
        super().__init__()
        self.writes = 0

    def __setitem__(self, key, value):
        self.writes += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.writes += 1
        super().__delitem__(key)


def run_stream_in_batches(mentions, size, specs=SPECS, grace=GRACE):
    """`run_stream` as the aggregate agent does it: each batch counted through a write-back
    overlay with the watermark it started with, then windows advanced and the overlay flushed."""
    store, finals, late = WriteCountingStore(), [], []
    index = WindowIndex()
    index.ensure(store, 0)
    high = watermark = None
    for first in range(0, len(mentions), size):
        counts, revised = WriteBack(store), set()
        for m in mentions[first:first + size]:
            result = count_mention(counts, m, specs, watermark, 0, index)
            late.extend(result.late)
            revised.update(result.revised)
            high = m["event_ts"] if high is None else max(high, m["event_ts"])
        new = high - grace if watermark is None else max(watermark, high - grace)
        if revised or new != watermark:
            finals += advance_windows(counts, specs, partition=0, previous=watermark, watermark=new,
                                      index=index, revised=revised)
            watermark = new
        counts.flush()
    return store, finals, late


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["per:a", "loc:b", "org:c"]), st.integers(0, 20000), st.integers(1, 5)),
             min_size=1, max_size=80),
    st.integers(1, 30),
    st.randoms(use_true_random=False),
)
def test_batched_counting_gives_the_same_windows_with_fewer_writes(events, size, rnd):
    """However messages are batched, within the grace period the windows are those of one-by-one counting."""
    mentions = [mention(e, f"art{i}", ts, n) for i, (e, ts, n) in enumerate(events)]
    # Some redelivered soon after (while their panes are kept): the overlay must see its own pending writes.
    mentions += [dict(m) for m in rnd.sample(mentions, len(mentions) // 4)]
    mentions.sort(key=lambda m: m["event_ts"] + rnd.uniform(0, GRACE / 2))
    mentions.append(mention("per:z", "flush", 10**6))
    one_by_one = WriteCountingStore()
    store, finals, late = run_stream(mentions, store=one_by_one)
    batched, batched_finals, batched_late = run_stream_in_batches(mentions, size)
    assert late == [] and batched_late == []
    assert latest_revisions(batched_finals) == latest_revisions(finals)
    assert dict(batched) == dict(store)
    assert batched.writes <= one_by_one.writes


def test_a_busy_entity_is_written_once_per_batch():
    mentions = [mention("per:a", f"a{i}", 1000 + i) for i in range(100)]
    one_by_one = WriteCountingStore()
    run_stream(mentions, store=one_by_one)
    batched, _, _ = run_stream_in_batches(mentions, 50)
    assert one_by_one.writes == 100 and batched.writes == 2


def test_write_back_reads_its_own_changes_and_deletions():
    store = {"kept": 1, "gone": 2}
    overlay = WriteBack(store)
    overlay["new"] = 3
    del overlay["gone"]
    overlay["kept"] = 4
    assert overlay.get("gone") is None and "gone" not in overlay and overlay["kept"] == 4
    assert sorted(overlay) == ["kept", "new"] and len(overlay) == 2
    assert store == {"kept": 1, "gone": 2}, "nothing reaches the table before the flush"
    assert overlay.flush() == 3
    assert store == {"kept": 4, "new": 3}


STRICT = tuple(WindowSpec(spec.size, spec.step, lateness=0) for spec in SPECS)


def test_late_mention_past_its_lateness_is_reported_not_counted():
    store, finals, late = run_stream([
        mention("per:a", "a1", 1000), mention("per:a", "a2", 5000), mention("per:a", "late", 1100),
    ], specs=STRICT)
    assert any(key.startswith("5m|900|") for key in late)
    assert store["5m|900|per:a"]["mentions"] == 1
    assert [f["revision"] for f in finals if f["window"] == "5m" and f["start_ts"] == 900] == [0]


def test_late_mention_within_its_lateness_publishes_a_revision():
    """The 5-minute window closed with one mention; a late article within 10 minutes corrects it."""
    specs = (WindowSpec(300, lateness=600), WindowSpec(3600, lateness=0))
    store, finals, late = run_stream([
        mention("per:a", "a1", 1000), mention("per:a", "a2", 2000),  # watermark 1400: 5m@900 closes
        mention("per:a", "late", 1100),
        mention("per:a", "again", 1150, 2), mention("per:a", "late", 1100),  # a repeat changes nothing
    ], specs=specs)
    assert late == []
    five = [(f["revision"], f["mentions"], f["articles"]) for f in finals if f["window"] == "5m" and f["start_ts"] == 900]
    assert five == [(0, 1, 1), (1, 2, 2), (2, 4, 3)]
    assert store["5m|900|per:a"]["revision"] == 2
    assert all(validation_errors(f) == [] for f in finals)
    # Past the lateness the same window takes nothing more.
    _, more, late = run_stream([
        mention("per:a", "a1", 1000), mention("per:a", "a2", 2500), mention("per:a", "too-late", 1100),
    ], specs=specs)
    assert "5m|900|per:a" in late and [f["revision"] for f in more if f["start_ts"] == 900 and f["window"] == "5m"] == [0]


def test_mention_late_for_a_short_window_still_counts_in_the_longer_open_one():
    """The 5-minute window has closed and published; the hour is still open and takes it."""
    store, finals, late = run_stream([
        mention("per:a", "a1", 1000), mention("per:a", "a2", 2000), mention("per:a", "late", 1100),
    ], specs=STRICT)
    assert "5m|900|per:a" in late and "1h|0|per:a" not in late
    closed_5m = [f for f in finals if f["window"] == "5m" and f["start_ts"] == 900]
    assert [f["mentions"] for f in closed_5m] == [1]
    by_window = {e["window"]: e for spec in STRICT for e in window_entries(store, spec) if e["start"] in (0, 900)}
    assert by_window["5m"]["mentions"] == 1, "a closed window's published count changed"
    assert by_window["1h"]["mentions"] == 3 and by_window["1h"]["articles"] == 3
    _, more, _ = run_stream([
        mention("per:a", "a1", 1000), mention("per:a", "a2", 2000), mention("per:a", "late", 1100),
        mention("per:z", "flush", 10**6),
    ], specs=STRICT)
    assert [f["mentions"] for f in more if f["window"] == "1h" and f["entity_id"] == "per:a"] == [3]


def test_one_table_write_per_mention_whatever_the_windows():
    """Hopping windows share panes: 5m, 1h, 1d and 1h/5m cost one write, not fifteen."""

    class CountingStore(dict):
        writes = 0

        def __setitem__(self, key, value):
            CountingStore.writes += 1
            super().__setitem__(key, value)

    specs = (WindowSpec(300), WindowSpec(3600), WindowSpec(86400), WindowSpec(3600, 300))
    store = CountingStore()
    for i in range(50):
        result = count_mention(store, mention("per:a", f"a{i}", 1000 + i), specs, None)
        assert len(result.counted) == 15
    assert CountingStore.writes == 50


def test_memory_is_bounded_by_the_open_windows_and_their_lateness():
    """After two simulated days, panes exist only under windows still taking late mentions."""
    specs = (WindowSpec(300), WindowSpec(3600), WindowSpec(86400), WindowSpec(3600, 300))
    day = 86400
    stream = [mention(f"per:{i % 7}", f"a{i}", i * 60) for i in range(2 * day // 60)]
    store, finals, _ = run_stream(stream, specs, grace=GRACE)
    watermark = stream[-1]["event_ts"] - GRACE
    panes = [e for e in store.values() if e["window"] == "pane"]
    lateness = max(spec.lateness for spec in specs)
    assert panes and all(e["start"] + day + lateness > watermark for e in panes)
    assert len(panes) <= 7 * ((day + lateness) // 300 + GRACE // 300 + 1)
    assert all(isinstance(e["articles"], int) for e in store.values() if e["window"] != "pane")
    assert all(len(e["articles"]) <= 5 for e in panes)
    one_day = [f for f in finals if f["window"] == "1d"]
    assert sum(f["articles"] for f in one_day) == day // 60


def test_closed_windows_are_kept_for_their_retention_and_scores_do_not_change():
    """Each window size has its own retention; dropping old windows changes no published score."""
    day = 86400
    kept = (WindowSpec(300, keep=day), WindowSpec(3600, keep=2 * day), WindowSpec(86400, keep=30 * day))
    forever = tuple(WindowSpec(spec.size, keep=10**9) for spec in kept)
    # four days, a mention every 4 minutes: every 5m window gets one; counts vary over the days
    stream = [mention(f"per:{i % 7}", f"a{i}", i * 240, 1 + (i // 350) % 5) for i in range(4 * day // 240)]
    kept_all, finals_all, _ = run_stream(stream, forever)
    store, finals, _ = run_stream(stream, kept)
    assert finals == finals_all
    watermark = stream[-1]["event_ts"] - GRACE
    closed = [e for e in store.values() if e["window"] != "pane"]
    pane_life = day + max(spec.lateness for spec in kept)
    for spec in kept:
        mine = [e for e in closed if e["window"] == spec.name]
        assert all(e["start"] + spec.size + max(spec.keep, pane_life) > watermark for e in mine), spec.name
    per_window = {spec.name: sum(1 for e in closed if e["window"] == spec.name) for spec in kept}
    assert per_window["5m"] <= 7 * ((day + pane_life) // 300 + 1)
    assert per_window["1d"] == sum(1 for e in kept_all.values() if e["window"] == "1d")
    assert len(store) < len(kept_all)


def test_windows_close_without_scanning_what_is_kept():
    """Closing reads the index, not the table: the table is read once to index it, never per close."""

    class CountingReads(dict):
        reads = 0

        def items(self):
            CountingReads.reads += 1
            return super().items()

        def values(self):
            CountingReads.reads += 1
            return super().values()

    store = CountingReads()
    # a week of event time, a mention every 5 minutes: every window of every size closes, 2,000+ closes in all
    run_stream([mention(f"per:{i % 50}", f"a{i}", i * 300) for i in range(2000)], store=store)
    assert CountingReads.reads == 1


def test_each_window_closes_once():
    _, finals, _ = run_stream([mention("per:a", f"a{i}", i * 400) for i in range(30)])
    keys = [(f["window"], f["start_ts"], f["entity_id"]) for f in finals]
    assert len(keys) == len(set(keys))


def test_burst_outranks_steady_entity():
    store = {}
    rng = random.Random(7)
    article = 0
    for window in range(8):
        base = window * 300
        for _ in range(20):  # always mentioned
            article += 1
            count_mention(store, mention("per:steady", f"s{article}", base + rng.uniform(0, 299)), SPECS[:1], None)
        if window == 7:
            for _ in range(12):  # sudden burst
                article += 1
                count_mention(store, mention("per:burst", f"b{article}", base + rng.uniform(0, 299)), SPECS[:1], None)
    result = top_trending(store, SPECS[0], top=5)
    assert result["start"] == 7 * 300
    assert [item["id"] for item in result["items"]][:2] == ["per:burst", "per:steady"]
    assert result["items"][0]["mentions"] < result["items"][1]["mentions"]


def test_score_formula():
    assert trending_score(40, [40] * 6) == 0
    assert trending_score(10, [0] * 6) == 10
    assert trending_score(0, []) == 0


def test_queries():
    store = {}
    count_mention(store, mention("per:a", "a1", 100), SPECS, None)
    count_mention(store, mention("loc:b", "a1", 100, kind="LOC"), SPECS, None)
    assert [i["id"] for i in top_trending(store, SPECS[0], entity_type="LOC")["items"]] == ["loc:b"]
    assert top_trending(store, SPECS[0], at=10**6)["items"] == []
    line = timeline(store, "per:a", SPECS)
    assert set(line["windows"]) == {"5m", "1h", "1h/5m"}
    assert timeline(store, "per:nobody", SPECS) is None
    assert find_spec(SPECS, "1h").size == 3600
    try:
        find_spec(SPECS, "2h")
    except ValueError as exc:
        assert "known windows" in str(exc)
    else:
        raise AssertionError("unknown window accepted")


def test_hopping_window_baseline_does_not_overlap_the_window():
    hopping = WindowSpec(3600, 300)
    store = {}
    for i in range(10):  # ten mentions in one burst, nothing before
        count_mention(store, mention("per:new", f"n{i}", 7200 + 60 + i), (hopping,), None)
    result = top_trending(store, hopping, top=1)
    assert result["items"][0]["baseline"] == 0 and result["items"][0]["score"] == 10


def test_mention_batches_group_mentions_by_owning_partition():
    from aiokafka.partitioner import DefaultPartitioner

    from streams.trending import mention_batch
    from streams.trending.mention_batch import entity_partition, mention_batches, read_mention_batch

    names = ("putin", "kim", "choe", "lavrov", "xi", "biden")
    mentions = [mention(f"per:{name}", f"a{i}", 100 + i) for i in range(3) for name in names]
    batches = mention_batches(mentions, 4)
    assert sorted(orjson.dumps(m) for _, b in batches for m in b["mentions"]) == sorted(orjson.dumps(m) for m in mentions)
    assert len(batches) <= 4 and [p for p, _ in batches] == sorted({p for p, _ in batches})
    for partition, batch in batches:
        assert {entity_partition(m["entity_id"], 4) for m in batch["mentions"]} == {partition}
        assert read_mention_batch(batch) == batch["mentions"]
        times = [m["event_ts"] for m in batch["mentions"]]
        assert times == sorted(times), "arrival order is kept within a partition"
    # Kafka's default partitioner puts the entity id as a key on the same partition.
    assert all(DefaultPartitioner()(m["entity_id"].encode(), [0, 1, 2, 3], [0, 1, 2, 3]) ==
               entity_partition(m["entity_id"], 4) for m in mentions)
    # A huge batch is split so that no message nears the size limit.
    many = [mention("per:putin", f"b{i}", 100) for i in range(mention_batch.MAX_BATCH_MENTIONS * 2 + 1)]
    assert [len(b["mentions"]) for _, b in mention_batches(many, 1)] == [1000, 1000, 1]
    for bad, reason in (({}, "non-empty"), ({"mentions": [1]}, "int"),
                        ({"mentions": [{"entity_id": "per:a"}]}, "lacks article_id, mentions, event_ts"),
                        ({"mentions": [{**mentions[0], "event_ts": "soon"}]}, "must be numbers")):
        try:
            read_mention_batch(bad)
        except ValueError as exc:
            assert reason in str(exc)
        else:
            raise AssertionError(f"accepted {bad}")


def test_a_question_about_dropped_windows_says_so():
    day = 86400
    spec = WindowSpec(day, keep=30 * day)
    store = {}
    count_mention(store, mention("per:a", "a1", 40 * day + 100), (spec,), None)
    watermark = 41 * day
    answer = top_trending(store, spec, at=5 * day, watermark=watermark)
    assert answer["items"] == [] and answer["retained_from"] == "1970-01-12T00:00:00Z"
    assert "kept for 30d" in answer["reason"]
    assert "reason" in top_trending(store, spec, at=10 * day + 5, watermark=watermark)
    kept = top_trending(store, spec, at=11 * day, watermark=watermark)
    assert "reason" not in kept and kept["start"] == 11 * day
    assert [i["id"] for i in top_trending(store, spec, at=40 * day + 5, watermark=watermark)["items"]] == ["per:a"]
    assert top_trending(store, spec, at=5 * day)["retained_from"] is None, "nothing dropped before any watermark"


def test_times_are_taken_as_iso_8601_or_unix_seconds():
    from streams.clock import parse_time

    assert parse_time("2015-08-07") == parse_time("2015-08-07T00:00:00Z") == 1438905600
    assert parse_time("1438905600.5") == 1438905600.5
    for bad in ("nan", "inf", "-inf", "next week", ""):
        try:
            parse_time(bad)
        except ValueError as exc:
            assert "not a time" in str(exc)
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_a_recovered_table_is_indexed_before_its_windows_close():
    """Entries restored from the changelog bypass the index; closing must still find their panes."""
    store, finals, _ = run_stream([mention("per:a", f"a{i}", 100 + i) for i in range(5)])
    assert finals == []
    recovered = dict(store)
    index = WindowIndex()
    index.rebuild(recovered)
    index.ensure(recovered, 0)
    closed = advance_windows(recovered, SPECS, partition=0, previous=None, watermark=10**5, index=index)
    assert {(f["window"], f["mentions"]) for f in closed} >= {("5m", 5), ("1h", 5)}


def test_a_story_in_many_articles_outranks_one_article_repeating_a_name():
    """Scored on mentions, a profile naming its subject 25 times beat a story carried by 12 articles."""
    from streams.trending.score import rank_window

    day = 86400
    entries = [
        {"entity_id": "per:profiled", "name": "profiled", "type": "PER", "start": 10 * day,
         "mentions": 25, "articles": 1, "sources": 1},
        {"entity_id": "loc:story", "name": "story", "type": "LOC", "start": 10 * day,
         "mentions": 14, "articles": 12, "sources": 4},
    ]
    history = {"loc:story": {10 * day - i * day: 1 for i in range(1, 7)}}
    ranked = rank_window(entries, history, size=day, top=2)
    assert [item["id"] for item in ranked] == ["loc:story", "per:profiled"]
    assert ranked[0]["baseline"] == 1.0 and ranked[0]["score"] == round((12 - 1) / 2 ** 0.5, 3)
    assert ranked[1]["mentions"] == 25, "mentions are still reported"
