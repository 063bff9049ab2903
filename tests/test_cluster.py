"""Several workers and restarts: answers and closed windows stay the same."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest

from streams import topics
from streams.tools.bench import seed_like_articles
from streams.pipeline import Pipeline, event_time, mentions_of
from streams.stories import StoryBook
from streams.trending.windows import WindowSpec, brute_force_counts

from .conftest import consume, produce, values

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]
WINDOWS = (WindowSpec(300), WindowSpec(3600), WindowSpec(86400), WindowSpec(3600, 300))


def articles(count: int, prefix: str, start: datetime, spacing: timedelta) -> list[bytes]:
    out = []
    for i, payload in enumerate(seed_like_articles(count, prefix=prefix)):
        raw = orjson.loads(payload)
        raw["published_at"] = (start + i * spacing).isoformat()
        out.append(orjson.dumps(raw))
    return out


def unique_by_id(enriched: list[dict]) -> list[dict]:
    """First occurrence of each article id (a restart may emit one again)."""
    first: dict[str, dict] = {}
    for article in enriched:
        first.setdefault(article["id"], article)
    return list(first.values())


async def wait_for_trending(url: str, expected: dict, window: str = "1d") -> dict:
    answer = {}
    for _ in range(120):
        answer = httpx.get(f"{url}/trending", params={"window": window, "top": 200}, timeout=10).json()
        if {item["id"]: item["mentions"] for item in answer["items"]} == expected:
            return answer
        await asyncio.sleep(0.5)
    return answer


async def test_two_workers_give_the_same_answer(broker, start_worker):
    first = start_worker("pair")
    second = start_worker("pair")
    payloads = articles(20, "pair", datetime.now(timezone.utc).replace(microsecond=0), timedelta(seconds=1))
    await produce(broker, topics.RAW, payloads)
    enriched = unique_by_id(values(await consume(
        broker, topics.ENRICHED, until=lambda m: len({v.key for v in m}) >= len(payloads), timeout=120,
    )))
    assert len(enriched) == len(payloads)
    recount = brute_force_counts([m for a in enriched for m in mentions_of(a)], WINDOWS)
    start = max(int(key.split("|")[1]) for key in recount if key.startswith("1d|"))
    expected = {key.split("|", 2)[2]: v["mentions"] for key, v in recount.items() if key.startswith(f"1d|{start}|")}
    answer_first = await wait_for_trending(first.url, expected)
    answer_second = await wait_for_trending(second.url, expected)
    assert {i["id"]: i["mentions"] for i in answer_first["items"]} == expected, first.log()
    assert answer_first["items"] == answer_second["items"]
    assert answer_first["partial"] == [] and answer_second["partial"] == []
    entity = answer_first["items"][0]["id"]
    one = httpx.get(f"{first.url}/entities/{entity}", timeout=10).json()
    other = httpx.get(f"{second.url}/entities/{entity}", timeout=10).json()
    assert one == other


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_restarted_worker_closes_the_same_windows(broker, start_worker, sig, figures):
    env = {"NEWSSTREAMS_PARTITIONS": 1, "NEWSSTREAMS_GRACE": "1m"}
    base = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    payloads = articles(60, f"restart{sig}", base, timedelta(seconds=97))
    worker = start_worker("restart", **env)
    await produce(broker, topics.RAW, payloads[:30])
    await consume(broker, topics.ENRICHED, until=lambda m: len(m) >= 20, timeout=120)
    worker.stop(sig)
    await produce(broker, topics.RAW, payloads[30:])
    restarted = start_worker("restart", **env)
    flush = orjson.loads(payloads[0])
    flush.update(id="flush", url="https://example.org/flush", published_at=(base + timedelta(days=3)).isoformat(),
                 body="أعلنت روسيا اليوم عن محادثات جديدة مع أوكرانيا في موسكو بحضور وفود من عدة دول.")
    await produce(broker, topics.RAW, [orjson.dumps(flush)])
    enriched = values(await consume(
        broker, topics.ENRICHED, until=lambda m: any(v.key == b"flush" for v in m), timeout=180,
    ))
    articles_seen = unique_by_id([a for a in enriched if a["id"] != "flush"])
    recount = brute_force_counts([m for a in articles_seen for m in mentions_of(a)], WINDOWS)
    def every_window(messages) -> bool:  # a window published again after the restart counts once
        keys = set()
        for message in messages:
            final = orjson.loads(message.value)
            keys.add(f"{final['window']}|{final['start_ts']}|{final['entity_id']}")
        return set(recount) <= keys

    closed = values(await consume(broker, topics.TRENDING, until=every_window, timeout=120))
    finals: dict[str, dict] = {}
    for final in closed:
        key = f"{final['window']}|{final['start_ts']}|{final['entity_id']}"
        if key in finals:  # a window published again after the restart must say the same
            assert (finals[key]["mentions"], finals[key]["articles"]) == (final["mentions"], final["articles"])
        finals[key] = final
    assert set(finals) == set(recount), restarted.log()
    for key, final in finals.items():
        assert final["mentions"] == recount[key]["mentions"], key
        assert final["articles"] == recount[key]["articles"], key
    figures(f"restart after {sig.name}: {len(finals)} windows closed equal to the recount, "
            f"{len(closed) - len(finals)} published twice")

    # Every article keeps the story an uninterrupted run gives it: stories have one owner, which places
    # the articles in their partition's order, and an article read again after the restart keeps its story.
    book = StoryBook({})
    expected_story = {a["id"]: book.assign(a, event_time(a)).story_id for a in unique_by_id(enriched)}
    routed: dict[str, str] = {}
    for category in sorted({c["id"] for a in enriched for c in a["categories"]}):
        wanted = {a["id"] for a in enriched if category in {c["id"] for c in a["categories"]}}
        for article in values(await consume(broker, topics.category_topic(category), timeout=60,
                                            until=lambda m, wanted=wanted: {v.key.decode() for v in m} >= wanted)):
            assert routed.setdefault(article["id"], article["story_id"]) == article["story_id"], article["id"]
    assert routed == expected_story
    assert len(set(expected_story.values())) < len(expected_story), "some articles share a story"


async def test_article_later_than_grace_is_dead_lettered_and_counted_as_late(broker, start_worker):
    worker = start_worker(NEWSSTREAMS_PARTITIONS=1, NEWSSTREAMS_GRACE="1m")
    base = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    on_time, later, late = articles(3, "late", base, timedelta(0))
    later = {**orjson.loads(later), "published_at": (base + timedelta(hours=2)).isoformat(),
             "body": "أعلنت روسيا اليوم عن محادثات جديدة مع أوكرانيا في موسكو بحضور وفود من عدة دول."}
    late = {**orjson.loads(late), "body": "قالت روسيا إن الاجتماع المقبل مع أوكرانيا سيعقد في موسكو خلال أيام قليلة."}
    await produce(broker, topics.RAW, [on_time])
    await asyncio.sleep(1.0)  # keep the arrival order
    await produce(broker, topics.RAW, [orjson.dumps(later)])
    # Late means after stream time has passed: once the on-time article's windows
    # have closed. (Mentions that come in one batch with a later article are not
    # late: windows close after the whole batch is counted.)
    await consume(broker, topics.TRENDING, until=lambda m: len(m) >= 1, timeout=90)
    await produce(broker, topics.RAW, [orjson.dumps(late)])
    first = values(await consume(broker, topics.DEADLETTER, until=lambda m: len(m) >= 1, timeout=90))
    assert first and first[0]["stage"] == "aggregate", worker.log()
    reason = first[0]["reason"]
    # Two hours on, the 5-minute windows are past their 5-minute lateness; the hour is
    # within its hour of lateness and takes the mentions (published again), the day is open.
    assert reason.startswith("late: ") and "5m|" in reason and "1d|" in reason.split("(counted in ")[1]
    revised = values(await consume(broker, topics.TRENDING, until=lambda m: any(
        orjson.loads(v.value)["revision"] > 0 for v in m), timeout=60))
    hour = [r for r in revised if r["window"] == "1h" and r["revision"] == 1]
    assert hour and all(r["articles"] == 2 for r in hour), revised
    # One partition: the late article's mentions came as one batch, so one dead letter
    # names every late mention, and the late metric counts the same ones.
    await asyncio.sleep(3)
    metrics = httpx.get(f"{worker.url}/metrics", timeout=10).text
    late_count = next(line for line in metrics.splitlines() if line.startswith("newsstreams_mentions_late_total "))
    late = int(float(late_count.split()[1]))
    dead = values(await consume(broker, topics.DEADLETTER, until=lambda m: False, timeout=5))
    assert len(dead) == 1 and dead[0]["stage"] == "aggregate", worker.log()
    assert late >= 2 and len(reason.split("; ")) == late, reason


async def test_records_waiting_before_the_first_commit_are_all_read(broker, start_worker):
    """A stage whose group never committed reads its input from the start, even after table recovery.

    Recovery fetches stream partitions ahead; the seek back to committed offsets must
    not leave a partition with no commit at the end those fetches reached.
    """
    pipeline = Pipeline()
    base = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    waiting = [a for payload in articles(40, "waiting", base, timedelta(seconds=97)) for a in pipeline.process(payload)]
    expected = {a["id"] for a in waiting if mentions_of(a)}
    await produce(broker, topics.ENRICHED, [orjson.dumps(a) for a in waiting], keys=[a["id"].encode() for a in waiting])
    # Tombstones for keys the table never had: table recovery takes a while and changes nothing.
    await produce(broker, "waiting-near-duplicates-changelog", [None] * 3000,
                  keys=[orjson.dumps(f"absent-{i}") for i in range(3000)])
    start_worker("waiting")

    def counted(messages) -> set[str]:
        return {m["article_id"] for message in messages for m in orjson.loads(message.value).get("mentions", ())}

    mentions = await consume(broker, topics.MENTIONS, until=lambda m: counted(m) >= expected, timeout=60)
    assert len(expected) > 30
    assert sorted(expected - counted(mentions)) == []


def _parsed_by(worker) -> int:
    text = httpx.get(f"{worker.url}/metrics", timeout=10).text
    line = next((line for line in text.splitlines() if line.startswith('newsstreams_articles_total{stage="parse"}')), None)
    return int(float(line.split()[1])) if line else 0


def _key_for_partition(partition: int, partitions: int, prefix: str) -> bytes:
    """A message key that Kafka's default partitioner sends to `partition`."""
    from streams.trending.mention_batch import entity_partition

    return next(f"{prefix}-{i}".encode() for i in range(1000) if entity_partition(f"{prefix}-{i}", partitions) == partition)


async def test_a_copy_finds_an_original_another_worker_remembered(broker, start_worker):
    """The near-duplicate lookup of each worker follows the records the other worker writes."""
    from .test_dedupe import seed_raw, syndicated_copy

    env = {"NEWSSTREAMS_PARTITIONS": 2}
    first, second = start_worker("copies", **env), start_worker("copies", **env)
    keys = [_key_for_partition(p, 2, "copies") for p in (0, 1)]
    # Short probes (never near-duplicates) until each worker parses one of the two partitions.
    for attempt in range(60):
        await produce(broker, topics.RAW, [orjson.dumps({
            "url": f"https://example.org/probe-{attempt}-{p}", "source": "probe", "title": "probe",
            "body": f"خبر قصير رقم {attempt}", "published_at": "2026-11-20T08:00:00Z"}) for p in (0, 1)], keys=keys)
        await asyncio.sleep(1.0)
        if _parsed_by(first) and _parsed_by(second) and _parsed_by(first) + _parsed_by(second) == 2 * (attempt + 1):
            break
    before = (_parsed_by(first), _parsed_by(second))
    original = seed_raw(0)
    await produce(broker, topics.RAW, [orjson.dumps(original)], keys=[keys[0]])
    await consume(broker, topics.ENRICHED, until=lambda m: any(
        orjson.loads(v.value)["url"] == original["url"] and orjson.loads(v.value)["embedded_in"] is None for v in m),
        timeout=90)
    middle = (_parsed_by(first), _parsed_by(second))
    copy = syndicated_copy(original)
    await produce(broker, topics.RAW, [orjson.dumps(copy)], keys=[keys[1]])
    enriched = values(await consume(broker, topics.ENRICHED, until=lambda m: any(
        orjson.loads(v.value)["url"] == copy["url"] for v in m), timeout=90))
    after = (_parsed_by(first), _parsed_by(second))
    parsed_original = [i for i, (a, b) in enumerate(zip(before, middle)) if b > a]
    parsed_copy = [i for i, (a, b) in enumerate(zip(middle, after)) if b > a]
    assert len(parsed_original) == len(parsed_copy) == 1 and parsed_original != parsed_copy, \
        f"the two pages were not parsed by different workers: {before} {middle} {after}"
    lead = {a["url"]: a for a in enriched if a["embedded_in"] is None}
    assert lead[copy["url"]]["duplicate_of"] == lead[original["url"]]["id"], second.log()


async def test_a_busy_entity_pane_is_written_once_per_batch_not_once_per_article(broker, start_worker):
    """Counting a backlog writes each touched pane once per batch, so its changelog stays short."""
    worker = start_worker("busy", NEWSSTREAMS_PARTITIONS=1)
    moment = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    payloads = articles(40, "busy", moment, timedelta(0))  # one event time: one pane per entity
    await produce(broker, topics.RAW, payloads)
    enriched = unique_by_id(values(await consume(
        broker, topics.ENRICHED, until=lambda m: len({v.key for v in m}) >= 40, timeout=120)))
    counts: dict[str, int] = {}
    for mention in (m for a in enriched for m in mentions_of(a)):
        counts[mention["entity_id"]] = counts.get(mention["entity_id"], 0) + 1
    busiest, articles_with_it = max(counts.items(), key=lambda item: item[1])
    assert articles_with_it >= 20
    answer = {}
    for _ in range(60):
        answer = httpx.get(f"{worker.url}/entities/{busiest}", timeout=10).json()
        if answer.get("windows", {}).get("1d") and answer["windows"]["1d"][0]["articles"] == articles_with_it:
            break
        await asyncio.sleep(0.5)
    assert answer["windows"]["1d"][0]["articles"] == articles_with_it, worker.log()
    changelog = await consume(broker, "busy-window-counts-changelog", until=lambda m: False, timeout=3)
    writes = [m for m in changelog if m.key and orjson.loads(m.key) == f"pane|{int(moment.timestamp())}|{busiest}"]
    assert 1 <= len(writes) <= articles_with_it // 4, f"{len(writes)} writes for {articles_with_it} articles"


async def test_a_worker_refuses_topics_whose_partitions_its_tables_cannot_follow(broker, start_worker):
    """articles.enriched made with the broker's default partitions, a worker told to use 1: one clear line, exit 2
    (not a route stage stopped at its first table write)."""
    await produce(broker, topics.ENRICHED, [b"{}"])
    with pytest.raises(AssertionError, match="exited with 2") as refused:
        start_worker("mismatch", NEWSSTREAMS_PARTITIONS=1)
    assert ("newsstreams worker: articles.enriched has 4 partitions, the worker's tables need 1: "
            "set NEWSSTREAMS_PARTITIONS" in str(refused.value)), str(refused.value)
