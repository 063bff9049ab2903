"""Run-time settings, read from the environment so that containers and the CLI agree.

This module is the one place the process environment is read: `Settings.from_env()`
makes the typed object the runtime is built from (`streams.runtime.build_app`),
and `environment_value` serves the commands that need a single variable. Every
name is documented in the README and used by docker-compose.yml.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from .trending.windows import WindowSpec

DEFAULT_WEB_PORT = 6066
DEFAULT_APP_ID = "newsstreams"
DEFAULT_PARTITIONS = 4


class SettingsError(ValueError):
    """An environment variable the worker cannot run with; the message names it."""


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc


def _positive_int_env(name: str, default: int) -> int:
    value = _int_env(name, default)
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, got {value}")
    return value


DEFAULT_WINDOWS = "5m,1h,1d,1h/5m"
# About 2.7 KB of worker memory each (sketch and lookup): 130 MB at most.
DEFAULT_DEDUPE_CAPACITY = 50_000


def parse_windows(text: str) -> tuple[WindowSpec, ...]:
    """`5m, 1h late=30m, 1d late=6h keep=30d, 1h/5m` -> one WindowSpec each.

    `SIZE/STEP` is a hopping window; a plain size is a tumbling one. `late=`
    is how long after its end a closed window still takes late articles (and
    is published again with the next revision); `keep=` how long after its
    end a closed window stays queryable. Both are event time; left out, they
    default to the window's size (at most 6 h) and to 168 of its steps (from
    1 day to 30 days).
    """
    windows = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        size_text, _, step_text = words[0].partition("/")
        size = parse_duration(size_text)
        step = parse_duration(step_text) if step_text else size
        if step > size or size % step:
            raise ValueError(f"window {part.strip()!r}: the step must divide the size")
        options = {}
        for word in words[1:]:
            option, sep, value = word.partition("=")
            if not sep or option not in ("late", "keep") or option in options:
                raise ValueError(f"window {part.strip()!r}: expected late=DURATION or keep=DURATION, got {word!r}")
            options[option] = 0 if option == "late" and value.strip() in ("0", "0s") else parse_duration(value)
        spec = WindowSpec(size, step, lateness=options.get("late"), keep=options.get("keep"))
        if spec.keep < spec.lateness:
            raise ValueError(f"window {part.strip()!r}: keep= must be at least late=")
        windows.append(spec)
    if not windows:
        raise ValueError("no window given")
    if len(set(windows)) != len(windows):
        raise ValueError(f"a window is listed twice in {text!r}")
    return tuple(windows)


def _windows_env(name: str) -> tuple[WindowSpec, ...]:
    try:
        return parse_windows(os.environ.get(name) or DEFAULT_WINDOWS)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from exc


def _duration_env(name: str, default: str) -> int:
    try:
        return parse_duration(os.environ.get(name) or default)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from exc


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """`90`, `90s`, `5m`, `1h`, `1d` -> seconds."""
    text = text.strip().lower()
    if not text:
        raise ValueError("empty duration")
    unit = text[-1]
    number = text[:-1] if unit in _UNITS else text
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h, 1d)") from None
    seconds = int(value * _UNITS.get(unit, 1))
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return seconds


PROCESSING_GUARANTEES = ("at_least_once", "exactly_once")


def _guarantee_env(name: str) -> str:
    value = (os.environ.get(name) or PROCESSING_GUARANTEES[0]).strip().lower()
    if value not in PROCESSING_GUARANTEES:
        raise SettingsError(f"{name} must be one of {', '.join(PROCESSING_GUARANTEES)}, got {value!r}")
    return value


def _flag_env(name: str) -> bool:
    value = (os.environ.get(name) or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0 (true or false), got {value!r}")


@dataclass(frozen=True)
class Settings:
    broker: str | None = None
    """`kafka://host:port[,host:port]`; None means: start the embedded broker."""
    app_id: str = DEFAULT_APP_ID
    web_host: str = "127.0.0.1"
    web_port: int = DEFAULT_WEB_PORT
    partitions: int = DEFAULT_PARTITIONS
    store: str = "memory://"
    data_dir: str = ".newsstreams-data"
    windows: tuple[WindowSpec, ...] = parse_windows(DEFAULT_WINDOWS)
    web_url: str | None = None
    """The URL other workers reach this one at (defaults to http://web_host:web_port)."""
    grace: int = 600
    routing_rules: str | None = None
    processing_guarantee: str = PROCESSING_GUARANTEES[0]
    """`exactly_once` needs broker transactions (Kafka has them, Tansu does not). Counts are
    effectively once either way: counting is idempotent per article and window."""
    dedupe_capacity: int = DEFAULT_DEDUPE_CAPACITY
    """Most original articles remembered for near-duplicate detection; the oldest go first."""
    idle_after: int = 30
    """An `articles.raw` partition caught up (no lag) for this long stops holding windows open."""
    embedded_broker: bool = False
    """The broker is Tansu (the embedded one): switch on its corrections (`streams.fixes`)."""
    story_quiet: int = 48 * 3600
    """A story no article joined for this long (event time) closes."""
    kafka_security: tuple[tuple[str, str], ...] = ()
    """The KAFKA_SECURITY_*/SASL_*/SSL_* variables that were set (read by `streams.kafka_security`)."""

    @property
    def broker_url(self) -> str:
        return self.broker or "kafka://127.0.0.1:9092"

    @property
    def canonical_web_url(self) -> str:
        return self.web_url or f"http://{self.web_host}:{self.web_port}"

    @classmethod
    def from_env(cls) -> "Settings":
        broker = os.environ.get("KAFKA_BROKER") or None
        if broker and "://" not in broker:
            broker = f"kafka://{broker}"
        return cls(
            broker=broker,
            app_id=os.environ.get("NEWSSTREAMS_APP_ID", DEFAULT_APP_ID),
            web_host=os.environ.get("NEWSSTREAMS_WEB_HOST", "127.0.0.1"),
            web_port=_int_env("NEWSSTREAMS_WEB_PORT", DEFAULT_WEB_PORT),
            partitions=_int_env("NEWSSTREAMS_PARTITIONS", DEFAULT_PARTITIONS),
            store=os.environ.get("NEWSSTREAMS_STORE", "memory://"),
            data_dir=os.environ.get("NEWSSTREAMS_DATA_DIR", ".newsstreams-data"),
            windows=_windows_env("NEWSSTREAMS_WINDOWS"),
            web_url=os.environ.get("NEWSSTREAMS_WEB_URL") or None,
            grace=_duration_env("NEWSSTREAMS_GRACE", "10m"),
            routing_rules=os.environ.get("NEWSSTREAMS_ROUTING_RULES") or None,
            processing_guarantee=_guarantee_env("NEWSSTREAMS_PROCESSING_GUARANTEE"),
            dedupe_capacity=_positive_int_env("NEWSSTREAMS_DEDUPE_CAPACITY", DEFAULT_DEDUPE_CAPACITY),
            idle_after=_duration_env("NEWSSTREAMS_IDLE_AFTER", "30s"),
            embedded_broker=_flag_env("NEWSSTREAMS_EMBEDDED_BROKER"),
            story_quiet=_duration_env("NEWSSTREAMS_STORY_QUIET", "48h"),
            kafka_security=security_variables(),
        )


# Faust consumer/producer settings shared by the worker and the benchmark's
# no-op yardstick. The embedded broker joins groups slowly unless the session
# and rebalance timeouts are short.
FAUST_BROKER_OPTIONS = {
    "consumer_auto_offset_reset": "earliest",
    "broker_session_timeout": 10.0,
    "broker_heartbeat_interval": 1.0,
    "broker_rebalance_timeout": 10.0,
    "broker_commit_every": 100,
    "broker_commit_interval": 1.0,
    "producer_linger": 0.005,
}
FETCH_MAX_WAIT_MS = 50
"""How long a fetch may wait for data; see `streams.fixes.tansu_fetch_wait`."""

_FAUST_LOG_LEVELS = {"crit": logging.CRITICAL, "error": logging.ERROR, "warn": logging.WARNING,
                     "info": logging.INFO, "debug": logging.DEBUG}
LIBRARY_LOGGERS = ("aiokafka", "faust", "mode", "aiohttp")


def pin_library_log_levels(loglevel: str) -> None:
    """Give Kafka and Faust loggers the worker's level themselves.

    Faust's start-up spinner sets the root logger to DEBUG whatever
    ``--loglevel`` says, so every debug call on the per-message path (one per
    send in aiokafka) builds a log record that no handler prints: a few per
    cent of a worker's CPU. Loggers with their own level never ask the root.
    """
    level = _FAUST_LOG_LEVELS.get(loglevel, logging.WARNING)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)


# Environment variables the app reads; docker-compose.yml must only use these.
ENVIRONMENT_VARIABLES = (
    "KAFKA_BROKER",
    "NEWSSTREAMS_APP_ID",
    "NEWSSTREAMS_WEB_HOST",
    "NEWSSTREAMS_WEB_PORT",
    "NEWSSTREAMS_WEB_URL",
    "NEWSSTREAMS_PARTITIONS",
    "NEWSSTREAMS_STORE",
    "NEWSSTREAMS_DATA_DIR",
    "NEWSSTREAMS_WINDOWS",
    "NEWSSTREAMS_GRACE",
    "NEWSSTREAMS_ROUTING_RULES",
    "NEWSSTREAMS_PROCESSING_GUARANTEE",
    "NEWSSTREAMS_DEDUPE_CAPACITY",
    "NEWSSTREAMS_IDLE_AFTER",
    "NEWSSTREAMS_EMBEDDED_BROKER",
    "NEWSSTREAMS_STORY_QUIET",
)
KAFKA_SECURITY_VARIABLES = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
                            "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE")
"""Read by `streams.kafka_security`, for the worker and every command that talks to Kafka."""
ENVIRONMENT_VARIABLES += KAFKA_SECURITY_VARIABLES


def environment_value(name: str) -> str | None:
    """One documented variable as the environment has it (None when unset or empty).

    For commands that need a single value (where the data folder is, which
    broker to reach) without validating every other setting.
    """
    if name not in ENVIRONMENT_VARIABLES:
        raise KeyError(f"{name} is not one of the documented variables")
    return os.environ.get(name) or None


def security_variables() -> tuple[tuple[str, str], ...]:
    """The Kafka security variables that are set, for `KafkaSecurity.from_env`."""
    return tuple((name, os.environ[name]) for name in KAFKA_SECURITY_VARIABLES if os.environ.get(name))
