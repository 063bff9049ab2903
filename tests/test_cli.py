"""The command line as a user meets it: outputs, contracts and error messages."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import orjson
import pytest

from streams.broker import free_port
from streams.cli import main
from streams.contracts import validation_errors
from streams.settings import LIBRARY_LOGGERS, pin_library_log_levels

from .conftest import ROOT, SEEDS

pytestmark = pytest.mark.timeout(120)


def cli(*args: str, env: dict | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args], capture_output=True, text=True, timeout=timeout,
        cwd=ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
    )


def test_process_prints_one_valid_enriched_article_per_line(capsys):
    assert main(["process", *map(str, SEEDS)]) == 0
    lines = capsys.readouterr().out.splitlines()
    articles = [orjson.loads(line) for line in lines]
    # Two pages, each with one embedded "read also" article.
    assert len(articles) == 4
    for article in articles:
        assert validation_errors(article) == [], article["id"]
    assert sum(a["embedded_in"] is None for a in articles) == 2


def test_process_reports_rejected_input(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"url": "u", "source": "s", "title": "t"}\nnot json\n')
    assert main(["process", "--strict", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.jsonl:1" in err and "bad.jsonl:2" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["process", "/no/such/page.txt"], "no such file"),
        (["process", "notes.pdf"], "unsupported file type"),
        (["eval-ner", "/no/such.conll"], "no such file"),
    ],
)
def test_clear_errors_for_unreadable_inputs(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_commands_needing_a_broker_say_so(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("KAFKA_BROKER", raising=False)
    monkeypatch.setenv("NEWSSTREAMS_DATA_DIR", str(tmp_path))
    assert main(["produce", str(SEEDS[0])]) == 2
    assert "KAFKA_BROKER is not set" in capsys.readouterr().err
    assert main(["consume", "articles.raw"]) == 2
    assert "KAFKA_BROKER is not set" in capsys.readouterr().err


def test_unreachable_broker_and_worker_fail_fast():
    dead = f"kafka://127.0.0.1:{free_port()}"
    result = cli("produce", "--quiet", str(SEEDS[0]), env={"KAFKA_BROKER": dead})
    assert result.returncode == 2 and "cannot connect to Kafka" in result.stderr
    result = cli("trending", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2 and "cannot reach a worker" in result.stderr


def test_bad_arguments_are_rejected_with_usage():
    result = cli("run", "--web-port", "99999")
    assert result.returncode == 2 and "not a TCP port" in result.stderr
    result = cli("produce", "x.txt", "--every", "soon")
    assert result.returncode == 2 and "not a duration" in result.stderr
    result = cli("consume", "articles.raw", "--limit", "0")
    assert result.returncode == 2 and "must be positive" in result.stderr


def test_worker_log_level_holds_for_kafka_and_faust_loggers_under_a_debug_root():
    """Faust's spinner opens the root logger to DEBUG; per-send debug records must stay unbuilt."""
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    try:
        pin_library_log_levels("warn")
        root.setLevel(logging.DEBUG)
        sender = logging.getLogger("aiokafka.producer.producer")
        assert not sender.isEnabledFor(logging.DEBUG) and not sender.isEnabledFor(logging.INFO)
        assert sender.isEnabledFor(logging.WARNING)
        pin_library_log_levels("debug")
        assert logging.getLogger("faust.transport").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def test_eval_ner_last_line_is_json(tmp_path, capsys):
    conll = tmp_path / "tiny.conll"
    conll.write_text("فلاديمير B-PERS\nبوتين I-PERS\nفي O\nموسكو B-LOC\n. O\n\n", encoding="utf-8")
    assert main(["eval-ner", str(conll)]) == 0
    out = capsys.readouterr().out
    summary = orjson.loads(out.strip().splitlines()[-1])
    assert 0.0 <= summary["micro_f1"] <= 1.0
    assert "PER" in out


@pytest.mark.broker
def test_produce_then_consume_on_the_embedded_broker(broker):
    env = {"KAFKA_BROKER": f"kafka://{broker}"}
    produced = cli("produce", "--quiet", str(SEEDS[0].parent), env=env)
    assert produced.returncode == 0, produced.stderr
    assert "published 2 messages to articles.raw" in produced.stderr
    consumed = cli("consume", "articles.raw", "--from-beginning", "--limit", "2", env=env)
    assert consumed.returncode == 0, consumed.stderr
    raws = [orjson.loads(line) for line in consumed.stdout.splitlines()]
    assert len(raws) == 2
    for raw in raws:
        assert validation_errors(raw, "raw_article/1") == []
        assert raw["body"].startswith("التقى الرئيس الروسي فلاديمير بوتين")


def test_a_worker_loads_its_models_before_the_first_article():
    """Loaded lazily, the models would make the first article wait and be charged to one stage's CPU."""
    script = (
        "from streams.entities.extract import EntityExtractor\n"
        "from streams.pipeline import Pipeline\n"
        "from streams.text import language\n"
        "pipeline = Pipeline()\n"
        "assert language._identifier is None and EntityExtractor.default.cache_info().currsize == 0\n"
        "pipeline.warm()\n"
        "assert language._identifier is not None and EntityExtractor.default.cache_info().currsize == 1\n"
        "assert pipeline.rules().category_ids\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_worker_command_warms_the_models_before_it_starts_the_app(monkeypatch):
    from types import SimpleNamespace

    import streams.runtime
    from streams.cli import running
    from streams.settings import Settings

    calls = []
    runtime = SimpleNamespace(pipeline=SimpleNamespace(warm=lambda: calls.append("warm")),
                              app=SimpleNamespace(main=lambda: calls.append("main")))
    monkeypatch.setattr(streams.runtime, "build_app", lambda settings: calls.append("build") or runtime)
    monkeypatch.setattr(running, "_check_web_port", lambda host, port: None)
    monkeypatch.setattr(running, "_create_topics", lambda built: calls.append("topics"))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert running._start_worker(SimpleNamespace(web_port=None, loglevel="warn"), Settings()) == 0
    assert calls == ["build", "warm", "topics", "main"]


def _rss_of_children_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


@pytest.mark.broker
def test_one_oversized_or_unreadable_input_never_stops_the_rest(broker, tmp_path):
    """A 1.2 MB page goes through (Kafka's 1 MB default would refuse it); what is over 5 MiB is named and left out."""
    env = {"KAFKA_BROKER": f"kafka://{broker}"}
    folder = tmp_path / "feeds"
    folder.mkdir()
    paragraph = "<p>" + "قال الرئيس في مؤتمر صحفي إن المحادثات ستستمر. " * 20 + "</p>\n"
    (folder / "a-large.html").write_text("<html><body>" + paragraph * (1_200_000 // len(paragraph.encode())) + "</body></html>")
    (folder / "b-huge.txt").write_bytes("ن".encode() * (3 * 1024 * 1024))  # 6 MiB
    lines = [orjson.dumps({"url": f"https://example.org/{i}", "source": "s", "title": "t", "body": "نص",
                           "published_at": "2026-11-20T00:00:00Z"}) for i in range(3)]
    huge_line = orjson.dumps({"url": "https://example.org/huge", "source": "s", "title": "t", "body": "x" * 20_000_000})
    (folder / "c-articles.jsonl").write_bytes(b"\n".join([lines[0], huge_line, lines[1], lines[2]]) + b"\n")
    vanished = folder / "d-vanished.txt"
    vanished.symlink_to(tmp_path / "deleted-meanwhile.txt")
    produced = cli("produce", "--quiet", str(folder), env=env)
    assert produced.returncode == 1, produced.stderr
    assert "Traceback" not in produced.stderr
    assert f"skipped {folder / 'b-huge.txt'}: 6.0 MiB is over the 5.0 MiB limit for .txt files" in produced.stderr
    assert f"skipped {folder / 'c-articles.jsonl'}:2: line of 19.1 MiB is over" in produced.stderr
    assert f"skipped {vanished}: " in produced.stderr
    assert "published 4 messages to articles.raw; 3 left out (listed above)" in produced.stderr
    assert _rss_of_children_mb() < 500
    consumed = cli("consume", "articles.raw", "--from-beginning", "--limit", "4", env=env)
    sizes = sorted(len(line.encode()) for line in consumed.stdout.splitlines())
    assert len(sizes) == 4 and sizes[-1] > 1_000_000


@pytest.mark.broker
def test_a_dead_letter_without_its_original_is_read_back_or_left_out(broker, tmp_path):
    """An original too large to copy into its dead letter is read back from its offset, never replayed empty."""
    from streams.kafka_io import ensure_topics

    env = {"KAFKA_BROKER": f"kafka://{broker}"}
    asyncio.run(ensure_topics(broker, {"articles.raw": (1, {})}))
    page = tmp_path / "page.txt"
    page.write_text("قال الرئيس إن المحادثات ستستمر.")
    assert cli("produce", "--quiet", str(page), env=env).returncode == 0
    record = {"schema": "dead_letter/1", "stage": "parse", "reason": "too large", "original_b64": "",
              "original_size": 5_000_000, "key_b64": None, "topic": "articles.raw", "partition": 0}
    gone = {**record, "offset": 99}
    dead = tmp_path / "dead.jsonl"
    dead.write_bytes(orjson.dumps({**record, "offset": 0}) + b"\n" + orjson.dumps(gone) + b"\n")
    replayed = cli("deadletter", "replay", str(dead), env=env)
    assert replayed.returncode == 1, replayed.stderr
    assert f"skipped {dead}:2: the original (5,000,000 bytes) was too large" in replayed.stderr
    assert "articles.raw/0@99" in replayed.stderr and "replayed 1 to articles.raw; 1 left out" in replayed.stderr
    consumed = cli("consume", "articles.raw", "--from-beginning", "--limit", "2", env=env)
    bodies = [orjson.loads(line)["body"] for line in consumed.stdout.splitlines()]
    assert bodies == ["قال الرئيس إن المحادثات ستستمر."] * 2


@pytest.mark.broker
def test_a_misspelt_topic_fails_at_once_naming_the_topics_there_are(broker):
    env = {"KAFKA_BROKER": f"kafka://{broker}"}
    assert cli("produce", "--quiet", str(SEEDS[0]), env=env).returncode == 0
    result = cli("consume", "articles.rwa", "--limit", "1", env=env, timeout=30)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "topic 'articles.rwa' does not exist. Did you mean 'articles.raw'?" in result.stderr
    assert "Topics on this broker: articles.raw" in result.stderr


def test_a_busy_web_port_is_one_line_and_exit_2(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("run", "--web-port", str(port), env={"NEWSSTREAMS_DATA_DIR": str(tmp_path)}, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (f"newsstreams run: port {port} on 127.0.0.1 is already in use: choose another "
                                     "with --web-port or NEWSSTREAMS_WEB_PORT")


def test_a_broker_that_accepts_but_never_answers_is_named_with_a_reason(capsys, monkeypatch):
    """In-process, with the connect deadline cut from its 15 s: the wait is what is bounded, not its length."""
    import socket

    from streams import kafka_io

    assert kafka_io.CONNECT_TIMEOUT <= 15
    monkeypatch.setattr(kafka_io, "CONNECT_TIMEOUT", 1.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        monkeypatch.setenv("KAFKA_BROKER", f"kafka://127.0.0.1:{port}")
        assert main(["consume", "articles.raw"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"newsstreams consume: cannot connect to Kafka at 127.0.0.1:{port}: ")
    assert len(line.split(f"127.0.0.1:{port}: ", 1)[1]) > 10, line


@pytest.mark.broker
@pytest.mark.skipif(bool(os.environ.get("KAFKA_BROKER")), reason="finds the embedded broker of `run`")
def test_commands_find_the_broker_and_the_api_of_a_running_run(tmp_path):
    """`produce`, `consume` and `trending` without KAFKA_BROKER use what `newsstreams run` started in the same folder."""
    import signal
    import time

    import httpx

    from streams.broker import die_with_parent

    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BROKER", "NEWSSTREAMS_WEB_PORT")}
    env["NEWSSTREAMS_DATA_DIR"] = str(tmp_path / "data")
    port = free_port()
    log = open(tmp_path / "run.log", "wb")
    run = subprocess.Popen([sys.executable, "-m", "streams", "run", "--web-port", str(port)], env=env, cwd=ROOT,
                           stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           start_new_session=True, preexec_fn=die_with_parent)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert run.poll() is None, (tmp_path / "run.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/trending", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert (tmp_path / "data" / "run.json").exists()

        def beside(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "streams", *args], capture_output=True, text=True,
                                  timeout=90, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)

        produced = beside("produce", "--quiet", str(SEEDS[0]))
        assert produced.returncode == 0, produced.stderr
        consumed = beside("consume", "articles.raw", "--from-beginning", "--limit", "1")
        assert consumed.returncode == 0 and orjson.loads(consumed.stdout)["body"], consumed.stderr
        trending = beside("trending", "--json")
        assert trending.returncode == 0 and "items" in orjson.loads(trending.stdout), trending.stderr
        second = beside("run")
        assert second.returncode == 2 and "already running in this data folder" in second.stderr
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=30)
    assert not (tmp_path / "data" / "run.json").exists(), "the announcement goes with the run"
    after = subprocess.run([sys.executable, "-m", "streams", "produce", str(SEEDS[0])], capture_output=True,
                           text=True, timeout=60, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    assert after.returncode == 2 and "no `newsstreams run` is running here" in after.stderr


@pytest.mark.broker
def test_produce_fetches_private_addresses_only_when_told_to(broker, tmp_path):
    """A URL on loopback (like a worker's /metrics) is refused unless --allow-private-addresses says otherwise."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the handler's name
            body = "<html><head><title>خبر</title></head><body><p>" + "قال الرئيس إن المحادثات ستستمر. " * 20 + "</p></body></html>"
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/story"
    env = {"KAFKA_BROKER": f"kafka://{broker}"}
    try:
        refused = cli("produce", "--quiet", url, env=env)
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert f"skipped {url}: " in refused.stderr and "127.0.0.1" in refused.stderr
        allowed = cli("produce", "--quiet", "--allow-private-addresses", url, env=env)
        assert allowed.returncode == 0 and "published 1 messages" in allowed.stderr, allowed.stderr
    finally:
        server.shutdown()


@pytest.mark.broker
def test_consume_timeout_counts_records_not_progress_heartbeats(broker):
    """A running worker sends heartbeats every few seconds; `--timeout` must still end a quiet consume."""
    import threading
    import time

    from aiokafka import AIOKafkaProducer

    from streams.kafka_io import ensure_topics
    from streams.trending.progress import HEADER

    asyncio.run(ensure_topics(broker, {"articles.enriched": (1, {})}))
    stop = threading.Event()

    def beat() -> None:
        async def run():
            producer = AIOKafkaProducer(bootstrap_servers=broker)
            await producer.start()
            try:
                while not stop.is_set():
                    await producer.send_and_wait("articles.enriched", value=b"", headers=[(HEADER, b"{}")])
                    await asyncio.sleep(0.3)
            finally:
                await producer.stop()
        asyncio.run(run())

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    try:
        started = time.monotonic()
        result = cli("consume", "articles.enriched", "--from-beginning", "--timeout", "2",
                     env={"KAFKA_BROKER": f"kafka://{broker}"}, timeout=60)
        took = time.monotonic() - started
    finally:
        stop.set()
        beating.join(timeout=10)
    assert result.returncode == 0 and result.stdout == "", result.stderr
    assert took < 20, f"consume --timeout 2 took {took:.0f}s with heartbeats arriving"
