"""Run-time knowledge-base changes, as records on the compacted `entities.kb` topic.

The key is the entity id; the value is the whole entity (a later record for the
same id replaces it, which is what compaction keeps) or empty, a tombstone that
removes it. `"merge": true` adds names and aliases to what the entity already
has instead of replacing it, for teaching a packaged entity a new spelling.
"""

from __future__ import annotations

import re

import orjson

SCHEMA = "kb_entity/1"
MAX_RECORD_BYTES = 64 * 1024
MAX_ALIASES = 500
_ID_RE = re.compile(r"^(per|org|loc|misc):[^\s|]{1,200}$")


class KbRecordError(ValueError):
    """A record on entities.kb that cannot be applied; the reason says why."""


def kb_record(entity_id: str, entity_type: str, name: str, aliases: list[str], *, names: dict | None = None,
              merge: bool = False) -> dict:
    return {
        "schema": SCHEMA,
        "id": entity_id,
        "type": entity_type,
        "name": name,
        "names": names or {},
        "aliases": aliases,
        "merge": merge,
    }


def decode_record(key: bytes | None, value: bytes | None) -> tuple[str, dict | None]:
    """(entity id, entity dict or None for a tombstone); raises KbRecordError."""
    entity_id = key.decode("utf-8", "replace") if key else None
    if value is None or value == b"":
        if not entity_id or not _ID_RE.match(entity_id):
            raise KbRecordError(f"tombstone needs an entity id as key, got {entity_id!r}")
        return entity_id, None
    if len(value) > MAX_RECORD_BYTES:
        raise KbRecordError(f"record is {len(value)} bytes, limit is {MAX_RECORD_BYTES}")
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise KbRecordError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise KbRecordError(f"expected a JSON object, got {type(record).__name__}")
    record_id = record.get("id")
    if not isinstance(record_id, str) or not _ID_RE.match(record_id):
        raise KbRecordError(f"field 'id' must look like 'per:name-slug', got {record_id!r}")
    if entity_id and entity_id != record_id:
        raise KbRecordError(f"key {entity_id!r} differs from the record's id {record_id!r}")
    prefix = record_id.split(":", 1)[0].upper()
    if record.get("type") != prefix:
        raise KbRecordError(f"field 'type' must be {prefix!r} for id {record_id!r}, got {record.get('type')!r}")
    aliases = record.get("aliases", [])
    if not isinstance(aliases, list) or len(aliases) > MAX_ALIASES:
        raise KbRecordError(f"field 'aliases' must be a list of at most {MAX_ALIASES} names")
    return record_id, record


def apply_record(kb, key: bytes | None, value: bytes | None) -> str:
    """Apply one entities.kb record to a knowledge base; returns what was done."""
    entity_id, record = decode_record(key, value)
    if record is None:
        return f"removed {entity_id}" if kb.remove(entity_id) else f"{entity_id} was not known"
    entity = {field: record[field] for field in ("id", "type", "name", "names", "aliases") if field in record}
    try:
        kb.add(entity, merge=bool(record.get("merge")))
    except (ValueError, KeyError) as exc:
        raise KbRecordError(str(exc)) from None
    return f"{'merged' if record.get('merge') else 'set'} {entity_id}"
