"""The command line as a user meets it: outputs, contracts and error messages."""

from __future__ import annotations

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


def test_commands_needing_a_broker_say_so(monkeypatch, capsys):
    monkeypatch.delenv("KAFKA_BROKER", raising=False)
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


def test_eval_ner_last_line_is_json(tmp_path):
    conll = tmp_path / "tiny.conll"
    conll.write_text("فلاديمير B-PERS\nبوتين I-PERS\nفي O\nموسكو B-LOC\n. O\n\n", encoding="utf-8")
    result = cli("eval-ner", str(conll))
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert 0.0 <= summary["micro_f1"] <= 1.0
    assert "PER" in result.stdout


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
    source = (ROOT / "streams" / "cli.py").read_text()
    assert source.index("PIPELINE.warm()") < source.index("app.main()")
