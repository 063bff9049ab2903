"""Bytes of one `articles.raw` message -> a validated RawArticle dict.

Everything upstream can send is checked here, once, so that later stages can
trust the shape of what they get. Anything that is not an article is refused
with `RejectedArticle` and a reason a person can act on ("missing field 'url'"),
because the dead-letter topic is read by people fixing their feeds.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import orjson

MAX_PAYLOAD_BYTES = 5 * 1024 * 1024
"""Largest message accepted; HTML pages with inline scripts fit comfortably."""
MAX_HTML_CHARS = 2 * 1024 * 1024
"""Longest `html` field, checked before any parsing. A news article page is a
few hundred kilobytes of markup, and one that inlines its scripts, styles and
page data stays well under two megabytes; what is left over is text or markup
nobody reads. Parsing and extraction cost grows with the markup, so this bound,
together with `streams.text.html.MAX_HTML_TAGS`, is what keeps one page's
extraction short and its memory small."""
MAX_BODY_CHARS = 200_000
"""Longest plain-text body: about 40 pages of print, ten times a long feature.
Entity extraction on it takes about three seconds, well inside the worker's
session timeout; a longer text would stall the worker's heartbeats."""
MAX_TITLE_CHARS = 2_000
"""Longest title a message may carry; a longer one is refused with the message."""
TITLE_CHARS = 120
"""A title the pipeline makes itself (from the first sentence, or from a page's
markup) is cut near this length, at a word boundary: a headline is rarely half
of it, and a longer one is a paragraph that was taken for a title."""
MAX_URL_CHARS = 8_192
MAX_SOURCE_CHARS = 500
MAX_TAGS = 500
MAX_TAG_CHARS = 300

KNOWN_FIELDS = frozenset(
    {"url", "source", "title", "body", "html", "published_at", "id", "language", "tags"}
)

_BOM = b"\xef\xbb\xbf"
# Control characters that text never contains, and the replacement character
# that a lossy decode upstream leaves behind: many of them mean binary data.
_BINARY_RE = re.compile(r"[\x01-\x08\x0e-\x1f\x7f\ufffd]")
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


class RejectedArticle(Exception):
    """Input that is not an article; `reason` says why, in a few words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decode_raw(payload: bytes | bytearray | memoryview) -> dict:
    """Decode and validate one message; raises only RejectedArticle."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise RejectedArticle(f"payload is {_kind(payload)}, expected bytes")
    payload = bytes(payload)
    size = len(payload)
    if size > MAX_PAYLOAD_BYTES:
        raise RejectedArticle(
            f"payload is {size / 1048576:.1f} MiB, limit is {MAX_PAYLOAD_BYTES // 1048576} MiB"
        )
    skipped = 0
    if payload.startswith(_BOM):
        payload = payload[len(_BOM):]
        skipped = len(_BOM)
    if not payload.strip():
        raise RejectedArticle("payload is empty")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedArticle(f"invalid UTF-8 at byte {exc.start + skipped}") from None
    if b"\x00" in payload:
        raise RejectedArticle("payload contains NUL bytes (binary data?)")
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise RejectedArticle(f"not JSON: {_shorten(str(exc), 120)}") from None
    return validate_raw(value)


def validate_raw(value: object) -> dict:
    """Check a decoded JSON value is a RawArticle; return a normalised copy.

    Known fields are type-checked and tidied (published_at in UTC, language as
    a primary subtag); unknown fields are kept as they are.
    """
    if not isinstance(value, dict):
        raise RejectedArticle(f"JSON is {_kind(value)}, expected an object")
    article: dict = {}
    for key, item in value.items():
        if key not in KNOWN_FIELDS:
            article[key] = item

    url = _required_str(value, "url", MAX_URL_CHARS).strip()
    if not url:
        raise RejectedArticle("field 'url' is empty")
    source = _required_str(value, "source", MAX_SOURCE_CHARS).strip()
    if not source:
        raise RejectedArticle("field 'source' is empty")
    title = _required_str(value, "title", MAX_TITLE_CHARS)

    body = _optional_str(value, "body", MAX_BODY_CHARS)
    html = _optional_str(value, "html", MAX_HTML_CHARS)
    if body is None and html is None:
        raise RejectedArticle("missing field 'body' (or 'html')")
    has_body = body is not None and body.strip() != ""
    has_html = html is not None and html.strip() != ""
    if not has_body and not has_html:
        raise RejectedArticle("html is empty" if body is None else "body is empty")

    article["url"] = url
    article["source"] = source
    article["title"] = title
    if body is not None:
        article["body"] = body
    if html is not None:
        article["html"] = html
    article["published_at"] = _published_at(value.get("published_at"))

    raw_id = value.get("id")
    if raw_id is not None:
        if not isinstance(raw_id, str):
            raise RejectedArticle(f"field 'id' must be a string, got {_kind(raw_id)}")
        raw_id = raw_id.strip()
        if raw_id:
            _check_text("id", raw_id, MAX_URL_CHARS)
            article["id"] = raw_id

    language = value.get("language")
    if language is not None:
        if not isinstance(language, str):
            raise RejectedArticle(f"field 'language' must be a string, got {_kind(language)}")
        language = language.strip()
        if language:
            if not _LANGUAGE_RE.fullmatch(language):
                raise RejectedArticle(f"field 'language' is not a language code: {_shorten(language, 40)!r}")
            article["language"] = re.split(r"[-_]", language, maxsplit=1)[0].lower()

    article["tags"] = _tags(value.get("tags"))
    return article


def normalize_timestamp(value: str) -> str:
    """ISO 8601 in, ISO 8601 UTC with `Z` out; naive times are taken as UTC.

    Raises ValueError for anything else.
    """
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not an ISO 8601 date: {_shorten(value, 40)!r}") from exc
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec) + "Z"


def _published_at(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RejectedArticle(f"field 'published_at' must be an ISO 8601 string, got {_kind(value)}")
    if not value.strip():
        return None
    try:
        return normalize_timestamp(value)
    except ValueError:
        raise RejectedArticle(
            f"field 'published_at' is not an ISO 8601 date: {_shorten(value, 40)!r}"
        ) from None


def _tags(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RejectedArticle(f"field 'tags' must be a list of strings, got {_kind(value)}")
    if len(value) > MAX_TAGS:
        raise RejectedArticle(f"field 'tags' has {len(value)} items, limit is {MAX_TAGS}")
    tags = []
    for index, tag in enumerate(value):
        if not isinstance(tag, str):
            raise RejectedArticle(
                f"field 'tags' must be a list of strings (item {index} is {_kind(tag)})"
            )
        tag = tag.strip()
        if tag:
            _check_text("tags", tag, MAX_TAG_CHARS)
            tags.append(tag)
    return tags


def _required_str(value: dict, name: str, limit: int) -> str:
    if name not in value:
        raise RejectedArticle(f"missing field '{name}'")
    text = value[name]
    if not isinstance(text, str):
        raise RejectedArticle(f"field '{name}' must be a string, got {_kind(text)}")
    _check_text(name, text, limit)
    return text


def _optional_str(value: dict, name: str, limit: int) -> str | None:
    text = value.get(name)
    if text is None:
        return None
    if not isinstance(text, str):
        raise RejectedArticle(f"field '{name}' must be a string, got {_kind(text)}")
    _check_text(name, text, limit)
    return text


def _check_text(name: str, text: str, limit: int) -> None:
    """Length, encodability and binary checks shared by every text field."""
    if len(text) > limit:
        raise RejectedArticle(f"{name} is {len(text):,} characters, limit is {limit:,}")
    if "\x00" in text:
        raise RejectedArticle(f"field '{name}' contains NUL characters (binary data?)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RejectedArticle(f"field '{name}' contains unpaired surrogates") from None
    junk = len(_BINARY_RE.findall(text))
    if junk > max(8, len(text) // 20):
        raise RejectedArticle(
            f"field '{name}' looks like binary data ({junk} control or replacement characters)"
        )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
