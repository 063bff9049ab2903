"""Timestamps in one format everywhere: ISO 8601, UTC, with an explicit offset."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_to_epoch(value: str) -> float:
    """Seconds since the epoch for an ISO 8601 string; naive times are taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def parse_time(text: str) -> float:
    """A time a user typed: Unix seconds, or ISO 8601 (`2015-08-07T12:00:00Z`; a date alone is its start, UTC).

    Raises ValueError with a message that says what is accepted.
    """
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            value = iso_to_epoch(text)
        except ValueError:
            raise ValueError(
                f"not a time: {text!r} (use ISO 8601 such as 2015-08-07T12:00:00Z or 2015-08-07, or Unix seconds)"
            ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"not a time: {text!r} (a finite number of Unix seconds, or ISO 8601)")
    return value
