"""Dead-letter records: whatever a stage could not process, kept with its reason.

The original bytes travel base64-encoded so that a record can be inspected,
fixed and replayed byte for byte.
"""

from __future__ import annotations

import base64

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


def replay_messages(lines, default_topic: str) -> list[tuple[str, bytes | None, bytes]]:
    """(topic, key, value) for each dead-letter record of a JSON Lines file.

    A record may carry a fixed payload as text in `original` (easier to edit
    than base64); otherwise `original_b64` is sent back as it was. Parse-stage
    records go back to articles.raw; later stages to the topic they came from.
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
        if isinstance(record.get("original"), str):
            value = record["original"].encode("utf-8")
        else:
            value = _base64_field(record, "original_b64", number) or b""
        key = _base64_field(record, "key_b64", number)
        topic = default_topic if record.get("stage") in ("parse", None) else (record.get("topic") or default_topic)
        messages.append((topic, key, value))
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
