"""Dead-letter records: whatever a stage could not process, kept with its reason.

The original bytes travel base64-encoded so that a record can be inspected,
fixed and replayed byte for byte.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from .clock import utc_now_iso

SCHEMA = "dead_letter/1"
MAX_ERROR_CHARS = 2000


def dead_letter(
    *,
    stage: str,
    reason: str,
    original: bytes | None,
    error: BaseException | None = None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | None = None,
) -> dict:
    original = original or b""
    return {
        "schema": SCHEMA,
        "stage": stage,
        "reason": reason[:MAX_ERROR_CHARS],
        "error_class": type(error).__name__ if error is not None else None,
        "original_b64": base64.b64encode(original).decode("ascii"),
        "original_size": len(original),
        "key_b64": base64.b64encode(key).decode("ascii") if key else None,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "failed_at": utc_now_iso(),
    }


def original_bytes(record: dict) -> bytes:
    return base64.b64decode(record["original_b64"])


class ReplayError(ValueError):
    """A line of a replay file that is not a usable dead-letter record."""


@dataclass(frozen=True)
class Replay:
    """One dead-letter record to send back: where to, and its payload (None: not copied into the record)."""

    line: int
    topic: str
    key: bytes | None
    value: bytes | None
    original_size: int
    source: tuple[str, int, int] | None
    """(topic, partition, offset) the original was read from, where it may still be."""

    def missing(self) -> str:
        where = f" at {self.source[0]}/{self.source[1]}@{self.source[2]}" if self.source else ""
        return (f"the original ({self.original_size:,} bytes) was too large to copy into "
                f"the dead letter and could not be read back{where}; put the fixed payload in an "
                f"`original` field, or leave the line out")


def replay_messages(lines, default_topic: str) -> list[Replay]:
    """What to send back for each dead-letter record of a JSON Lines file.

    A record may carry a fixed payload as text in `original` (easier to edit
    than base64); otherwise `original_b64` is sent back as it was. A record
    whose original was too large to copy has neither: its `value` is None and
    it names where the original was read from, so the caller can read it back
    there or report it; it is never replayed empty. Parse-stage records go back
    to articles.raw; later stages to the topic they came from.
    """
    import orjson

    messages = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ReplayError(f"line {number}: not JSON: {exc}") from None
        if not isinstance(record, dict) or record.get("schema") != SCHEMA:
            raise ReplayError(f"line {number}: not a dead-letter record (schema {SCHEMA!r} expected)")
        size = record.get("original_size") if isinstance(record.get("original_size"), int) else 0
        if isinstance(record.get("original"), str):
            value = record["original"].encode("utf-8")
        else:
            value = _base64_field(record, "original_b64", number) or b""
            if not value and size > 0:
                value = None
        key = _base64_field(record, "key_b64", number)
        topic = default_topic if record.get("stage") in ("parse", None) else (record.get("topic") or default_topic)
        source = None
        if (isinstance(record.get("topic"), str) and isinstance(record.get("partition"), int)
                and isinstance(record.get("offset"), int)):
            source = (record["topic"], record["partition"], record["offset"])
        messages.append(Replay(number, topic, key, value, size, source))
    return messages


def _base64_field(record: dict, field: str, number: int) -> bytes | None:
    import binascii

    text = record.get(field)
    if not text:
        return None
    if not isinstance(text, str):
        raise ReplayError(f"line {number}: {field} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ReplayError(f"line {number}: {field} is not valid base64") from None
