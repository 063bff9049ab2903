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
