"""The corrections in `streams.fixes`: checked before they are applied, and on exactly where they belong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.fixes import FIXES, Fix, FixError, check_targets
from streams.fixes.faust_fresh_partitions import partitions_to_reset

ROOT = Path(__file__).resolve().parent.parent


def test_a_library_that_lost_a_patched_attribute_stops_the_worker_with_its_name():
    class Upgraded:  # what a library class looks like after the attribute was renamed
        pass

    gone = Fix("an example", "faust", Upgraded, "_flush_soon", lambda: None, "why it was needed")
    with pytest.raises(FixError, match=r"Upgraded\._flush_soon no longer exists.*why it was needed"):
        check_targets([*FIXES, gone])
    check_targets()  # the installed libraries have every target


def _fixes_applied_in_a_worker(embedded: str) -> list[str]:
    script = (
        "import orjson\n"
        "from streams.runtime import build_app\n"
        "from streams.settings import Settings\n"
        "from streams.fixes import FIXES\n"
        "build_app(Settings.from_env())\n"
        "print(orjson.dumps([f.name for f in FIXES if f.applied()]).decode())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BROKER"}
    env["NEWSSTREAMS_EMBEDDED_BROKER"] = embedded
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout.strip().splitlines()[-1])


def test_a_worker_on_kafka_gets_only_the_library_corrections():
    assert set(_fixes_applied_in_a_worker("0")) == {f.name for f in FIXES if f.corrects != "tansu"}


def test_a_worker_on_the_embedded_broker_gets_every_correction():
    assert set(_fixes_applied_in_a_worker("1")) == {f.name for f in FIXES}


def test_never_committed_and_committed_at_zero_partitions_are_told_apart():
    never, at_zero = partitions_to_reset({"a": None, "b": -1, "c": 0, "d": 7})
    assert never == ["a", "b"] and at_zero == ["c"]


@pytest.mark.broker
@pytest.mark.timeout(60)
async def test_a_producer_still_delivers_to_known_topics_after_writing_to_a_new_one(broker, monkeypatch):
    """A batch queued for a topic, then a first send to a topic the producer never saw: both arrive."""
    import asyncio

    from aiokafka import AIOKafkaProducer
    from aiokafka.client import AIOKafkaClient

    from streams.fixes import aiokafka_tracked_topics
    from streams.kafka_io import ensure_topics

    monkeypatch.setattr(AIOKafkaClient, "_wait_on_metadata", aiokafka_tracked_topics._wait_on_tracked_metadata)
    await ensure_topics(broker, {"articles.enriched.politics": (4, {}), "trending.entities": (4, {})})
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=1000)
    await producer.start()
    try:
        await (await producer.send("trending.entities", b"known from the first metadata"))
        section = await producer.send("articles.enriched.politics", b"queued, lingering")
        new = await producer.send("articles.enriched.invented-beat", b"a category new rules brought")
        for delivery in (new, section):
            # without the correction the section's copy never leaves: its topic dropped out of the metadata
            await asyncio.wait_for(asyncio.shield(delivery), 15)
    finally:
        if not section.done():
            section.cancel()
            producer._sender._sender_task.cancel()  # its flush would wait for the stuck batch forever
        await asyncio.wait_for(producer.stop(), 15)
