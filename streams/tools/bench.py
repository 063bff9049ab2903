"""`newsstreams bench`: the pipeline against two passthroughs, same broker, same messages.

Each throughput run consumes a backlog of N messages that was produced before
the consumer started, and its rate is taken from the first output message, so
start-up and group joins do not count. For the pipeline that is the first
message of its first stage (`articles.parsed`): a worker parses much of a
backlog before it enriches anything, so timing from the first enriched article
would leave that parsing out. The passthroughs end at their last output; the
pipeline ends when the aggregate stage has taken every mention record of the
run (from the workers' `/metrics`), so window counting is inside the figure,
not left as a backlog. Latency is measured afterwards at a fixed offered load,
produce call to enriched arrival, in one process and on one clock. CPU per
article is reported for the workers (by stage, from their `/metrics`), the
broker and the bench itself, since all share the machine's cores.
"""

from __future__ import annotations

import asyncio
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson
import psutil
from aiokafka import AIOKafkaConsumer

from .. import topics
from ..broker import EmbeddedBroker, die_with_parent, free_port, stop_process
from ..kafka_io import assign_whole_topic, is_progress_heartbeat, start_producer
from ..samples import sample_pages
from ..settings import FETCH_MAX_WAIT_MS

RUN_TIMEOUT = 600.0
PARTITIONS = 4
SENTENCE_END = re.compile(r"(?<=[.!?؟])\s+|\n+")


def seed_like_articles(
    count: int, *, prefix: str, seed: int = 1, spacing: float = 2.0, sentences: tuple[int, int] = (12, 20),
) -> list[bytes]:
    """N distinct articles made of the sample pages' sentences, `spacing` seconds apart in event time.

    Each article draws its own handful of sentences, so near-duplicate detection
    lets them through and their mentions reach the window tables as distinct news
    would; the event times span enough stream time for windows to close.
    """
    from ..ingest.sources import iter_raw_articles

    templates = [orjson.loads(item.value) for page in sample_pages() for item in iter_raw_articles(str(page))]
    pool = sorted({
        sentence.strip()
        for template in templates
        for sentence in SENTENCE_END.split(template["body"])
        if len(sentence.split()) >= 5
    })
    rng = random.Random(seed)
    first = datetime.now(timezone.utc) - timedelta(seconds=count * spacing)
    out = []
    for i in range(count):
        raw = dict(templates[i % len(templates)])
        size = rng.randint(*sentences)
        # Without repeats while the pool lasts, so articles differ as news does.
        chosen = rng.sample(pool, size) if size <= len(pool) else rng.choices(pool, k=size)
        raw["body"] = "\n\n".join([*chosen, f"رقم المتابعة {i} من {prefix}."])
        raw["id"] = f"{prefix}-{i}"
        raw["url"] = f"https://bench.example/{prefix}/{i}"
        raw["published_at"] = (first + timedelta(seconds=i * spacing)).isoformat()
        out.append(orjson.dumps(raw))
    return out


class RssSampler:
    """Peak resident memory of a set of processes, sampled in a thread."""

    def __init__(self):
        self.pids: list[int] = []
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.2):
            for pid in list(self.pids):
                try:
                    self.peak = max(self.peak, psutil.Process(pid).memory_info().rss)
                except psutil.Error:
                    pass

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)


def _spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args], env={**os.environ, **env}, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent,
    )


async def _produce_all(bootstrap: str, topic: str, payloads: list[bytes], keys: list[bytes] | None = None) -> float:
    producer = await start_producer(bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    started = time.perf_counter()
    try:
        futures = [await producer.send(topic, value=v, key=keys[i] if keys else None) for i, v in enumerate(payloads)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(payloads) / (time.perf_counter() - started)


async def _ensure_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await asyncio.wait_for(admin.start(), 15)
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    except Exception:  # already there: fine for a benchmark topic
        pass
    finally:
        await admin.close()


async def _collect(bootstrap: str, topic: str, *, count, timeout: float, on_message=None) -> list:
    """Read `topic` from the beginning until `count(messages)` is reached; returns the messages."""
    # The measuring side must not add its own wait to the latency it measures.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=15000,
                                fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
    await asyncio.wait_for(consumer.start(), 15)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    messages: list = []
    try:
        await assign_whole_topic(consumer, topic, timeout=timeout)
        while not count(messages):
            if loop.time() > deadline:
                raise TimeoutError(f"{topic}: {len(messages)} messages after {timeout:.0f}s")
            batch = await consumer.getmany(timeout_ms=200, max_records=2000)
            arrived = time.perf_counter()
            for records in batch.values():
                for message in records:
                    if is_progress_heartbeat(message):
                        continue  # the pipeline's own bookkeeping, not an article
                    messages.append(message)
                    if on_message:
                        on_message(message, arrived)
    finally:
        await consumer.stop()
    return messages


async def _first_timestamp(bootstrap: str, topic: str, timeout: float = 30.0) -> float:
    """Broker time (s) of the earliest record on `topic`: the first record of each partition, compared."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=15000,
                                fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
    await asyncio.wait_for(consumer.start(), 15)
    try:
        assignment = await assign_whole_topic(consumer, topic, timeout=timeout)
        ends = await consumer.end_offsets(assignment)
        pending = {tp for tp in assignment if ends[tp] > 0}
        first: list[int] = []
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: no first record from {len(pending)} partitions after {timeout:.0f}s")
            batch = await consumer.getmany(*pending, timeout_ms=200, max_records=1)
            for tp, records in batch.items():
                if records:
                    first.append(records[0].timestamp)
                    pending.discard(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return min(first) / 1000.0


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU of processes so far (those gone count as nothing)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _rate(messages: list) -> float:
    """Messages per second between the first and last output, by their broker timestamps."""
    stamps = sorted(m.timestamp for m in messages)
    span = (stamps[-1] - stamps[0]) / 1000.0
    return (len(stamps) - 1) / span if span > 0 else float("nan")


async def _aiokafka_passthrough(bootstrap: str, n: int) -> float:
    from aiokafka import AIOKafkaProducer

    out_topic = "bench.out.aiokafka"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=15000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await asyncio.wait_for(consumer.start(), 15)
    await asyncio.wait_for(producer.start(), 15)
    try:
        await assign_whole_topic(consumer, "bench.in", timeout=60)
        forwarded = 0
        deadline = time.monotonic() + RUN_TIMEOUT
        while forwarded < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=1000)
            for records in batch.values():
                for message in records:
                    await producer.send(out_topic, value=message.value, key=message.key)
                    forwarded += 1
        await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()
    messages = await _collect(bootstrap, out_topic, count=lambda m: len(m) >= n, timeout=60)
    return _rate(messages)


async def _faust_noop(bootstrap: str, n: int, workdir: Path, sampler: RssSampler) -> float:
    process = _spawn(["-m", "streams.tools.bench_noop"], {
        "KAFKA_BROKER": f"kafka://{bootstrap}", "NEWSSTREAMS_EMBEDDED_BROKER": "1",
        "NEWSSTREAMS_APP_ID": f"bench-noop-{uuid.uuid4().hex[:6]}",
        "NEWSSTREAMS_DATA_DIR": str(workdir / "noop-data"),
    }, workdir / "noop.log")
    try:
        messages = await _collect(bootstrap, "bench.out.faust", count=lambda m: len(m) >= n, timeout=RUN_TIMEOUT)
    finally:
        stop_process(process, 20)
    return _rate(messages)


def _start_workers(
    bootstrap: str, workers: int, workdir: Path, sampler: RssSampler,
) -> tuple[list[subprocess.Popen], list[str]]:
    app_id = f"bench-{uuid.uuid4().hex[:6]}"
    processes, urls = [], []
    for i in range(workers):
        port = free_port()
        urls.append(f"http://127.0.0.1:{port}")
        process = _spawn(["-m", "streams", "worker", "--loglevel", "warn"], {
            "KAFKA_BROKER": f"kafka://{bootstrap}", "NEWSSTREAMS_EMBEDDED_BROKER": "1",
            "NEWSSTREAMS_APP_ID": app_id,
            "NEWSSTREAMS_WEB_PORT": str(port),
            "NEWSSTREAMS_PARTITIONS": str(PARTITIONS),
            "NEWSSTREAMS_DATA_DIR": str(workdir / f"worker-{i}"),
        }, workdir / f"worker-{i}.log")
        processes.append(process)
        sampler.pids.append(process.pid)
    return processes, urls


class Completion:
    """Follows articles.enriched until every lead and every article it embeds has arrived.

    Also sums the mention records those articles give, which the aggregate stage
    must have taken before the run counts as done end to end.
    """

    def __init__(self, prefix: str, leads: int):
        self.prefix, self.leads = prefix.encode(), leads
        self.lead_messages: list = []
        self.needed: set[str] = set()
        self.seen: set[str] = set()
        self.mention_records = 0

    def on_message(self, message, arrived: float) -> None:
        from ..pipeline import mentions_of

        article = orjson.loads(message.value)
        if article["id"] in self.seen:
            return
        self.seen.add(article["id"])
        self.mention_records += len(mentions_of(article))
        if message.key and message.key.startswith(self.prefix):
            self.lead_messages.append(message)
            self.needed.update(article.get("embedded") or ())

    def done(self, messages) -> bool:
        return len(self.lead_messages) >= self.leads and self.needed <= self.seen


async def _metric_sums(urls: list[str]) -> dict[str, float]:
    """Every sample of the workers' `/metrics`, summed over workers, by name and labels."""
    sums: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=5.0) as client:
        for url in urls:
            for line in (await client.get(f"{url}/metrics")).text.splitlines():
                if line.startswith("newsstreams_"):
                    name, _, value = line.rpartition(" ")
                    sums[name] = sums.get(name, 0.0) + float(value)
    return sums


async def _mention_records_taken(urls: list[str]) -> int:
    return int((await _metric_sums(urls)).get("newsstreams_mention_records_total", 0))


async def _until_serving(urls: list[str], timeout: float = 120.0) -> None:
    """Waits until every worker answers on `/metrics`: its model is loaded and it is about to join."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await _metric_sums(urls)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the workers did not serve /metrics within {timeout:.0f}s") from None
            await asyncio.sleep(0.2)


STAGES = ("parse", "enrich", "story", "route", "aggregate")
"""The labels of `newsstreams_stage_cpu_seconds_total`: story is the story step of the route stage."""


def _stage_cpu(sums: dict[str, float]) -> dict[str, float]:
    return {stage: sums.get(f'newsstreams_stage_cpu_seconds_total{{stage="{stage}"}}', 0.0) for stage in STAGES}


async def _counted_by(urls: list[str], records: int, timeout: float) -> float:
    """Wall-clock time at which the workers had taken `records` mention records."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if await _mention_records_taken(urls) >= records:
                return time.time()
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the aggregate stage did not take {records} mention records within {timeout:.0f}s")


class CpuMeter:
    """CPU seconds of the workers, the broker and this process between two readings."""

    def __init__(self, workers: list[int], broker: int | None):
        self.workers, self.broker = workers, broker
        self.started = self._read()

    def _read(self) -> tuple[float, float, float]:
        return cpu_seconds(self.workers), cpu_seconds([self.broker] if self.broker else []), time.process_time()

    def per_article_ms(self, articles: int) -> dict[str, float]:
        now = self._read()
        spent = [(b - a) / articles * 1000 for a, b in zip(self.started, now)]
        return {"workers": round(spent[0], 2), "broker": round(spent[1], 2), "bench": round(spent[2], 2)}


async def _pipeline(bootstrap: str, n: int, rate: int, seconds: int, workers: int, workdir: Path,
                    sampler: RssSampler, broker_pid: int | None) -> dict:
    payloads = seed_like_articles(n, prefix="tp")
    await _produce_all(bootstrap, topics.RAW, payloads)
    processes, urls = _start_workers(bootstrap, workers, workdir, sampler)
    try:
        await _until_serving(urls)
        meter = CpuMeter([p.pid for p in processes], broker_pid)
        completion = Completion("tp-", n)
        await _collect(bootstrap, topics.ENRICHED, count=completion.done, timeout=RUN_TIMEOUT,
                       on_message=completion.on_message)
        enriched_at = max(m.timestamp for m in completion.lead_messages) / 1000.0
        counted_at = await _counted_by(urls, completion.mention_records, RUN_TIMEOUT)
        cpu = meter.per_article_ms(n)
        stage_cpu = _stage_cpu(await _metric_sums(urls))
        first = await _first_timestamp(bootstrap, topics.PARSED)
        throughput = n / (counted_at - first)
        enriched_rate = n / (enriched_at - first)
        meter = CpuMeter([p.pid for p in processes], broker_pid)
        latency = await _latency(bootstrap, rate, seconds)
        offered = rate * seconds
        latency_stage_cpu = _stage_cpu(await _metric_sums(urls))
        latency["latency_cpu_ms_per_article"] = {**meter.per_article_ms(offered), "stages": {
            k: round((latency_stage_cpu[k] - stage_cpu[k]) / offered * 1000, 2) for k in STAGES}}
    finally:
        for process in processes:
            stop_process(process, 20)
    return {
        "pipeline_articles_per_s": throughput,
        "enriched_articles_per_s": enriched_rate,
        "mention_records": completion.mention_records,
        "cpu_ms_per_article": {**cpu, "stages": {k: round(v / n * 1000, 2) for k, v in stage_cpu.items()}},
        **latency,
    }


async def _latency(bootstrap: str, rate: int, seconds: int) -> dict:
    total = rate * seconds
    payloads = seed_like_articles(total, prefix="lat", seed=2)
    sent_at: dict[bytes, float] = {}
    latencies: list[float] = []

    def on_message(message, arrived):
        key = message.key or b""
        if key in sent_at:
            latencies.append(arrived - sent_at.pop(key))

    async def send():
        producer = await start_producer(bootstrap, linger_ms=0)
        try:
            start = time.perf_counter()
            for i, payload in enumerate(payloads):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent_at[f"lat-{i}".encode()] = time.perf_counter()
                await producer.send(topics.RAW, value=payload)
            await producer.flush()
        finally:
            await producer.stop()

    collector = asyncio.create_task(_collect(
        bootstrap, topics.ENRICHED, count=lambda m: len(latencies) >= total, timeout=seconds + 120, on_message=on_message,
    ))
    await asyncio.sleep(1.0)  # the consumer is positioned before the first send
    await send()
    try:
        await collector
    except TimeoutError:
        pass
    latencies.sort()
    if not latencies:
        return {"latency_p50_ms": None, "latency_p99_ms": None, "latency_offered_rate": rate, "latency_samples": 0}
    return {
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
        "latency_offered_rate": rate,
        "latency_samples": len(latencies),
        "latency_lost": total - len(latencies),
    }


def ner_speed(sample: int = 400) -> float:
    """Tokens per second of NER plus linking on one core, on seed-like bodies."""
    from ..entities.extract import EntityExtractor
    from ..entities.tokens import tokenize

    extractor = EntityExtractor.default()
    bodies = [orjson.loads(p)["body"] for p in seed_like_articles(sample, prefix="ner", seed=3)]
    tokens = sum(len(tokenize(body)) for body in bodies)
    extractor.extract(bodies[0])  # warm caches
    started = time.perf_counter()
    for body in bodies:
        extractor.extract(body)
    return tokens / (time.perf_counter() - started)


def routing_cost(sample: int = 400) -> dict:
    """CPU per article of routing (rules + section model) against all of enrich, on one core, no broker.

    Routing runs inside the enrich stage, so the stage figures cannot show it
    apart; this measures the two on the same seed-like articles, each after a
    warm-up on other articles (a worker's caches hold the words of earlier ones).
    """
    from ..pipeline import Pipeline
    from ..routing.model import shared_model

    pipeline = Pipeline()
    pipeline.warm()
    warm = [a for p in seed_like_articles(sample, prefix="routewarm", seed=5) for a in pipeline.parse(p)]
    parsed = [a for p in seed_like_articles(sample, prefix="route", seed=4) for a in pipeline.parse(p)]
    for article in warm:
        pipeline.enrich(article)
    rules = pipeline.rules()
    model = shared_model(rules.model.file if rules.model is not None else None)

    def cpu_ms(step) -> float:
        started = time.process_time()
        for article in parsed:
            step(article)
        return (time.process_time() - started) / len(parsed) * 1000

    entities = {id(a): pipeline.extractor.extract(a["body"]) for a in parsed}
    route = cpu_ms(lambda a: rules.route(a.get("title") or "", a["body"], entities[id(a)], language=a.get("language")))
    section_model = cpu_ms(lambda a: model.probabilities(a.get("title") or "", a["body"]))
    enrich = cpu_ms(pipeline.enrich)
    return {"route_cpu_ms_per_article": round(route, 3), "section_model_cpu_ms_per_article": round(section_model, 3),
            "enrich_cpu_ms_per_article": round(enrich, 3), "route_share_of_enrich": round(route / enrich, 3)}


SCALING_SENTENCES = (4, 8, 16, 32, 64)


def cost_by_size(samples: int = 40) -> list[dict]:
    """CPU per article of the pure path (parse, dedupe, enrich, count into the default windows) by body size.

    One core, no broker: how the per-article cost grows with length and with the
    number of entities that come with it.
    """
    from ..pipeline import Pipeline, mentions_of
    from ..settings import DEFAULT_WINDOWS, parse_windows
    from ..trending.windows import count_mention

    pipeline = Pipeline()
    specs = parse_windows(DEFAULT_WINDOWS)
    pipeline.process(seed_like_articles(1, prefix="warm")[0])
    rows = []
    for size in SCALING_SENTENCES:
        payloads = seed_like_articles(samples, prefix=f"size{size}", seed=size, sentences=(size, size))
        store: dict = {}
        chars = entities = 0
        started = time.process_time()
        for payload in payloads:
            for article in pipeline.process(payload):
                chars += len(article["body"])
                entities += len(article["entities"])
                for mention in mentions_of(article):
                    count_mention(store, mention, specs, None)
        cpu = time.process_time() - started
        rows.append({
            "sentences": size,
            "body_chars": round(chars / samples),
            "entities": round(entities / samples, 1),
            "cpu_ms_per_article": round(cpu / samples * 1000, 2),
        })
    return rows


def run_bench(*, articles: int, rate: int, latency_seconds: int, workers: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="newsstreams-bench-"))
    sampler = RssSampler()
    try:
        with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
            async def main() -> dict:
                for name in ("bench.in", "bench.out.aiokafka", "bench.out.faust", topics.RAW, topics.ENRICHED):
                    await _ensure_topic(broker.bootstrap, name)
                payloads = seed_like_articles(articles, prefix="pt")
                produce_rate = await _produce_all(broker.bootstrap, "bench.in", payloads)
                print(f"bench: produced {articles} articles at {produce_rate:,.0f}/s", file=sys.stderr)
                aiokafka_rate = await _aiokafka_passthrough(broker.bootstrap, articles)
                print(f"bench: aiokafka passthrough {aiokafka_rate:,.0f}/s", file=sys.stderr)
                faust_rate = await _faust_noop(broker.bootstrap, articles, workdir, sampler)
                print(f"bench: no-op Faust passthrough {faust_rate:,.0f}/s", file=sys.stderr)
                sampler.peak = 0
                result = await _pipeline(broker.bootstrap, articles, rate, latency_seconds, workers, workdir, sampler,
                                         broker.pid)
                print(f"bench: pipeline {result['pipeline_articles_per_s']:,.1f}/s end to end "
                      f"({result['enriched_articles_per_s']:,.1f}/s to enriched)", file=sys.stderr)
                return {"aiokafka_passthrough_per_s": aiokafka_rate, "faust_noop_passthrough_per_s": faust_rate,
                        "produce_per_s": produce_rate, **result}

            figures = asyncio.run(main())
    finally:
        sampler.stop()
    figures["ner_tokens_per_s"] = ner_speed()
    figures["cost_by_size"] = cost_by_size()
    figures["routing"] = routing_cost()
    print(f"bench: routing {figures['routing']['route_cpu_ms_per_article']} ms CPU per article, "
          f"{figures['routing']['route_share_of_enrich']:.0%} of enrich", file=sys.stderr)
    for row in figures["cost_by_size"]:
        print(f"bench: {row['body_chars']:,} characters, {row['entities']} entities: "
              f"{row['cpu_ms_per_article']} ms CPU per page", file=sys.stderr)
    pipeline = figures["pipeline_articles_per_s"]
    return {
        "articles": articles,
        "workers": workers,
        "partitions": PARTITIONS,
        "pipeline_articles_per_s": round(pipeline, 1),
        "enriched_articles_per_s": round(figures["enriched_articles_per_s"], 1),
        "mention_records": figures["mention_records"],
        "cpu_ms_per_article": figures["cpu_ms_per_article"],
        "faust_noop_passthrough_per_s": round(figures["faust_noop_passthrough_per_s"], 1),
        "aiokafka_passthrough_per_s": round(figures["aiokafka_passthrough_per_s"], 1),
        "ratio_pipeline_vs_faust_noop": round(pipeline / figures["faust_noop_passthrough_per_s"], 3),
        "ratio_pipeline_vs_aiokafka": round(pipeline / figures["aiokafka_passthrough_per_s"], 3),
        "latency_p50_ms": figures["latency_p50_ms"],
        "latency_p99_ms": figures["latency_p99_ms"],
        "latency_offered_rate": figures["latency_offered_rate"],
        "latency_samples": figures["latency_samples"],
        "latency_cpu_ms_per_article": figures["latency_cpu_ms_per_article"],
        "worker_peak_rss_mb": round(sampler.peak / 2**20, 1),
        "ner_tokens_per_s": round(figures["ner_tokens_per_s"]),
        "produce_per_s": round(figures["produce_per_s"], 1),
        "cost_by_size": figures["cost_by_size"],
        "routing": figures["routing"],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
