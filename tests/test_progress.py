"""Event-time progress: the state machines that decide when a window may close."""

from __future__ import annotations

import random
from collections import deque

from streams.trending.progress import (
    HEADER,
    ChannelMerge,
    Forwarder,
    Progress,
    SourceClock,
    StageProgress,
    decode,
    encode,
    header_progress,
)


def test_nothing_is_known_until_every_expected_channel_has_reported():
    merge = ChannelMerge(expected=3)
    merge.observe({"raw/0": Progress(100.0), "raw/1": Progress(50.0)})
    assert merge.combined() == Progress()
    merge.observe({"raw/2": Progress(None)})
    assert merge.combined() == Progress(), "an active channel with no event time yet holds everything"
    merge.observe({"raw/2": Progress(70.0)})
    assert merge.combined() == Progress(50.0)


def test_the_slowest_active_channel_decides_and_watermarks_never_go_back():
    merge = ChannelMerge(expected=2)
    merge.observe({"raw/0": Progress(500.0), "raw/1": Progress(120.0)})
    assert merge.combined().watermark == 120.0
    merge.observe({"raw/1": Progress(90.0)})  # a restarted upstream reprocessing from its last commit
    assert merge.combined().watermark == 120.0
    merge.observe({"raw/1": Progress(300.0)})
    assert merge.combined().watermark == 300.0


def test_idle_channels_are_left_out_and_all_idle_means_everything_seen_is_safe():
    merge = ChannelMerge(expected=3)
    merge.observe({"raw/0": Progress(500.0), "raw/1": Progress(120.0), "raw/2": Progress(None, idle=True)})
    assert merge.combined() == Progress(120.0)
    merge.observe({"raw/1": Progress(130.0, idle=True)})
    assert merge.combined() == Progress(500.0)
    merge.observe({"raw/0": Progress(510.0, idle=True)})
    assert merge.combined() == Progress(510.0, idle=True)
    merge.observe({"raw/1": Progress(140.0)})  # data again: active from that record on
    assert merge.combined() == Progress(140.0)


def test_a_backlog_is_lag_and_never_idle():
    clock = SourceClock(idle_after=30)
    clock.saw(1000.0)
    for second in range(0, 600, 5):
        clock.lag(float(second), lag=250)
    assert clock.progress(600.0) == Progress(1000.0, idle=False)
    clock.lag(600.0, lag=0)
    assert not clock.progress(629.0).idle, "caught up, but not yet for idle_after"
    clock.lag(620.0, lag=0)
    assert clock.progress(630.0).idle
    clock.saw(1001.0)
    assert clock.progress(631.0) == Progress(1001.0, idle=False)
    clock.lag(640.0, lag=None)  # end offset unknown: not idle
    assert not clock.progress(700.0).idle


def test_headers_round_trip_and_bad_ones_say_nothing():
    reports = {"articles.raw/0": Progress(1.5), "articles.raw/1": Progress(None, idle=True)}
    assert decode(encode(reports)) == reports
    assert header_progress([(HEADER, encode(reports))]) == reports
    assert header_progress({HEADER: encode(reports)}) == reports
    for bad in (b"", b"not json", b"[1, 2]", b'{"raw/0": [true, 0], "raw/1": "x", "raw/2": [1]}'):
        assert decode(bad) == {}
    assert header_progress(None) == {} and header_progress([("other", b"1")]) == {}


def test_forwarder_sends_settled_changes_and_refreshes_the_rest():
    forwarder = Forwarder(refresh=10, settle=1)
    current = {"p/0": Progress(5.0), "p/1": Progress()}
    due = forwarder.due(current, now=0)
    assert due == {"p/0": Progress(5.0)}, "nothing known is not worth sending"
    forwarder.sent(due, 0)
    assert forwarder.due(current, now=5) == {}
    # During a backlog progress moves every tick: only the refresh sends it.
    for tick in range(6, 10):
        assert forwarder.due({"p/0": Progress(float(tick))}, now=tick) == {}
    assert forwarder.due({"p/0": Progress(10.0)}, now=10) == {"p/0": Progress(10.0)}
    forwarder.sent({"p/0": Progress(10.0)}, 10)
    # At the tail it stops moving: sent once it has settled.
    assert forwarder.due({"p/0": Progress(11.0)}, now=11) == {}
    assert forwarder.due({"p/0": Progress(11.0)}, now=12) == {"p/0": Progress(11.0)}


def test_a_caught_up_stage_owes_its_unsettled_progress_before_acknowledging():
    """The last record of a backlog: its progress must go out before the input is committed.

    The timer would broadcast it only once settled; a worker killed after committing the
    record and before that tick restarts with nothing left to read that says it, and the
    partitions the record sent nothing to would wait for the next article.
    """
    parse = StageProgress("articles.raw", upstream=None, idle_after=30)
    parse.saw(0, 100.0)
    assert parse.heartbeat(now=0) == {"articles.raw/0": Progress(100.0)}
    parse.sent({"articles.raw/0": Progress(100.0)}, 0)
    parse.saw(0, 250.0)
    assert parse.heartbeat(now=0.2) == {}, "not settled: the timer waits"
    assert parse.unsent(now=0.2) == {"articles.raw/0": Progress(250.0)}
    parse.sent(parse.unsent(now=0.2), 0.2)
    assert parse.unsent(now=0.3) == {}, "nothing is owed twice"
    parse.lag(0, 0, now=1.0)
    assert parse.unsent(now=40.0) == {"articles.raw/0": Progress(250.0, idle=True)}, "turning idle is news too"


def test_a_stage_forgets_partitions_it_no_longer_processes():
    stage = StageProgress("articles.parsed", upstream=1)
    stage.observe(0, {"articles.raw/0": Progress(10.0)})
    stage.observe(1, {"articles.raw/0": Progress(20.0)})
    assert set(stage.current(0)) == {"articles.parsed/0", "articles.parsed/1"}
    stage.keep_only([1])
    assert set(stage.current(0)) == {"articles.parsed/1"}


def _simulate(rng: random.Random, partitions: int, naive: bool) -> tuple[int, int]:
    """Raw partitions read at very different speeds, parsed, enriched and routed to entity partitions.

    Returns (mentions that reached the aggregate behind its watermark, mentions delivered).
    Each record is (event_ts, headers); queues keep per-partition order like Kafka.
    """
    grace = 60.0
    raw = [deque(sorted(rng.uniform(0, 86400) for _ in range(300))) for _ in range(partitions)]
    parsed = [deque() for _ in range(partitions)]
    enriched = [deque() for _ in range(partitions)]
    mentions = [deque() for _ in range(partitions)]
    parse = StageProgress("raw", upstream=None, idle_after=5)
    enrich = StageProgress("parsed", upstream=partitions)
    route = StageProgress("enriched", upstream=partitions)
    aggregate = [ChannelMerge(partitions) for _ in range(partitions)]
    high = [None] * partitions
    late = delivered = 0
    speed = [1 + 9 * (p == 0) for p in range(partitions)]  # partition 0 is read ten times faster
    now = 0.0

    def heartbeat(stage, outputs):
        due = stage.heartbeat(now)
        if due:
            for queue in outputs:
                queue.append((None, {HEADER: encode(due)}))
            stage.sent(due, now)

    while any(raw) or any(parsed) or any(enriched) or any(mentions):
        now += 1
        for p in range(partitions):
            for _ in range(speed[p]):
                if raw[p]:
                    ts = raw[p].popleft()
                    headers = {HEADER: encode(parse.known(now))}
                    parsed[rng.randrange(partitions)].append((ts, headers))
                    parse.saw(p, ts)
            parse.lag(p, len(raw[p]), now)
        for stage, source, target, fan_out in ((enrich, parsed, enriched, False), (route, enriched, mentions, True)):
            for p in range(partitions):
                if source[p] and rng.random() < 0.7:
                    ts, headers = source[p].popleft()
                    if ts is not None:
                        out = {HEADER: encode(stage.known(now))}
                        targets = rng.sample(range(partitions), 2) if fan_out else [p]
                        for q in targets:
                            target[q].append((ts, out))
                    stage.observe(p, header_progress(headers))
        for p in range(partitions):
            while mentions[p]:
                ts, headers = mentions[p].popleft()
                if ts is not None:
                    delivered += 1
                    mark = high[p] if naive else aggregate[p].combined().watermark
                    if mark is not None and ts < mark - grace:
                        late += 1
                    high[p] = ts if high[p] is None else max(high[p], ts)
                aggregate[p].observe(header_progress(headers))
        heartbeat(parse, parsed)
        heartbeat(enrich, enriched)
        heartbeat(route, mentions)
    return late, delivered


def test_progress_through_two_rekeyings_lets_nothing_arrive_late():
    """The bug this fixes: with the largest event time seen as the clock, a fast input makes the rest late."""
    rng = random.Random(3)
    late, delivered = _simulate(rng, partitions=4, naive=False)
    assert delivered == 4 * 300 * 2 and late == 0
    naive_late, _ = _simulate(random.Random(3), partitions=4, naive=True)
    assert naive_late > delivered // 4


def test_a_partition_watermark_trails_its_slowest_channel_by_the_grace_and_never_goes_back():
    from streams.trending.progress import PartitionWatermark

    clock = PartitionWatermark.from_entry(None, expected=2, grace=60)
    clock.observe({"articles.enriched/0": Progress(1000.0)})
    assert clock.advanced() is None, "one channel of two heard: nothing may close"
    clock.observe({"articles.enriched/1": Progress(700.0)})
    assert clock.advanced() == 640.0
    recovered = PartitionWatermark.from_entry(
        {"progress": clock.merge.to_dict(), "watermark": 900.0}, expected=2, grace=60)
    assert recovered.previous == 900.0 and recovered.advanced() == 900.0, "a recovered watermark is not undone"
    recovered.observe({"articles.enriched/1": Progress(2000.0)})
    assert recovered.advanced() == 940.0
