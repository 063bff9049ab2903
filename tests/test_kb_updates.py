"""Knowledge-base changes at run time through the compacted entities.kb topic."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from datetime import datetime, timezone

import httpx
import orjson
import pytest

from streams import topics
from streams.contracts import validation_errors
from streams.entities.extract import EntityExtractor
from streams.entities.kb import KnowledgeBase
from streams.entities.kb_updates import KbRecordError, apply_record, kb_record

from .conftest import ROOT, consume, produce, values

INVENTED = kb_record("per:zaid-al-ubaidi", "PER", "Zaid al-Ubaidi", ["زيد العبيدي", "زيد العبيدى"],
                     names={"ar": "زيد العبيدي"})
BODY = ("قال زيد العبيدي رئيس اللجنة المحلية إن الأعمال ستبدأ الشهر المقبل. "
        "وأضاف العبيدي أن التمويل متوفر بالكامل وأن المشروع يخدم آلاف السكان في المنطقة.")


def fresh_extractor() -> EntityExtractor:
    return EntityExtractor(kb=KnowledgeBase.packaged())


def ids(extractor, body=BODY) -> set[str]:
    return {entity["id"] for entity in extractor.extract(body)}


def test_record_matches_its_schema():
    assert validation_errors(INVENTED) == []


def test_added_entity_is_found_and_removed_entity_is_not():
    extractor = fresh_extractor()
    assert "per:zaid-al-ubaidi" not in ids(extractor)
    assert apply_record(extractor.kb, b"per:zaid-al-ubaidi", orjson.dumps(INVENTED)) == "set per:zaid-al-ubaidi"
    found = {e["id"]: e for e in extractor.extract(BODY)}
    assert found["per:zaid-al-ubaidi"]["mentions"] == 2  # the surname alone attaches too
    assert apply_record(extractor.kb, b"per:zaid-al-ubaidi", None) == "removed per:zaid-al-ubaidi"
    assert "per:zaid-al-ubaidi" not in ids(extractor)


def test_merge_teaches_a_known_entity_a_new_spelling():
    extractor = fresh_extractor()
    body = "وصل الرئيس بوطين إلى العاصمة في زيارة رسمية تستمر يومين."
    assert "per:vladimir-putin" not in ids(extractor, body)
    merge = kb_record("per:vladimir-putin", "PER", "Vladimir Putin", ["بوطين"], merge=True)
    apply_record(extractor.kb, b"per:vladimir-putin", orjson.dumps(merge))
    assert "per:vladimir-putin" in ids(extractor, body)
    assert "per:vladimir-putin" in ids(extractor, "التقى فلاديمير بوتين نظيره.")  # old aliases kept


@pytest.mark.parametrize("key, value, reason", [
    (b"per:x", b"{not json", "not JSON"),
    (b"per:x", b"[1]", "expected a JSON object"),
    (b"per:x", orjson.dumps({**INVENTED, "id": "per:zaid-al-ubaidi"}), "differs from the record's id"),
    (b"per:zaid-al-ubaidi", orjson.dumps({**INVENTED, "type": "ORG"}), "must be 'PER'"),
    (b"person:x", orjson.dumps({**INVENTED, "id": "person:x"}), "must look like"),
    (b"per:zaid-al-ubaidi", orjson.dumps({**INVENTED, "name": ""}), "name"),
    (None, None, "tombstone needs an entity id"),
])
def test_bad_records_say_why(key, value, reason):
    with pytest.raises(KbRecordError, match=reason):
        apply_record(fresh_extractor().kb, key, value)


def test_cli_validates_before_publishing(monkeypatch, capsys):
    from streams.cli import main

    monkeypatch.setenv("KAFKA_BROKER", "kafka://127.0.0.1:1")
    assert main(["kb", "add", "--id", "per:x y", "--type", "PER", "--name", "X"]) == 2
    assert "must look like" in capsys.readouterr().err


@pytest.mark.broker
@pytest.mark.timeout(180)
async def test_workers_pick_up_kb_changes_without_restart(broker, start_worker):
    worker = start_worker()
    env = {**os.environ, "KAFKA_BROKER": f"kafka://{broker}"}
    added = subprocess.run(
        [sys.executable, "-m", "streams", "kb", "add", "--id", "per:zaid-al-ubaidi", "--type", "PER",
         "--name", "Zaid al-Ubaidi", "--alias", "زيد العبيدي", "--ar", "زيد العبيدي"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )
    assert added.returncode == 0, added.stderr
    await produce(broker, topics.KB, [b"{broken"], keys=[b"per:broken"])
    for _ in range(60):
        metrics = httpx.get(f"{worker.url}/metrics", timeout=10).text
        if "newsstreams_kb_updates_total 1.0" in metrics:
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"worker never applied the kb record\n{worker.log()}")
    raw = {"url": "https://example.org/local", "source": "example", "title": "", "body": BODY,
           "published_at": datetime.now(timezone.utc).isoformat()}
    await produce(broker, topics.RAW, [orjson.dumps(raw)])
    (article,) = values(await consume(broker, topics.ENRICHED, until=lambda m: len(m) >= 1, timeout=60))
    assert "per:zaid-al-ubaidi" in {e["id"] for e in article["entities"]}
    dead = values(await consume(broker, topics.DEADLETTER, until=lambda m: len(m) >= 1, timeout=30))
    assert dead[0]["stage"] == "kb" and base64.b64decode(dead[0]["original_b64"]) == b"{broken"
