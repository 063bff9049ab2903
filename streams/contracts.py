"""Message contracts: the JSON Schemas shipped in `streams/schemas/`, and a validator for them.

Read from the installed package, so an installed worker (the Docker image
copies only `streams/`) validates against the same files as a checkout.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMA_DIR = Path(str(resources.files("streams.schemas")))

SCHEMA_FILES = {
    "raw_article/1": "raw_article.schema.json",
    "parsed_article/1": "parsed_article.schema.json",
    "enriched_article/3": "enriched_article.schema.json",
    "story/1": "story.schema.json",
    "mention/1": "mention.schema.json",
    "mention_batch/1": "mention_batch.schema.json",
    "trending_window/2": "trending_window.schema.json",
    "dead_letter/1": "dead_letter.schema.json",
    "kb_entity/1": "kb_entity.schema.json",
}


def _load(file_name: str) -> dict:
    return json.loads((SCHEMA_DIR / file_name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _registry() -> Registry:
    """Every schema under its `$id`, so one schema can `$ref` another by file name."""
    schemas = [_load(name) for name in SCHEMA_FILES.values()]
    return Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in schemas)


@lru_cache(maxsize=None)
def validator(schema_name: str) -> Draft202012Validator:
    schema = _load(SCHEMA_FILES[schema_name])
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker(), registry=_registry())


def validation_errors(message: dict, schema_name: str | None = None) -> list[str]:
    """Empty when `message` satisfies its schema (named by its own `schema` field)."""
    name = schema_name or message.get("schema")
    if name not in SCHEMA_FILES:
        return [f"unknown schema {name!r}"]
    return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
            for error in validator(name).iter_errors(message)]
