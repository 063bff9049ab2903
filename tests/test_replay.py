"""Replay of real news: a backlog read from four partitions at once counts every mention.

Two weeks of five Arabic outlets (the ANT corpus, see `replay_data`) are
produced to `articles.raw` in publication order before any worker starts, one
outlet's feed per partition, so the partitions hold very different shares of the
same two weeks. A worker reading them side by side moves through event time
four times faster on the smallest partition than on the largest: windows must
close on the slowest input's progress, not on the fastest, or most mentions of
the slower outlets arrive after their windows have closed and are dropped as
late (issue 16: 70 % of the mentions of such a replay).

Once every article is enriched and the inputs have been idle for a while, every
window that ends before the largest event time less the grace period must be
published on `trending.entities` with exactly the counts of a brute-force
recount of the run's own enriched output (its own near-duplicate decisions),
nothing may be late, and the windows still open must be served with the same
counts over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timezone

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams import topics
from streams.kafka_io import ensure_topics, is_progress_heartbeat
from streams.pipeline import mentions_of
from streams.trending.windows import WindowSpec, brute_force_counts, window_key

from .replay_data import ANT, DAYS, FIRST_DAY, PARTITION_OF_SOURCE, replay_selection

pytestmark = [pytest.mark.broker, pytest.mark.timeout(600)]

PARTITIONS = 4
WINDOWS = "1h,1d"
SPECS = (WindowSpec(3600), WindowSpec(86400))
GRACE = "10m"
"""The default: a replay sorted by time needs no more, whatever the number of inputs."""
GRACE_SECONDS = 600
IDLE_AFTER = "2s"

ENRICHED_TIMEOUT = 300.0
WINDOWS_TIMEOUT = 180.0
QUIET_SECONDS = 30.0
"""Once every article is enriched, a `trending.entities` silent this long means no window is left to close."""
HTTP_SAMPLE = 10
SHOWN = 8


@pytest.fixture(scope="module")
def replay() -> list[dict]:
    if not ANT.exists():
        pytest.skip(f"needs the ANT corpus at {ANT} (../shared/data/ant/ beside the repository, never committed)")
    return replay_selection()


def is_progress(message) -> bool:
    """A progress heartbeat (an empty record with only a progress header), not a record: skipped on every topic."""
    return is_progress_heartbeat(message)


class TopicReader:
    """Reads whole topics from the beginning, incrementally, keeping decoded records and skipping heartbeats."""

    def __init__(self, bootstrap: str, names: list[str]):
        self.bootstrap = bootstrap
        self.names = names
        self.records: dict[str, list[tuple[int, dict]]] = {name: [] for name in names}
        self.unreadable: list[tuple[str, int, int]] = []
        self.heartbeats = 0
        self.consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> "TopicReader":
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, request_timeout_ms=15000,
        )
        await asyncio.wait_for(self.consumer.start(), 15)
        deadline = time.monotonic() + 30
        while True:
            await self.consumer._client.force_metadata_update()
            found = {name: self.consumer.partitions_for_topic(name) for name in self.names}
            if all(found.values()):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"topics missing: {[name for name, parts in found.items() if not parts]}")
            await asyncio.sleep(0.3)
        assignment = [TopicPartition(name, p) for name in self.names for p in sorted(found[name])]
        self.consumer.assign(assignment)
        await self.consumer.seek_to_beginning(*assignment)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()

    async def poll(self, timeout: float = 0.5) -> int:
        """Read what has arrived; returns how many records (not heartbeats) were new."""
        batch = await self.consumer.getmany(timeout_ms=int(timeout * 1000), max_records=5000)
        new = 0
        for tp, messages in batch.items():
            for message in messages:
                if is_progress(message):
                    self.heartbeats += 1
                    continue
                try:
                    value = orjson.loads(message.value)
                except orjson.JSONDecodeError:
                    self.unreadable.append((tp.topic, tp.partition, message.offset))
                    continue
                self.records[tp.topic].append((tp.partition, value))
                new += 1
        return new


async def produce_backlog(bootstrap: str, articles: list[dict]) -> Counter:
    """Every article to its outlet's partition of `articles.raw`, in order, keyed by URL."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=15000, linger_ms=5)
    await asyncio.wait_for(producer.start(), 15)
    shares: Counter = Counter()
    try:
        for start in range(0, len(articles), 200):
            futures = []
            for article in articles[start:start + 200]:
                partition = PARTITION_OF_SOURCE[article["source"]]
                shares[partition] += 1
                futures.append(await producer.send(
                    topics.RAW, value=orjson.dumps(article), key=article["url"].encode(), partition=partition,
                ))
            await asyncio.wait_for(asyncio.gather(*futures), 60)
    finally:
        await producer.stop()
    return shares


def original_id(dead: dict) -> str | None:
    """The article id inside a dead-lettered message, when it is readable JSON with one."""
    try:
        original = orjson.loads(base64.b64decode(dead.get("original_b64") or ""))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return original.get("id") if isinstance(original, dict) else None


def metric_lines(workers) -> list[str]:
    lines = []
    for worker in workers:
        try:
            text = httpx.get(f"{worker.url}/metrics", timeout=10).text
        except httpx.HTTPError as exc:
            lines.append(f"{worker.url}: /metrics failed: {exc}")
            continue
        lines += [f"{worker.url} {line}" for line in text.splitlines() if line.startswith((
            "newsstreams_mentions_late_total", "newsstreams_mention_records_total", "newsstreams_mentions_total",
            "newsstreams_windows_closed_total", "newsstreams_deadletters_total", "newsstreams_watermark",
        ))]
    return lines


def late_total(lines: list[str]) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if " newsstreams_mentions_late_total " in line)


def records_taken(lines: list[str]) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if " newsstreams_mention_records_total " in line)


def latest_revisions(records: list[dict]) -> tuple[dict[str, dict], list[str]]:
    """Per (window, start, entity), the record with the highest revision, and republished records that disagree."""
    finals: dict[str, dict] = {}
    conflicts = []
    for record in records:
        key = f"{record['window']}|{record['start_ts']}|{record['entity_id']}"
        before = finals.get(key)
        revision = record.get("revision", 0)
        if before is None or revision > before.get("revision", 0):
            finals[key] = record
        elif revision == before.get("revision", 0) and (before["mentions"], before["articles"]) != (
                record["mentions"], record["articles"]):
            conflicts.append(f"{describe(key)}: revision {revision} published as "
                             f"{before['mentions']}/{before['articles']} and {record['mentions']}/{record['articles']}")
    return finals, conflicts


def describe(key: str) -> str:
    window, start, entity = key.split("|", 2)
    when = datetime.fromtimestamp(int(start), timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    return f"{window} {when} {entity}"


def counts(value: dict | None) -> str:
    return "-" if value is None else f"{value['mentions']}/{value['articles']}"


def http_differences(worker, recount: dict[str, dict], watermark: float, latest: float) -> list[str]:
    """Open windows served over HTTP against the recount: the top of the last hour and day, and a few timelines."""
    problems = []
    for spec in SPECS:
        answer = httpx.get(f"{worker.url}/trending", params={"window": spec.name, "at": latest, "top": 200},
                           timeout=30).json()
        start = spec.starts(latest)[-1]
        if answer.get("start") != start:
            problems.append(f"/trending {spec.name} at {latest}: start {answer.get('start')} != {start}")
            continue
        expected = {key.split("|", 2)[2] for key in recount if key.startswith(f"{spec.name}|{start}|")}
        items = answer["items"]
        if len(items) != min(200, len(expected)):
            problems.append(f"/trending {spec.name} at {latest}: {len(items)} items for {len(expected)} entities")
        for item in items:
            key = window_key(spec, start, item["id"])
            if key not in recount or counts(item) != counts(recount[key]):
                problems.append(f"/trending {describe(key)}: served {counts(item)} vs recount {counts(recount.get(key))}")
    last_day = SPECS[1].starts(latest)[-1]
    busiest = sorted(
        (key for key in recount if key.startswith(f"{SPECS[1].name}|{last_day}|")),
        key=lambda key: (-recount[key]["mentions"], key),
    )[:HTTP_SAMPLE]
    sizes = {spec.name: spec.size for spec in SPECS}
    for day_key in busiest:
        entity = day_key.split("|", 2)[2]
        response = httpx.get(f"{worker.url}/entities/{entity}", timeout=30)
        if response.status_code != 200:
            problems.append(f"/entities/{entity}: HTTP {response.status_code}")
            continue
        served = {
            f"{name}|{point['start']}|{entity}": point
            for name, points in response.json()["windows"].items() for point in points
        }
        for key, point in served.items():
            if key not in recount or counts(point) != counts(recount[key]):
                problems.append(f"/entities {describe(key)}: served {counts(point)} vs recount {counts(recount.get(key))}")
        for key in recount:
            window, start, owner = key.split("|", 2)
            if owner == entity and int(start) + sizes[window] > watermark and key not in served:
                problems.append(f"/entities {describe(key)}: open window not served (recount {counts(recount[key])})")
    return problems


async def wait_for(reader: TopicReader, done, workers, timeout: float, *, quiet: float | None = None) -> bool:
    """Poll until `done()`; False when the deadline passes or (with `quiet`) nothing new came for that long."""
    deadline = time.monotonic() + timeout
    last_news = time.monotonic()
    while not done():
        for worker in workers:
            if worker.process.poll() is not None:
                raise AssertionError(f"worker {worker.url} exited with {worker.process.returncode}:\n{worker.log()}")
        now = time.monotonic()
        if now > deadline or (quiet is not None and now - last_news > quiet):
            return False
        if await reader.poll():
            last_news = time.monotonic()
    return True


@pytest.mark.parametrize("worker_count", [1, 2], ids=["1-worker", "2-workers"])
async def test_replayed_backlog_counts_every_mention(broker, start_worker, figures, replay, worker_count):
    produced_ids = {article["id"] for article in replay}
    assert len(produced_ids) == len(replay), "the selection repeats an id"
    first_ts, last_ts = FIRST_DAY.timestamp(), FIRST_DAY.timestamp() + DAYS * 86400
    names = [topics.RAW, topics.PARSED, topics.ENRICHED, topics.MENTIONS, topics.TRENDING, topics.DEADLETTER]
    await ensure_topics(broker, {name: (PARTITIONS, {}) for name in names})

    started = time.monotonic()
    shares = await produce_backlog(broker, replay)
    produced_in = time.monotonic() - started

    async with TopicReader(broker, [topics.RAW, topics.ENRICHED, topics.DEADLETTER, topics.TRENDING]) as reader:
        # The backlog is as designed: each outlet on its partition, publication times never going back.
        await wait_for(reader, lambda: sum(
            1 for _, raw in reader.records[topics.RAW] if raw.get("id") in produced_ids) >= len(replay), [], 60)
        last_seen: dict[int, str] = {}
        backwards = 0
        for partition, raw in reader.records[topics.RAW]:
            if raw.get("id") in produced_ids:
                backwards += raw["published_at"] < last_seen.get(partition, "")
                last_seen[partition] = raw["published_at"]
        on_raw = Counter(p for p, raw in reader.records[topics.RAW] if raw.get("id") in produced_ids)
        assert on_raw == shares and backwards == 0, f"backlog on articles.raw: {dict(on_raw)}, {backwards} out of order"

        app_id = f"replay-{worker_count}-{uuid.uuid4().hex[:8]}"
        env = dict(NEWSSTREAMS_PARTITIONS=PARTITIONS, NEWSSTREAMS_WINDOWS=WINDOWS, NEWSSTREAMS_GRACE=GRACE,
                   NEWSSTREAMS_IDLE_AFTER=IDLE_AFTER)
        workers = await asyncio.gather(*(
            asyncio.to_thread(start_worker, app_id, **env) for _ in range(worker_count)))
        processing = time.monotonic()

        def dead_ids() -> set[str]:
            return {
                original_id(dead) for _, dead in reader.records[topics.DEADLETTER]
                if dead.get("stage") in ("parse", "enrich")
            } & produced_ids

        def enriched_leads() -> set[str]:
            return {article.get("id") for _, article in reader.records[topics.ENRICHED]} & produced_ids

        def all_accounted() -> bool:
            return len(enriched_leads() | dead_ids()) >= len(produced_ids)

        enriched_done = await wait_for(reader, all_accounted, workers, ENRICHED_TIMEOUT)
        enriched_in = time.monotonic() - processing
        logs = "\n".join(f"--- {worker.url}\n{worker.log()}" for worker in workers)
        assert enriched_done, (
            f"{len(enriched_leads())} of {len(replay)} articles enriched and {len(dead_ids())} dead-lettered "
            f"after {ENRICHED_TIMEOUT:.0f}s\n" + "\n".join(metric_lines(workers)) + f"\n{logs}")

        # The run's own enriched output, first emission of each id (a redelivery may emit one twice).
        articles: dict[str, dict] = {}
        for _, article in reader.records[topics.ENRICHED]:
            if article.get("id") in produced_ids or article.get("embedded_in") in produced_ids:
                articles.setdefault(article["id"], article)
        leads = enriched_leads()
        dead = dead_ids() - leads
        assert len(leads) + len(dead) == len(replay), (len(leads), len(dead), len(replay))
        mentions = [mention for article in articles.values() for mention in mentions_of(article)]
        recount = brute_force_counts(mentions, SPECS)
        latest = max(mention["event_ts"] for mention in mentions)
        watermark = latest - GRACE_SECONDS
        sizes = {spec.name: spec.size for spec in SPECS}
        must_close = {key for key in recount if int(key.split("|")[1]) + sizes[key.split("|")[0]] <= watermark}

        def ours(record: dict) -> bool:
            return first_ts - 86400 <= record.get("start_ts", 0) < last_ts + 86400

        def published() -> list[dict]:
            return [record for _, record in reader.records[topics.TRENDING] if ours(record)]

        closed_keys: set[str] = set()
        read = 0

        def all_closed() -> bool:
            nonlocal read
            records = reader.records[topics.TRENDING]
            closed_keys.update(f"{r['window']}|{r['start_ts']}|{r['entity_id']}" for _, r in records[read:] if ours(r))
            read = len(records)
            return must_close <= closed_keys

        windows_done = await wait_for(reader, all_closed, workers, WINDOWS_TIMEOUT, quiet=QUIET_SECONDS)
        windows_in = time.monotonic() - processing
        await reader.poll(1.0)  # corrections or late dead letters right behind

    finals, conflicts = latest_revisions(published())
    missing = sorted(must_close - set(finals))
    extra = sorted(set(finals) - set(recount))
    wrong = sorted(key for key in set(finals) & set(recount)
                   if (finals[key]["mentions"], finals[key]["articles"]) != (recount[key]["mentions"], recount[key]["articles"]))
    late_letters = [record for _, record in reader.records[topics.DEADLETTER]
                    if record.get("stage") == "aggregate" and str(record.get("reason", "")).startswith("late")]
    metrics = metric_lines(workers)
    late = late_total(metrics)
    served = http_differences(workers[-1], recount, watermark, latest)

    embedded = sum(1 for article in articles.values() if article.get("embedded_in"))
    duplicates = sum(1 for article in articles.values() if article.get("duplicate_of"))
    differing = len(missing) + len(extra) + len(wrong)
    lost = sum(recount[key]["mentions"] - finals.get(key, {}).get("mentions", 0) for key in must_close)
    counted = sum(recount[key]["mentions"] for key in must_close)
    report = [
        f"{worker_count} worker(s), {len(replay):,} articles ({len(dead)} dead-lettered) enriched in {enriched_in:.0f}s "
        f"as {len(articles):,} ({embedded} embedded, {duplicates} near-duplicates), {len(mentions):,} mention "
        f"records, {len(recount):,} windows in the recount, {len(must_close):,} of them must have closed "
        f"(end <= {datetime.fromtimestamp(watermark, timezone.utc):%Y-%m-%dT%H:%M:%SZ}); "
        f"{len(finals):,} published" + ("" if windows_done else f" (stopped waiting after {windows_in:.0f}s)"),
        f"{differing:,} windows differ from the recount: {len(missing):,} missing, {len(wrong):,} with other "
        f"counts, {len(extra):,} not in the recount; {lost:,} of {counted:,} mentions of closed windows not published",
        *[f"  missing {describe(key)}: recount {counts(recount[key])}" for key in missing[:SHOWN]],
        *[f"  {describe(key)}: published {counts(finals[key])} vs recount {counts(recount[key])} (mentions/articles)"
          for key in wrong[:SHOWN]],
        *[f"  not in the recount {describe(key)}: published {counts(finals[key])}" for key in extra[:SHOWN]],
        *[f"  {line}" for line in conflicts[:SHOWN]],
        f"mention records taken by the workers: {records_taken(metrics):g} (from the enriched output: {len(mentions):,})",
        f"late mentions: {late:g} by /metrics, {len(late_letters)} late dead letters"
        + (f", e.g. {late_letters[0]['reason'][:300]}" if late_letters else ""),
        *[f"  {line}" for line in served[:SHOWN]],
        *metrics,
    ]
    if not windows_done:
        report.append("\n".join(f"--- {worker.url}\n{worker.log()}" for worker in workers))
    assert not (differing or conflicts or late or late_letters or served), "\n".join(report)
    figures(
        f"{worker_count} worker(s): {len(replay):,} ANT articles of {DAYS} days from 4 partitions "
        f"({', '.join(f'{shares[p]:,}' for p in range(PARTITIONS))}) enriched in {enriched_in:.0f}s; "
        f"{len(must_close):,} closed windows equal to the recount, 0 late; all closed {windows_in:.0f}s after start "
        f"(produced in {produced_in:.0f}s)"
    )
