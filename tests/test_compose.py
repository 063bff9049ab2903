"""docker-compose.yml and Dockerfile agree with each other and with the code.

No Docker engine runs here, so these check the wiring a broken deployment
would get wrong: listeners, ports, health dependencies, environment names and
the console script.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from streams.settings import ENVIRONMENT_VARIABLES, parse_duration

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = ("worker", "producer")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def instructions(dockerfile, name):
    return [args for instruction, args in dockerfile if instruction == name]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command_of(service: dict) -> list[str]:
    command = service.get("command")
    return command.split() if isinstance(command, str) else list(command or [])


def advertised(kafka_env: dict[str, str]) -> dict[str, str]:
    """listener name -> host:port as clients are told to connect."""
    listeners = {}
    for item in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(","):
        name, _, address = item.strip().partition("://")
        listeners[name] = address
    return listeners


def test_services_exist(compose):
    assert {"kafka", "worker", "producer"} <= set(compose["services"])


def test_kafka_is_official_image_in_kraft_mode(compose):
    kafka = compose["services"]["kafka"]
    assert re.fullmatch(r"apache/kafka:[34]\.\d+\.\d+", kafka["image"]), kafka["image"]
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in " ".join(env)
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert f"{controller}://" in env["KAFKA_LISTENERS"]
    node_id = env["KAFKA_NODE_ID"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert any(v.startswith(f"{node_id}@") for v in voters)
    # every listener has a security protocol
    protocol_map = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    for item in env["KAFKA_LISTENERS"].split(","):
        assert item.split("://")[0] in protocol_map
    # single node: internal topics cannot ask for three replicas
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_kafka_healthcheck_asks_the_internal_listener(compose):
    kafka = compose["services"]["kafka"]
    check = kafka["healthcheck"]["test"]
    command = " ".join(check) if isinstance(check, list) else check
    assert re.search(r"kafka-(broker-api-versions|topics)\.sh", command)
    internal = advertised(env_of(kafka))[env_of(kafka)["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert f"--bootstrap-server {internal}" in command


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_a_healthy_kafka(compose, name):
    depends = compose["services"][name]["depends_on"]
    assert isinstance(depends, dict), "use the long form so the condition can be stated"
    assert depends["kafka"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_only_use_variables_the_app_reads(compose, name):
    unknown = set(env_of(compose["services"][name])) - set(ENVIRONMENT_VARIABLES)
    assert not unknown, f"{name} sets variables streams/settings.py never reads: {sorted(unknown)}"


def test_dockerfile_only_sets_variables_the_app_reads(dockerfile):
    names = set()
    for args in instructions(dockerfile, "ENV"):
        names |= set(re.findall(r"(\w+)=", args))
    app_names = {n for n in names if n.startswith(("NEWSSTREAMS_", "KAFKA_"))}
    assert app_names <= set(ENVIRONMENT_VARIABLES), app_names - set(ENVIRONMENT_VARIABLES)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_kafka_broker_points_at_an_advertised_listener(compose, name):
    broker = env_of(compose["services"][name])["KAFKA_BROKER"]
    kafka_env = env_of(compose["services"]["kafka"])
    addresses = advertised(kafka_env)
    for part in broker.split(","):
        address = urlsplit(part if "://" in part else f"kafka://{part}").netloc
        assert address in addresses.values(), f"{address} is not advertised by kafka: {addresses}"
        # and it is the listener for containers, resolvable on the compose network
        host = address.rsplit(":", 1)[0]
        assert host in {"kafka", compose["services"]["kafka"].get("hostname")}


def test_host_listener_is_published(compose):
    kafka = compose["services"]["kafka"]
    published = {str(p).split(":")[-2]: str(p).split(":")[-1] for p in kafka["ports"]}
    host_listeners = [a for a in advertised(env_of(kafka)).values() if a.startswith(("localhost:", "127.0.0.1:"))]
    assert host_listeners, "tools on the host need a listener advertised as localhost"
    for address in host_listeners:
        port = address.rsplit(":", 1)[1]
        # the host connects to the advertised port, which must reach the same port inside
        assert published.get(port) == port, f"advertised {address} but {kafka['ports']} publish it elsewhere"
        assert f":{port}" in env_of(kafka)["KAFKA_LISTENERS"]


@pytest.mark.parametrize("name", ["kafka", "worker"])
def test_published_ports_are_bound_to_loopback_only(compose, name):
    """Plaintext Kafka and the API on every interface would let anyone rewrite routing.rules and entities.kb."""
    for port in compose["services"][name]["ports"]:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_worker_publishes_its_web_port(compose, dockerfile):
    worker = compose["services"]["worker"]
    env = env_of(worker)
    assert env["NEWSSTREAMS_WEB_HOST"] == "0.0.0.0"
    web_port = env["NEWSSTREAMS_WEB_PORT"]
    container_ports = {str(p).rsplit(":", 1)[-1].split("/")[0] for p in worker["ports"]}
    assert web_port in container_ports
    assert instructions(dockerfile, "EXPOSE") == [web_port]
    assert command_of(worker)[:1] == ["worker"]


def test_producer_polls_feeds(compose):
    producer = compose["services"]["producer"]
    command = command_of(producer)
    assert command[0] == "produce"
    every = command[command.index("--every") + 1]
    assert parse_duration(every) == 300
    sources = [c for c in command[1:] if not c.startswith("--") and c != every]
    assert sources, "the producer needs at least one feed URL or path"
    for source in sources:
        assert source.startswith(("http://", "https://", "/")), source
    # it runs the same image as the worker
    assert producer.get("image") == compose["services"]["worker"].get("image")


def test_routing_rules_are_mounted_from_the_checkout(compose):
    worker = compose["services"]["worker"]
    rules_path = env_of(worker).get("NEWSSTREAMS_ROUTING_RULES")
    if rules_path is None:
        pytest.skip("worker uses the packaged rules")
    for volume in worker.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if rules_path.startswith(target.rstrip("/") + "/") and source.startswith("."):
            assert (ROOT / source / rules_path[len(target):].lstrip("/")).is_file()
            return
    raise AssertionError(f"{rules_path} is not inside a mounted folder")


def test_dockerfile_runs_the_console_script(dockerfile):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert "newsstreams" in scripts
    (entrypoint,) = instructions(dockerfile, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["newsstreams"]
    (cmd,) = instructions(dockerfile, "CMD")
    assert json.loads(cmd) == ["worker"]


def test_dockerfile_base_install_and_user(dockerfile):
    assert instructions(dockerfile, "FROM")[0] == "python:3.11-slim"
    assert any(re.search(r"\bpip install\b", args) for args in instructions(dockerfile, "RUN"))
    users = instructions(dockerfile, "USER")
    assert users and users[-1] not in {"root", "0"}


def test_dockerignore_keeps_the_build_context_small():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    assert {".git", ".venv"} <= ignored
    # what the Dockerfile copies must not be ignored
    assert not {"streams", "pyproject.toml", "README.md"} & ignored
