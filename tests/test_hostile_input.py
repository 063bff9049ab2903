"""Hostile input: every message is either processed or rejected with a reason, never a crash."""

from __future__ import annotations

import base64
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

from .conftest import consume, produce, values

NOW = datetime.now(timezone.utc).isoformat()


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
    }


def test_every_hostile_input_is_processed_or_rejected_with_a_reason():
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
        print(f"{name:>24}: {outcome}")
    assert outcomes["invalid utf-8"].startswith("rejected") and "UTF-8" in outcomes["invalid utf-8"]
    assert outcomes["ten megabyte body"].startswith("rejected")
    assert outcomes["bidi overrides"].startswith("processed")
    assert outcomes["zero-width flood"].startswith("processed")


def test_an_article_naming_a_hundred_thousand_people_is_refused_by_size():
    names = " و".join(f"السيد زيد{i}" for i in range(100_000))
    with pytest.raises(RejectedArticle, match="body"):
        Pipeline().process(article(names))


def test_the_longest_accepted_list_of_names_is_capped_and_stays_fast():
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
    started = time.perf_counter()
    try:
        (enriched, *_) = Pipeline().process(payload)
    except RejectedArticle as exc:
        pytest.fail(f"rejected: {exc.reason}")
    print(f"{len(body):,} characters of names: {len(enriched['entities'])} entities kept "
          f"in {time.perf_counter() - started:.1f}s")
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
async def test_worker_accounts_for_every_hostile_message(broker, start_worker):
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
    print(f"hostile corpus: {len(corpus)} messages -> {len(enriched)} articles + {len(dead)} dead letters")


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
