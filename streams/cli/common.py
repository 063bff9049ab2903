"""What every command group shares: the user-error exception, argument types,
and where the broker, the worker's web address and the data folder are.

Errors a user can fix (bad arguments, unreadable files, no broker) are raised
as UsageError; `streams.cli.main` prints them as one line on stderr with exit
code 2, without a traceback.
"""

from __future__ import annotations

import argparse

from ..clock import parse_time
from ..settings import DEFAULT_WEB_PORT, Settings, environment_value, parse_duration

LOG_LEVELS = ["crit", "error", "warn", "info", "debug"]


class UsageError(Exception):
    """A problem the user can fix; printed without a traceback."""


# ---------------------------------------------------------------- argument types

def duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def point_in_time(text: str) -> float:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def tcp_port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return value


# ---------------------------------------------------------------- where things are

def data_dir() -> str:
    return environment_value("NEWSSTREAMS_DATA_DIR") or Settings.data_dir


def require_broker() -> str:
    """KAFKA_BROKER, else the embedded broker of the `newsstreams run` running in this data folder."""
    from ..run_announcement import find_running, run_file

    broker = environment_value("KAFKA_BROKER")
    if broker:
        return broker
    running = find_running(data_dir())
    if running is not None:
        return running.broker_url
    raise UsageError(
        f"no broker: KAFKA_BROKER is not set and no `newsstreams run` is running here "
        f"(none announced in {run_file(data_dir())}). Start `newsstreams run` in this folder, "
        "or point KAFKA_BROKER at Kafka (e.g. KAFKA_BROKER=kafka://localhost:9092)"
    )


def web_base(explicit: str | None) -> str:
    """The worker's HTTP address: --url, else the running `newsstreams run`'s, else NEWSSTREAMS_WEB_PORT's."""
    from ..run_announcement import find_running

    if explicit:
        return explicit
    running = find_running(data_dir())
    port = environment_value("NEWSSTREAMS_WEB_PORT")
    if running is not None and not port:
        return running.web_url
    return f"http://127.0.0.1:{port or DEFAULT_WEB_PORT}"


def bootstrap_servers(broker_url: str) -> str:
    """`kafka://a:9092;b:9092` or `a:9092,b:9092` -> `a:9092,b:9092` for aiokafka."""
    hosts = []
    for part in broker_url.replace(";", ",").split(","):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        if part:
            hosts.append(part)
    if not hosts:
        raise UsageError(f"KAFKA_BROKER names no host: {broker_url!r}")
    return ",".join(hosts)
