"""The topology is the truth about the chain: the agents, the topics created and the printout agree with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from streams import topics, topology

ROOT = Path(__file__).resolve().parent.parent


def test_the_pipeline_stages_form_one_chain_from_raw_to_trending():
    chain = [s for s in topology.STAGES if not s.every_worker]
    assert [s.name for s in chain] == ["parse", "enrich", "route", "aggregate"]
    assert chain[0].reads == topics.RAW and chain[-1].writes == (topics.TRENDING,)
    for before, after in zip(chain, chain[1:]):
        assert after.reads in before.writes, f"{after.name} reads what {before.name} does not write"


def test_describe_names_every_stage_topic_and_function_in_order():
    text = topology.describe()
    positions = [text.index(f"{s.name}: ") for s in topology.STAGES]
    assert positions == sorted(positions)
    for declared in topology.STAGES:
        assert declared.reads in text
        for name in declared.function_names:
            assert name in text
    assert "streams.trending.windows.advance_windows" in text
    assert "articles.enriched.<category>" in text


def test_topic_names_expand_the_categories_and_keep_the_dead_letters():
    names = topology.topic_names(["politics", "sport"])
    assert {"articles.enriched.politics", "articles.enriched.sport", topics.DEADLETTER} <= set(names)
    assert not any("<category>" in name for name in names)


def test_the_worker_runs_one_agent_per_declared_stage_on_its_topic():
    """Read from a worker's app in a fresh process: its agents and created topics match the declaration."""
    script = (
        "import orjson\n"
        "from streams.runtime import build_app\n"
        "from streams.settings import Settings\n"
        "runtime = build_app(Settings())\n"
        "agents = {a.name.rsplit('.', 1)[-1]: sorted(a.channel.topics) for a in runtime.app.agents.values()}\n"
        "print(orjson.dumps({'agents': agents, 'topics': sorted(runtime.declared_topics(['politics']))}).decode())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BROKER"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = orjson.loads(done.stdout.strip().splitlines()[-1])
    for declared in topology.STAGES:
        if declared.every_worker:
            continue
        assert found["agents"].get(declared.name) == [declared.reads], found["agents"]
    assert set(topology.topic_names(["politics"])) <= set(found["topics"])


def test_the_topology_command_prints_the_chain_without_a_broker():
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BROKER"}
    done = subprocess.run([sys.executable, "-m", "streams", "topology"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == topology.describe()
    lines = subprocess.run([sys.executable, "-m", "streams", "topology", "--json"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert [orjson.loads(line)["name"] for line in lines] == [s.name for s in topology.STAGES]
