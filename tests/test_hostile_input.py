"""Hostile input: every message is either processed or rejected with a reason, never a crash."""

from __future__ import annotations

import base64
import functools
import json
import time
from datetime import datetime, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import topics
from streams.contracts import validation_errors
from streams.pipeline import MAX_ENTITIES, Pipeline, RejectedArticle
from streams.trending.windows import WindowSpec

from .conftest import consume, produce, values

NOW = datetime.now(timezone.utc).isoformat()
WINDOWS_FOR_FUZZING = (WindowSpec(300), WindowSpec(3600, 1800))


def article(body: str, **extra) -> bytes:
    return orjson.dumps({"url": "https://example.org/x", "source": "example", "title": "", "body": body,
                         "published_at": NOW, **extra})


def hostile_corpus() -> dict[str, bytes]:
    sentence = "قال وزير الخارجية الروسي سيرجي لافروف إن موسكو مستعدة لمحادثات جديدة مع أوكرانيا. "
    return {
        "invalid utf-8": b'{"url": "u", "body": "\xff\xfe\xfd"}',
        "nul bytes": article("نص\x00فيه\x00أصفار " * 20),
        "ten megabyte body": article("ا" * 10_000_000),
        "deeply nested json": b"[" * 100_000 + b"]" * 100_000,
        "wrong types": orjson.dumps({"url": 5, "source": [], "title": {}, "body": 7, "published_at": True}),
        "bidi overrides": article("\u202e" + sentence * 3 + "\u202c\u2066" + sentence + "\u2069"),
        "zero-width flood": article("\u200b" * 100_000 + sentence),
        "only zero-width": article("\u200b\u200c\u200d\ufeff" * 10_000),
        "binary": bytes(range(256)) * 50,
        "empty": b"",
        "json null": b"null",
        "huge tag list": article(sentence, tags=["وسم"] * 10_000),
        "bad date": article(sentence, published_at="next tuesday"),
        "emoji and mixed scripts": article("🚀 " + sentence + " 北京 Москва Ελλάδα " + sentence),
        "rss with external entity": (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                                     b'<rss version="2.0"><channel><item><title>&x;</title></item></channel></rss>'),
        "json with external entity text": article(sentence, title='<!ENTITY x SYSTEM "file:///etc/passwd">&x;'),
    }


def test_every_hostile_input_is_processed_or_rejected_with_a_reason(figures):
    pipeline = Pipeline()
    outcomes = {}
    for name, payload in hostile_corpus().items():
        try:
            produced = pipeline.process(payload)
        except RejectedArticle as exc:
            assert exc.reason, name
            outcomes[name] = f"rejected: {exc.reason[:60]}"
            continue
        for enriched in produced:
            assert validation_errors(enriched) == [], name
            assert not any(ch in enriched["body"] for ch in "\u202e\u202c\u2066\u2069\u200b\x00"), name
        outcomes[name] = f"processed: {len(produced)} article(s)"
    for name, outcome in outcomes.items():
        print(f"{name:>30}: {outcome}")
    processed = sum(outcome.startswith("processed") for outcome in outcomes.values())
    figures(f"{len(outcomes)} hostile inputs: {processed} processed, {len(outcomes) - processed} rejected with a reason")
    assert outcomes["invalid utf-8"].startswith("rejected") and "UTF-8" in outcomes["invalid utf-8"]
    assert outcomes["ten megabyte body"].startswith("rejected")
    assert outcomes["bidi overrides"].startswith("processed")
    assert outcomes["zero-width flood"].startswith("processed")


def test_an_article_naming_a_hundred_thousand_people_is_refused_by_size():
    names = " و".join(f"السيد زيد{i}" for i in range(100_000))
    with pytest.raises(RejectedArticle, match="body"):
        Pipeline().process(article(names))


def test_the_longest_accepted_list_of_names_is_capped_and_stays_fast(figures):
    firsts = ["أحمد", "خالد", "سالم", "ماجد", "نبيل", "وليد", "سمير", "جمال", "كمال", "هشام", "طارق", "ياسر",
              "عادل", "فيصل", "ناصر", "حسام", "رامي", "باسل", "زياد", "مازن", "عمر", "يوسف", "إبراهيم", "منير"]
    lasts = ["العبيدي", "الحسني", "القرشي", "الزبيدي", "التميمي", "الشمري", "الدوري", "الجبوري", "العنزي",
             "المطيري", "الحربي", "الغامدي", "الزهراني", "القحطاني", "الشهري", "العتيبي", "الدوسري", "السبيعي",
             "الرشيدي", "البلوي", "الجهني", "الأحمدي", "السلمي", "الثقفي", "الهاشمي", "الكناني", "البكري",
             "النعيمي", "الكعبي", "المري", "الخالدي", "السويدي", "الفلاسي", "المهيري", "الظاهري", "النقبي",
             "الحمادي", "الكتبي", "الشامسي", "المنصوري", "الرميثي", "القبيسي", "المزروعي", "الهاملي", "البلوشي"]
    names = "، و".join(f"الوزير {first} {last}" for first in firsts for last in lasts) + ". "
    body = (names * 20)[:199_000]
    payload = article(body)
    pipeline = Pipeline()
    pipeline.extractor  # load the model outside the measurement
    started = time.process_time()
    try:
        (enriched, *_) = pipeline.process(payload)
    except RejectedArticle as exc:
        pytest.fail(f"rejected: {exc.reason}")
    figures(f"{len(body):,} characters of names: {len(enriched['entities'])} entities kept "
            f"in {time.process_time() - started:.1f}s CPU")
    assert len(enriched["entities"]) == MAX_ENTITIES
    assert len(orjson.dumps(enriched)) < 5 * 1024 * 1024


@settings(max_examples=150, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
))
def test_fuzzed_json_values_never_crash_the_pipeline(value):
    try:
        Pipeline().process(json.dumps(value).encode())
    except RejectedArticle:
        pass


@pytest.mark.broker
@pytest.mark.timeout(240)
async def test_worker_accounts_for_every_hostile_message(broker, start_worker, figures):
    worker = start_worker()
    corpus = hostile_corpus()
    corpus.pop("ten megabyte body")  # larger than the broker's default message limit
    pipeline = Pipeline()
    expected_articles = 0
    expected_dead = 0
    for payload in corpus.values():
        try:
            expected_articles += len(pipeline.process(payload))
        except RejectedArticle:
            expected_dead += 1
    await produce(broker, topics.RAW, list(corpus.values()))
    dead = values(await consume(broker, topics.DEADLETTER, until=lambda m: len(m) >= expected_dead, timeout=120))
    enriched = await consume(broker, topics.ENRICHED, until=lambda m: len(m) >= expected_articles, timeout=120)
    assert len(dead) == expected_dead, worker.log()
    assert len(enriched) == expected_articles
    originals = {base64.b64decode(record["original_b64"]) for record in dead}
    assert originals <= set(corpus.values())
    assert worker.process.poll() is None, "the worker died"
    figures(f"hostile corpus on the broker: {len(corpus)} messages -> {len(enriched)} articles "
            f"+ {len(dead)} dead letters, worker alive")


@pytest.mark.broker
@pytest.mark.timeout(180)
async def test_fixed_dead_letters_are_replayed_and_processed(broker, start_worker, tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    worker = start_worker()
    broken = b'{"url": "https://example.org/fixme", "source": "example", "title": "", "body": 7}'
    await produce(broker, topics.RAW, [broken])
    (record,) = values(await consume(broker, topics.DEADLETTER, until=lambda m: len(m) >= 1, timeout=60))
    assert "body" in record["reason"]
    fixed = orjson.loads(broken)
    fixed["body"] = "قال وزير الخارجية الروسي سيرجي لافروف إن موسكو مستعدة لمحادثات جديدة مع أوكرانيا."
    record["original"] = orjson.dumps(fixed).decode()
    replay_file = tmp_path / "fixed.jsonl"
    replay_file.write_bytes(orjson.dumps(record) + b"\n")
    env = {**os.environ, "KAFKA_BROKER": f"kafka://{broker}"}
    result = subprocess.run([sys.executable, "-m", "streams", "deadletter", "replay", str(replay_file)],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 0 and "replayed 1 to articles.raw" in result.stderr, result.stderr
    (enriched,) = values(await consume(broker, topics.ENRICHED, until=lambda m: len(m) >= 1, timeout=60))
    assert enriched["url"] == "https://example.org/fixme", worker.log()
    assert "per:sergey-lavrov" in {e["id"] for e in enriched["entities"]}


def test_replay_file_errors_name_the_line(tmp_path, capsys, monkeypatch):
    from streams.cli import main

    monkeypatch.setenv("KAFKA_BROKER", "kafka://127.0.0.1:1")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"schema": "dead_letter/1", "original_b64": "AA=="}\n{"not": "a record"}\n')
    assert main(["deadletter", "replay", str(bad)]) == 2
    assert "line 2: not a dead-letter record" in capsys.readouterr().err


# --- Fuzzing every decoder: each one either returns or raises its own refusal --

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzzed_bytes_are_decoded_or_refused(payload):
    from streams.text.decode import decode_raw

    try:
        article = decode_raw(payload)
    except RejectedArticle as exc:
        assert exc.reason
    else:
        assert isinstance(article, dict) and article["url"] and article["source"]


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    field: _json_values | st.text() for field in ("url", "source", "title", "body", "html", "published_at",
                                                   "id", "language", "tags")
}))
def test_fuzzed_article_fields_never_crash_the_pipeline(fields):
    try:
        produced = Pipeline().process(json.dumps(fields).encode())
    except RejectedArticle:
        return
    for enriched in produced:
        assert validation_errors(enriched) == []


@functools.cache
def _shared_knowledge_base():
    """Loaded once: the records a fuzz run applies pile up in it, as on a long-running worker."""
    from streams.entities.kb import KnowledgeBase

    return KnowledgeBase.packaged()


@functools.cache
def _shared_rules_watcher():
    from streams.routing.watcher import RulesWatcher

    return RulesWatcher()


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.binary(max_size=40)), st.one_of(
    st.none(), st.binary(max_size=300),
    st.fixed_dictionaries({"id": st.sampled_from(["per:x-y", "org:a", "loc:z", "bad"]) | _json_values},
                          optional={"type": _json_values | st.sampled_from(["PER", "ORG", "LOC"]),
                                    "name": _json_values, "names": _json_values, "aliases": _json_values,
                                    "merge": _json_values}).map(lambda r: json.dumps(r).encode()),
))
def test_fuzzed_knowledge_base_records_are_applied_or_refused(key, value):
    from streams.entities.kb_updates import KbRecordError, apply_record

    try:
        assert apply_record(_shared_knowledge_base(), key, value)
    except KbRecordError as exc:
        assert str(exc)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=500), st.text(max_size=500).map(str.encode),
                 _json_values.map(lambda v: json.dumps({"categories": v}).encode())))
def test_fuzzed_routing_rules_documents_are_used_or_refused(document):
    from streams.routing.rules_file import RulesError

    try:
        _shared_rules_watcher().apply_document(document, source="fuzz")
    except RulesError as exc:
        assert str(exc)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=200), _json_values.map(lambda v: json.dumps(
    {"schema": "dead_letter/1", "original_b64": v}).encode())), max_size=4))
def test_fuzzed_replay_files_are_read_or_refused_by_line(lines):
    from streams.deadletter import ReplayError, replay_messages

    try:
        messages = replay_messages(lines, topics.RAW)
    except ReplayError as exc:
        assert str(exc).startswith("line ")
    else:
        assert all(isinstance(replay.value, bytes) for replay in messages)


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    st.binary(max_size=1000),
    st.builds(lambda title, body, date: (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<item><title>{title}</title><description>{body}</description><pubDate>{date}</pubDate>"
        f"<link>https://example.org/{title}</link></item></channel></rss>").encode("utf-8", "surrogatepass"),
        st.text(max_size=30), st.text(max_size=200), st.text(max_size=30)),
))
def test_fuzzed_feeds_are_read_or_refused(data):
    from streams.ingest.fetch import IngestError
    from streams.ingest.sources import parse_feed

    try:
        items = parse_feed(data, origin="fuzz")
    except IngestError as exc:
        assert str(exc)
    else:
        for item in items:
            orjson.loads(item.value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["entity_id", "article_id", "mentions", "event_ts", "name", "type", "source"]),
                       _json_values, max_size=7))
def test_fuzzed_mention_records_count_whole_or_change_nothing(record):
    """What the aggregate stage does with a mention: counted in every window, or refused untouched."""
    from streams.trending.windows import count_mention

    store: dict = {}
    try:
        count_mention(store, record, WINDOWS_FOR_FUZZING, watermark=None)
    except Exception:  # the agent dead-letters any error: what matters is that nothing was half-counted
        assert store == {}
    else:
        # One pane holds the mention for every window over it (none where no window can hold
        # the time, as for a float too large to place).
        if any(spec.starts(float(record["event_ts"])) for spec in WINDOWS_FOR_FUZZING):
            (pane,) = store.values()
            assert pane["mentions"] == int(record["mentions"]) and pane["articles"] == [record["article_id"]]
        else:
            assert store == {}


def test_a_date_far_in_the_future_does_not_move_stream_time():
    """One article dated 9999 would otherwise close every window and make all later articles late."""
    from streams.pipeline import mentions_of

    sentence = "قال وزير الخارجية الروسي سيرجي لافروف إن موسكو مستعدة لمحادثات جديدة مع أوكرانيا."
    ingested = "2026-11-20T08:00:00Z"
    (future,) = Pipeline().process(article(sentence, published_at="9999-12-31T00:00:00Z"), ingested_at=ingested)
    (tomorrow,) = Pipeline().process(article(sentence + " غدا", published_at="2026-11-21T07:00:00Z"),
                                     ingested_at=ingested)
    assert future["published_at"] == "9999-12-31T00:00:00Z"  # kept for readers, not used as event time
    assert {m["event_time"] for m in mentions_of(future)} == {ingested}
    assert {m["event_time"] for m in mentions_of(tomorrow)} == {"2026-11-21T07:00:00Z"}


@pytest.mark.broker
@pytest.mark.timeout(180)
async def test_output_too_large_for_a_message_is_dead_lettered_and_the_stream_goes_on(broker, start_worker, figures):
    """A 350 KB article naming one country 50,000 times enriches to over 1 MB (a span per mention),
    and unknown fields are carried along: neither may stop the agent that cannot send its output."""
    worker = start_worker()
    body = ("مصر " * 50_000)[:199_000]
    names_egypt_everywhere = article(body)
    carries_a_large_field = article("قال بوتين إن موسكو مستعدة للمحادثات.", blob="x" * 1_015_000)
    small = article("قال وزير الخارجية الروسي سيرجي لافروف إن موسكو مستعدة لمحادثات جديدة مع أوكرانيا.")
    await produce(broker, topics.RAW, [names_egypt_everywhere, carries_a_large_field, small])
    enriched = values(await consume(broker, topics.ENRICHED, until=lambda m: len(m) >= 1, timeout=90))
    dead = values(await consume(broker, topics.DEADLETTER, until=lambda m: len(m) >= 2, timeout=60))
    assert [a["body"] for a in enriched] == [orjson.loads(small)["body"]], worker.log()
    assert sorted(record["stage"] for record in dead) == ["enrich", "parse"], worker.log()
    assert all("could not be sent" in record["reason"] for record in dead)
    assert worker.process.poll() is None, "the worker died"
    figures(f"outputs over the message limit: {len(dead)} dead letters "
            f"({', '.join(str(r['original_size']) + ' B at ' + r['stage'] for r in dead)}), next article enriched")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["schema", "article_id", "mentions"]), _json_values, max_size=3)
       | st.fixed_dictionaries({"mentions": st.lists(st.dictionaries(
           st.sampled_from(["entity_id", "article_id", "mentions", "event_ts"]), _json_values, max_size=4), max_size=3)}))
def test_fuzzed_mention_batches_are_read_or_refused_with_a_reason(message):
    """The aggregate stage's decoder: a list of countable mentions, or a ValueError saying why not."""
    from streams.trending.mention_batch import read_mention_batch

    try:
        mentions = read_mention_batch(message)
    except ValueError as exc:
        assert str(exc)
    else:
        assert mentions and all(float(m["event_ts"]) == float(m["event_ts"]) for m in mentions)
