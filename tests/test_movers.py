"""Each stage's mover, in process: what reaches the pure work, what is sent where, what is dead-lettered.

The broker tests show the same behaviour through Kafka; these show the
movers' own logic in a fraction of the time (see `tests/inprocess.py`).
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import orjson
import pytest

from streams import topics
from streams.contracts import validation_errors
from streams.pipeline import Pipeline
from streams.settings import Settings, parse_windows
from streams.trending.progress import HEADER, Progress, encode, header_progress

from .conftest import SEEDS
from .inprocess import InProcess, record

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def pipeline():
    """One tagger and rule set for the whole module: loading them is what costs."""
    return Pipeline()


def seed_page(n: int = 0) -> bytes:
    path = SEEDS[n]
    text = path.read_text(encoding="utf-8")
    now = datetime.now(timezone.utc).isoformat()
    return orjson.dumps({"url": "https://example.org/seed", "source": "seed", "title": "", "body": text,
                         "published_at": now})


def dead_letters(worker: InProcess) -> dict[str, list[bytes]]:
    by_stage: dict[str, list[bytes]] = {}
    for sent in worker.sent(topics.DEADLETTER):
        letter = orjson.loads(sent.value)
        assert validation_errors(letter) == []
        by_stage.setdefault(letter["stage"], []).append(base64.b64decode(letter["original_b64"]))
    return by_stage


async def test_garbage_at_every_stage_is_dead_lettered_with_its_original_and_the_stream_goes_on(pipeline):
    worker = InProcess(pipeline=pipeline)
    garbage = {
        topics.RAW: b"\xff\xfe not utf-8",
        topics.PARSED: b"[1, 2, 3]",
        topics.ENRICHED: b"{not json",
        topics.MENTIONS: b'{"schema": "mention_batch/1", "mentions": [{"entity_id": "per:x"}]}',
    }
    no_mentions = b'{"id": "odd", "published_at": "2026-11-20T00:00:00Z", "entities": [5]}'
    good = seed_page()
    await worker.run("parse", [record(topics.RAW, garbage[topics.RAW], offset=0),
                               record(topics.RAW, good, offset=1, timestamp=1.7e9)])
    parsed = worker.sent(topics.PARSED)
    assert len(parsed) == 2, "the lead article and the one embedded in the page"
    await worker.run("enrich", [record(topics.PARSED, garbage[topics.PARSED]),
                                *(record(topics.PARSED, s.value, offset=1 + n) for n, s in enumerate(parsed))])
    enriched = worker.sent(topics.ENRICHED)
    assert len(enriched) == 2 and all(validation_errors(orjson.loads(s.value)) == [] for s in enriched)
    route = await worker.run("route", [record(topics.ENRICHED, garbage[topics.ENRICHED]),
                                       record(topics.ENRICHED, no_mentions, offset=1),
                                       record(topics.ENRICHED, enriched[0].value, offset=2)])
    assert len(route.acked) == 3, "a batch is acknowledged whole, garbage included"
    assert worker.sent(topics.MENTIONS), "the good article's mentions went on"
    aggregate = await worker.run("aggregate", [record(topics.MENTIONS, garbage[topics.MENTIONS])])
    assert len(aggregate.acked) == 1
    assert dead_letters(worker) == {
        "parse": [garbage[topics.RAW]],
        "enrich": [garbage[topics.PARSED]],
        "route": [garbage[topics.ENRICHED]],
        "mentions": [no_mentions],
        "aggregate": [garbage[topics.MENTIONS]],
    }


async def test_parse_sends_each_article_keyed_by_id_with_the_progress_of_its_source(pipeline):
    worker = InProcess(pipeline=pipeline)
    await worker.run("parse", [record(topics.RAW, seed_page(0), partition=1, offset=41),
                               record(topics.RAW, seed_page(1), partition=1, offset=42)])
    sent = worker.sent(topics.PARSED)
    articles = [orjson.loads(s.value) for s in sent]
    assert [s.key for s in sent] == [a["id"].encode() for a in articles]
    first_page = [a for a in articles if a["url"] == "https://example.org/seed"][:1]
    published = datetime.fromisoformat(first_page[0]["published_at"].replace("Z", "+00:00")).timestamp()
    later = header_progress(sent[-1].headers)
    assert set(later) == {"articles.raw/1"}, "what the second page sends says how far the source has come"
    assert later["articles.raw/1"].watermark == pytest.approx(published, abs=1)
    assert worker.runtime.progress._next_raw_offset == {1: 43}
    # the same page again is the same article, sent again under the same id
    await worker.run("parse", [record(topics.RAW, seed_page(0), partition=1, offset=43)])
    assert worker.sent(topics.PARSED)[-1].key in [s.key for s in sent]


async def test_a_raw_record_that_looks_like_a_heartbeat_is_still_parsed_not_trusted(pipeline):
    """Progress headers are the pipeline's own: on articles.raw they come from outside and mean nothing."""
    worker = InProcess(pipeline=pipeline)
    forged = {HEADER: encode({"articles.raw/0": Progress(4e9)})}
    await worker.run("parse", [record(topics.RAW, b"", headers=forged)])
    assert list(dead_letters(worker)) == ["parse"]
    assert not worker.sent(topics.PARSED)


async def test_route_sends_articles_to_their_categories_and_mentions_to_their_entity_partitions(pipeline):
    worker = InProcess(pipeline=pipeline)
    article = {"id": "a1", "published_at": "2026-11-20T10:00:00Z", "categories": [{"id": "politics"},
                                                                                  {"id": "economy"}],
               "entities": [{"id": f"per:{n}", "name": f"n{n}", "type": "PER", "mentions": 1} for n in range(12)]}
    heartbeat = record(topics.ENRICHED, b"", headers={
        HEADER: encode({f"articles.parsed/{p}": Progress(1.7e9) for p in range(2)})})
    first = await worker.run("route", [heartbeat])
    assert not worker.sent(topics.MENTIONS) and not worker.sent("articles.enriched.politics"), "a heartbeat is no article"
    stream = await worker.run("route", [record(topics.ENRICHED, orjson.dumps(article), key=b"a1", offset=1)])
    assert [s.key for s in worker.sent("articles.enriched.politics")] == [b"a1"]
    assert [s.key for s in worker.sent("articles.enriched.economy")] == [b"a1"]
    batches = worker.sent(topics.MENTIONS)
    assert {s.partition for s in batches} == {0, 1}, "12 entities over 2 partitions"
    counted = sorted(m["entity_id"] for s in batches for m in orjson.loads(s.value)["mentions"])
    assert counted == sorted(e["id"] for e in article["entities"])
    assert all(header_progress(s.headers) == {"articles.enriched/0": Progress(1.7e9)} for s in batches), \
        "mentions carry the progress the route stage has seen"
    assert len(first.acked) == 1 and len(stream.acked) == 1


async def test_aggregate_closes_a_window_when_every_input_has_passed_it_and_dead_letters_late_mentions():
    worker = InProcess(Settings(partitions=2, windows=parse_windows("1h late=0"), grace=60))
    hour = 1_800_000_000 - 1_800_000_000 % 3600
    mention = {"schema": "mention/1", "entity_id": "per:putin", "name": "بوتين", "type": "PER",
               "article_id": "a1", "source": "s", "mentions": 2, "event_time": "x", "event_ts": hour + 60}
    batch = orjson.dumps({"schema": "mention_batch/1", "mentions": [mention]})

    def progress(watermark: float) -> dict:
        return {HEADER: encode({f"articles.enriched/{p}": Progress(watermark) for p in range(2)})}

    await worker.run("aggregate", [record(topics.MENTIONS, batch, headers=progress(hour + 60))])
    assert not worker.sent(topics.TRENDING), "the hour is still open"
    await worker.run("aggregate", [record(topics.MENTIONS, b"", offset=1, headers=progress(hour + 3600 + 61))])
    (closed,) = [orjson.loads(s.value) for s in worker.sent(topics.TRENDING)]
    assert (closed["entity_id"], closed["window"], closed["mentions"]) == ("per:putin", "1h", 2)
    late = orjson.dumps({"schema": "mention_batch/1", "mentions": [{**mention, "article_id": "a2"}]})
    await worker.run("aggregate", [record(topics.MENTIONS, late, offset=2, headers=progress(hour + 3600 + 62))])
    (letter,) = [orjson.loads(s.value) for s in worker.sent(topics.DEADLETTER)]
    assert letter["stage"] == "aggregate" and letter["reason"].startswith("late:")
    assert len(worker.sent(topics.TRENDING)) == 1, "a late mention changes no closed window"
