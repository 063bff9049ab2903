"""The whole pipeline on the real embedded broker: raw pages in, every topic checked."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest

from streams import topics
from streams.cli import main as cli_main
from streams.contracts import validation_errors
from streams.ingest.sources import iter_raw_articles
from streams.pipeline import mentions_of
from streams.trending.windows import WindowSpec, brute_force_counts, window_key

from .conftest import SEEDS, consume, produce, values

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]

MALFORMED = b'{"url": "https://example.org/broken", "title": "half a message'
WINDOWS = (WindowSpec(300), WindowSpec(3600), WindowSpec(86400), WindowSpec(3600, 300))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _seed_payloads(published: datetime) -> list[bytes]:
    payloads = []
    for path in SEEDS:
        (item,) = list(iter_raw_articles(str(path)))
        raw = orjson.loads(item.value)
        raw["published_at"] = _iso(published)
        payloads.append(orjson.dumps(raw))
    return payloads


async def test_seeds_flow_through_every_topic(broker, start_worker, capsys):
    worker = start_worker(NEWSSTREAMS_PARTITIONS=1, NEWSSTREAMS_GRACE="1m")
    published = datetime(2026, 11, 20, 9, 1, 30, tzinfo=timezone.utc)
    seed_a, seed_b = _seed_payloads(published)
    # A malformed message between two good ones: it must be dead-lettered and
    # the page after it still processed.
    await produce(broker, topics.RAW, [seed_a, MALFORMED, seed_b])

    enriched_msgs = await consume(broker, topics.ENRICHED, until=lambda m: len(m) >= 4, timeout=90)
    enriched = values(enriched_msgs)
    assert len(enriched) == 4, worker.log()
    for article in enriched:
        assert validation_errors(article) == [], article["id"]
    leads = [a for a in enriched if a["embedded_in"] is None]
    embedded = [a for a in enriched if a["embedded_in"] is not None]
    assert len(leads) == 2 and len(embedded) == 2
    assert {e["embedded_in"] for e in embedded} == {a["id"] for a in leads}

    # Same people and places, one id each, in both lead articles.
    def ids(article, kind):
        return {e["id"] for e in article["entities"] if e["type"] == kind}

    for kind in ("PER", "LOC"):
        common = ids(leads[0], kind) & ids(leads[1], kind)
        assert common, f"no {kind} shared by the two seeds"
    for article in leads:
        for entity in article["entities"]:
            for (start, end), in zip(entity["spans"]):
                assert article["body"][start:end] in entity["forms"]

    # Per-category topics hold exactly the articles routed there.
    categories = {c["id"] for a in enriched for c in a["categories"]}
    assert categories, "seed pages routed nowhere"
    stories_of: dict[str, str] = {}
    for category in categories:
        expected = {a["id"] for a in enriched if category in {c["id"] for c in a["categories"]}}
        routed = await consume(broker, topics.category_topic(category), until=lambda m: len(m) >= len(expected))
        assert {m.key.decode() for m in routed} == expected
        stories_of.update({a["id"]: a["story_id"] for a in values(routed)})
        assert all(validation_errors(a) == [] for a in values(routed))

    # Every routed article carries its story: the two pages' leads one, the embedded French minister's
    # article another, and each story's state is on the compacted stories topic.
    assert stories_of[leads[0]["id"]] == stories_of[leads[1]["id"]]
    french = [a for a in embedded if "الفرنسي" in a["title"]]
    assert len(french) == 1 and stories_of[french[0]["id"]] != stories_of[leads[0]["id"]]
    stories = values(await consume(broker, topics.STORIES, until=lambda m: {orjson.loads(v.value)["id"] for v in m}
                                   >= set(stories_of.values())))
    assert all(validation_errors(story) == [] for story in stories)

    # The malformed message is on the dead-letter topic with its original bytes.
    dead = values(await consume(broker, topics.DEADLETTER, until=lambda m: len(m) >= 1))
    assert len(dead) == 1
    assert dead[0]["stage"] == "parse"
    assert base64.b64decode(dead[0]["original_b64"]) == MALFORMED
    assert "JSON" in dead[0]["reason"] or "json" in dead[0]["reason"]
    assert validation_errors(dead[0]) == []

    # Mentions carry the entities of every article, and validate.
    expected_mentions = [m for a in enriched for m in mentions_of(a)]
    batches = await consume(broker, topics.MENTIONS, until=lambda m: sum(
        len(orjson.loads(v.value)["mentions"]) for v in m) >= len(expected_mentions))
    sent = [mention for batch in values(batches) for mention in batch["mentions"]]
    assert sorted(sent, key=orjson.dumps) == sorted(expected_mentions, key=orjson.dumps)
    carriers: dict[str, set[int]] = {}
    for index, message in enumerate(batches):
        batch = orjson.loads(message.value)
        assert validation_errors(batch) == []
        for m in batch["mentions"]:
            carriers.setdefault(m["article_id"], set()).add(index)
    # One partition owns every entity: an article's mentions travel in one message,
    # and articles routed together share it, rather than one message per entity.
    assert all(len(held_in) == 1 for held_in in carriers.values())
    assert len(batches) <= len(carriers) < len(expected_mentions)

    # Windowed counts served over HTTP equal a brute-force recount.
    recount = brute_force_counts(expected_mentions, WINDOWS)
    start = int(published.timestamp()) // 300 * 300
    expected = {key.split("|", 2)[2]: value["mentions"] for key, value in recount.items()
                if key.startswith(f"5m|{start}|")}
    served = None
    for _ in range(60):  # the aggregate agent may still be catching up
        answer = httpx.get(f"{worker.url}/trending", params={"window": "5m", "top": 200}, timeout=10).json()
        served = {item["id"]: item["mentions"] for item in answer["items"]}
        if served == expected:
            break
        await asyncio.sleep(0.5)
    assert answer["start"] == start, worker.log()
    assert served == expected

    timeline = httpx.get(f"{worker.url}/entities/{leads[0]['entities'][0]['id']}", timeout=10).json()
    assert set(timeline["windows"]) == {"5m", "1h", "1d", "1h/5m"}

    # An article two days later moves stream time on: every seed window closes,
    # each exactly once, with the recounted numbers.
    later = orjson.loads(seed_a)
    later["published_at"] = _iso(published + timedelta(days=2))
    later["body"] = "أعلنت روسيا اليوم عن محادثات جديدة مع أوكرانيا في موسكو بحضور وفود من عدة دول."
    later["url"] = "https://example.org/later"
    await produce(broker, topics.RAW, [orjson.dumps(later)])
    expected_closed = len(recount)
    closed = values(await consume(broker, topics.TRENDING, until=lambda m: len(m) >= expected_closed, timeout=60))
    assert len(closed) == expected_closed
    for final in closed:
        assert validation_errors(final) == []
        spec = next(s for s in WINDOWS if s.name == final["window"])
        key = window_key(spec, final["start_ts"], final["entity_id"])
        assert final["mentions"] == recount[key]["mentions"]
        assert final["articles"] == recount[key]["articles"]

    # The stories, ranked over HTTP and on the command line: the two outlets' story first.
    ranked = httpx.get(f"{worker.url}/stories", params={"window": "6h", "top": 5,
                                                        "at": _iso(published + timedelta(hours=1))}, timeout=10).json()
    assert ranked["stories"][0]["id"] == stories_of[leads[0]["id"]], ranked
    assert ranked["stories"][0]["sources"] == 2 and all(validation_errors(s) == [] for s in ranked["stories"])
    one = httpx.get(f"{worker.url}/stories/{stories_of[leads[0]['id']]}", timeout=10).json()
    assert {m["id"] for m in one["members"]} == {a["id"] for a in leads}
    assert httpx.get(f"{worker.url}/stories/s-nothing", timeout=10).status_code == 404
    assert httpx.get(f"{worker.url}/stories", params={"window": "soon"}, timeout=10).status_code == 400
    assert cli_main(["stories", "--url", worker.url, "--at", _iso(published + timedelta(hours=1))]) == 0
    assert stories_of[leads[0]["id"]] in capsys.readouterr().out.splitlines()[1]

    metrics = httpx.get(f"{worker.url}/metrics", timeout=10).text
    assert 'newsstreams_deadletters_total{stage="parse"} 1.0' in metrics
    assert "newsstreams_windows_closed_total" in metrics
    # Each stage's own CPU is counted, so an operator can see where a worker's time goes.
    stage_cpu = {line.split('"')[1]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("newsstreams_stage_cpu_seconds_total{")}
    assert set(stage_cpu) == {"parse", "enrich", "story", "route", "aggregate"}
    assert all(seconds > 0 for seconds in stage_cpu.values()), stage_cpu
    process_cpu = next(float(line.split()[1]) for line in metrics.splitlines()
                       if line.startswith("process_cpu_seconds_total "))
    assert process_cpu > sum(stage_cpu.values())


async def test_dashboard_and_api_errors(broker, start_worker):
    worker = start_worker()
    page = httpx.get(f"{worker.url}/", timeout=10)
    assert page.status_code == 200 and "newsstreams" in page.text
    bad = httpx.get(f"{worker.url}/trending", params={"window": "7m"}, timeout=10)
    assert bad.status_code == 400 and "unknown window" in bad.json()["error"]
    bad = httpx.get(f"{worker.url}/trending", params={"type": "CITY"}, timeout=10)
    assert bad.status_code == 400
    for at in ("nan", "inf", "-inf", "yesterday"):
        bad = httpx.get(f"{worker.url}/trending", params={"at": at}, timeout=10)
        assert bad.status_code == 400 and "not a time" in bad.json()["error"], (at, bad.text)
    day = httpx.get(f"{worker.url}/trending", params={"window": "1d", "at": "2015-08-07"}, timeout=10)
    assert day.status_code == 200 and day.json()["start"] == 1438905600, day.text
    missing = httpx.get(f"{worker.url}/entities/per:nobody", timeout=10)
    assert missing.status_code == 404
    hostile = "<img src=x onerror=alert(1)>"
    echoed = httpx.get(f"{worker.url}/entities/{hostile}", timeout=10)
    assert echoed.status_code == 404  # echoed only inside JSON, never as a page
    assert echoed.headers["content-type"].startswith("application/json"), echoed.headers["content-type"]
    assert echoed.json()["error"] == f"no counts for entity {hostile!r}"


async def test_http_api_is_read_only(broker, start_worker):
    worker = start_worker()
    paths = ["/", "/trending", "/entities/loc:ru", "/metrics"]
    before = httpx.get(f"{worker.url}/trending", params={"window": "1d"}, timeout=10).json()
    for path in paths:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = httpx.request(method, f"{worker.url}{path}", content=b'{"items": []}', timeout=10)
            assert response.status_code in (404, 405), (method, path, response.status_code)
    assert httpx.get(f"{worker.url}/trending", params={"window": "1d"}, timeout=10).json() == before


async def test_syndicated_copy_is_marked_and_not_counted_twice(broker, start_worker):
    from .test_dedupe import syndicated_copy

    worker = start_worker()
    original = orjson.loads(_seed_payloads(datetime.now(timezone.utc))[0])
    await produce(broker, topics.RAW, [orjson.dumps(original)])
    await consume(broker, topics.ENRICHED, until=lambda m: len(m) >= 2, timeout=90)
    await produce(broker, topics.RAW, [orjson.dumps(syndicated_copy(original))])
    # Each page is a lead plus the one "read also" article it embeds.
    enriched = values(await consume(broker, topics.ENRICHED, until=lambda m: len(m) >= 4, timeout=90))
    assert len(enriched) == 4
    leads = [a for a in enriched if a["embedded_in"] is None]
    assert len(leads) == 2
    first, copy = leads
    assert first["duplicate_of"] is None and copy["duplicate_of"] == first["id"], worker.log()
    putin = next(e for e in first["entities"] if e["id"] == "per:vladimir-putin")
    embedded_putin = sum(e["mentions"] for a in enriched if a["embedded_in"] for e in a["entities"]
                         if e["id"] == "per:vladimir-putin")
    expected = putin["mentions"] + embedded_putin
    for _ in range(40):
        answer = httpx.get(f"{worker.url}/entities/per:vladimir-putin", timeout=10)
        if answer.status_code == 200 and answer.json()["windows"]["1d"][0]["mentions"] >= expected:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # give a wrongly counted copy the time to show up
    day = httpx.get(f"{worker.url}/entities/per:vladimir-putin", timeout=10).json()["windows"]["1d"]
    assert [point["mentions"] for point in day] == [expected]
