"""The embedded broker starts, answers Kafka clients, and never outlives its owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.broker import EmbeddedBroker
from streams.fixes.tansu_end_offsets import fetched_high_watermarks

from .conftest import consume, produce

# Every test here starts the embedded broker (or stands on the `broker` fixture).
pytestmark = [pytest.mark.timeout(60), pytest.mark.broker]


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


async def test_round_trip_on_embedded_broker():
    with EmbeddedBroker() as broker:
        await produce(broker.bootstrap, "roundtrip", [b"one", b"two"])
        got = await consume(broker.bootstrap, "roundtrip", until=lambda m: len(m) >= 2, timeout=20)
        assert sorted(m.value for m in got) == [b"one", b"two"]


def test_stopped_on_exception():
    with pytest.raises(RuntimeError):
        with EmbeddedBroker() as broker:
            pid = broker._process.pid
            raise RuntimeError("boom")
    assert _gone(pid)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_no_orphan_when_owner_dies(sig):
    script = (
        "import signal, sys, time\n"
        # Ctrl-C as in a terminal, whatever the test runner's own process ignores or blocks.
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from streams.broker import EmbeddedBroker\n"
        "with EmbeddedBroker() as b:\n"
        "    print(b._process.pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(owner.stdout.readline())
        assert psutil.pid_exists(pid)
        os.kill(owner.pid, sig)
        owner.wait(timeout=30)
        assert _gone(pid), f"broker {pid} outlived its owner after {sig!r}"
    finally:
        if owner.poll() is None:
            owner.kill()


async def test_table_recovery_end_is_the_last_record_whatever_the_listed_end(broker):
    """Three batches of ten records: recovery must read to offset 30 even where ListOffsets says less."""
    producer = AIOKafkaProducer(bootstrap_servers=broker, linger_ms=50)
    await producer.start()
    try:
        for batch in range(3):
            futures = [await producer.send("batches", value=b"%d" % (batch * 10 + i), partition=0) for i in range(10)]
            await producer.flush()
            for future in futures:
                await future
    finally:
        await producer.stop()
    tp = TopicPartition("batches", 0)
    lister = AIOKafkaConsumer(bootstrap_servers=broker)
    await lister.start()
    try:
        listed = (await lister.end_offsets([tp]))[tp]
    finally:
        await lister.stop()
    fetched = await fetched_high_watermarks([broker], {tp: listed})
    assert listed <= 30
    assert fetched[tp] == 30
