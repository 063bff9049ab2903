"""Readers that turn files, directories and URLs into messages for `articles.raw`.

Each reader yields `RawItem`s holding the exact bytes to publish. Nothing is
validated or repaired here: the parse stage owns validation and the dead-letter
path, so input we cannot turn into a RawArticle (a broken JSON line, a page that
is not UTF-8) is passed on as its original bytes, where it is recorded with a
reason instead of being dropped or silently "fixed".
"""

from __future__ import annotations

import codecs
import hashlib
import html as html_lib
import io
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable, Iterable, Iterator
from urllib.parse import unquote, urlsplit

import feedparser
import orjson
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree

from .fetch import FetchResult, IngestError, check_http_url, fetch_url, is_http_url
from .fetch import DEFAULT_MAX_BYTES
from ..text.decode import MAX_BODY_CHARS, MAX_PAYLOAD_BYTES
from ..text.html import cut_text, cut_title, truncate_markup

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Feed",
    "FeedEntry",
    "IngestError",
    "RawItem",
    "estimate_total",
    "items_from_fetch",
    "iter_raw_articles",
    "parse_feed",
    "read_feed",
]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss", ".atom")
FEED_SUFFIXES = frozenset({".xml", ".rss", ".atom"})
_EXPECTED = ".txt .html .json .jsonl .xml .rss .atom"
_BOM = codecs.BOM_UTF8
_ESTIMATE_JSON_MAX = 32 * 1024 * 1024


@dataclass(frozen=True)
class RawItem:
    """One message for `articles.raw`.

    `value` is exactly what gets published; `key` (the article URL, else its id)
    keeps copies of one article on one partition; `origin` says where it came
    from (`path`, `path:line`, `path[index]`, URL) for progress and error output;
    `problem` is set when `value` is passed on unparsed so the parse stage will
    dead-letter it.
    """

    key: str | None
    value: bytes
    origin: str
    problem: str | None = None


# ---------------------------------------------------------------- time & keys


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    spec = "seconds" if moment.microsecond == 0 else "milliseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def _now_iso(now: datetime | None) -> str:
    return _iso(now if now is not None else datetime.now(timezone.utc))


def _key_of(obj: object) -> str | None:
    if isinstance(obj, dict):
        for name in ("url", "id"):
            value = obj.get(name)
            if isinstance(value, str) and value.strip():
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
    return None


# ------------------------------------------------------------------ decoding


def _decode_text(data: bytes) -> str | None:
    """Strict UTF-8 (a BOM is honoured); None means: pass the bytes on for dead-lettering."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _charset_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


def _decode_html(data: bytes, declared: str | None = None) -> str | None:
    """BOM, then the HTTP charset, then <meta charset>, then UTF-8; strict each time.

    Arabic sites still serve windows-1256, so the declared charset matters.
    """
    if data.startswith(_BOM) or data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_text(data)
    candidates = []
    if declared:
        candidates.append(declared)
    meta = _META_CHARSET.search(data[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii"))
    candidates.append("utf-8")
    for charset in candidates:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return None


_TITLE_START = re.compile(r"<title\b[^>]*>", re.IGNORECASE)
_TITLE_END = re.compile(r"</title\s*>", re.IGNORECASE)
_TITLE_WINDOW = 65536


def _html_title(page: str) -> str:
    """The page's `<title>`, as one line cut like any title the pipeline makes (TITLE_CHARS).

    Found in the first 64 KiB, with one search for the start and one for the
    end: a lazy `<title>(.*?)</title>` rescans the rest of the window from every
    unclosed `<title>`, seconds for a page made of them.
    """
    start = _TITLE_START.search(page, 0, _TITLE_WINDOW)
    if not start:
        return ""
    end = _TITLE_END.search(page, start.end(), _TITLE_WINDOW)
    if not end:
        return ""
    text = page[start.end():end.start()]
    return cut_title(" ".join(html_lib.unescape(re.sub(r"<[^>]*>", "", text)).split()))


class _TextOf(HTMLParser):
    """Plain text of an HTML fragment, paragraphs separated by blank lines."""

    _BLOCK = frozenset(
        "p div li ul ol h1 h2 h3 h4 h5 h6 tr table blockquote section article header footer "
        "pre hr figure figcaption dd dt dl aside nav main address".split()
    )
    _SKIP = frozenset({"script", "style", "template", "noscript", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag, attrs):
        if tag == "br":
            self.parts.append("\n")
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self._skipping:
            # Line breaks inside HTML text are just spaces; only tags make paragraphs.
            self.parts.append(re.sub(r"[ \t\r\n]*\n[ \t\r\n]*", " ", data))


def html_to_text(fragment: str) -> str:
    """Plain text of a feed's HTML field, held to the limits of a page.

    Only the start of the markup is read (`truncate_markup`: the page size and
    tag limits), so a hostile entry costs no more than a large page, and the
    text is cut like a page's (`cut_text`, at MAX_BODY_CHARS): a feed's text is
    no more in the sender's hands than a page's.
    """
    parser = _TextOf()
    parser.feed(truncate_markup(fragment))
    parser.close()
    text = "".join(parser.parts)
    text = "\n".join(re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n"))
    return cut_text(re.sub(r"\n{3,}", "\n\n", text).strip(), MAX_BODY_CHARS)


# --------------------------------------------------------------- file kinds


def _file_uri(path: Path) -> str:
    return Path(os.path.abspath(path)).as_uri()


def _file_source(path: Path) -> str:
    return Path(os.path.abspath(path)).parent.name or "file"


def _read(path: Path, limit: int) -> bytes:
    """A whole file, refused before reading when it is larger than `limit`."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise IngestError(f"{path}: {_size(size)} is over the {_size(limit)} limit for {_suffix(path)} files")
        return path.read_bytes()
    except FileNotFoundError:
        raise IngestError(f"no such file: {path}") from None
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from None


def _text_items(data: bytes, *, url: str, source: str, origin: str, when: str) -> Iterator[RawItem]:
    text = _decode_text(data)
    if text is None:
        yield RawItem(None, data, origin, problem="text is not valid UTF-8")
        return
    article = {"url": url, "source": source, "title": "", "body": text, "published_at": when}
    yield RawItem(url, orjson.dumps(article), origin)


def _html_items(
    data: bytes, *, url: str, source: str, origin: str, when: str, charset: str | None = None
) -> Iterator[RawItem]:
    page = _decode_html(data, charset)
    if page is None:
        yield RawItem(None, data, origin, problem="HTML page is not valid in its declared charset or UTF-8")
        return
    article = {"url": url, "source": source, "title": _html_title(page), "html": page, "published_at": when}
    yield RawItem(url, orjson.dumps(article), origin)


def _json_items(data: bytes, *, origin: str) -> Iterator[RawItem]:
    """One object: passed through byte for byte. A list: each element re-encoded on its own."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield RawItem(None, data, origin, problem=f"not valid JSON: {exc}")
        return
    if isinstance(document, list):
        for index, element in enumerate(document):
            problem = None if isinstance(element, dict) else f"element is a {_json_kind(element)}, not an object"
            yield RawItem(_key_of(element), orjson.dumps(element), f"{origin}[{index}]", problem)
    elif isinstance(document, dict):
        yield RawItem(_key_of(document), data, origin)
    else:
        yield RawItem(None, data, origin, problem=f"JSON document is a {_json_kind(document)}, not an object or a list")


def _json_kind(value: object) -> str:
    return {str: "string", int: "number", float: "number", bool: "boolean", list: "list", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _jsonl_lines(lines: Iterable[bytes], *, origin: str) -> Iterator[RawItem]:
    for number, line in enumerate(lines, 1):
        if line is None:
            continue  # a line over the limit, reported by whoever read it
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM):]
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield RawItem(None, line, where, problem=f"line {number} is not valid JSON: {exc}")
            continue
        problem = None if isinstance(obj, dict) else f"line {number} is a {_json_kind(obj)}, not an object"
        yield RawItem(_key_of(obj), line, where, problem)


def bounded_lines(handle, limit: int, on_skip: Callable[[str, str], None], origin: str) -> Iterator[bytes | None]:
    """The lines of a binary file, never holding more than `limit` bytes of one.

    A longer line is read past in chunks, reported to `on_skip` with its
    number and size, and stands as None so the numbering of the rest holds:
    a 2 GB line costs no more memory than a legal one.
    """
    number = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) <= limit or line.endswith(b"\n") and len(line) <= limit + 1:
            yield line
            continue
        size = len(line)
        while not line.endswith(b"\n"):
            line = handle.readline(1 << 20)
            if not line:
                break
            size += len(line)
        on_skip(f"{origin}:{number}", f"line of {_size(size)} is over the {_size(limit)} message limit")
        yield None


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MiB" if n >= 1048576 else f"{n:,} bytes"


def _jsonl_file(path: Path, on_skip: "SkipReport") -> Iterator[RawItem]:
    """Streamed line by line so a multi-gigabyte export needs no more memory than one line."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise IngestError(f"no such file: {path}") from None
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        try:
            yield from _jsonl_lines(bounded_lines(handle, MAX_PAYLOAD_BYTES, on_skip, str(path)), origin=str(path))
        except OSError as exc:
            raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------- feeds

_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


def _refuse_entities(data: bytes, origin: str) -> None:
    """Refuse feeds whose DOCTYPE declares entities (XXE, billion laughs).

    feedparser already drops most of them and never loads external entities, but
    a feed that declares entities is hostile or broken either way, and the user
    should hear about it rather than get a quietly altered text.
    """
    if not _ENTITY_DECL.search(data):
        return
    try:
        SafeElementTree.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise IngestError(
            f"refused feed {origin}: its DOCTYPE declares XML entities ({type(exc).__name__}); "
            "entities are never expanded or loaded"
        ) from None
    except SafeElementTree.ParseError:
        if _DOCTYPE.search(data):
            raise IngestError(
                f"refused feed {origin}: malformed XML whose DOCTYPE declares entities"
            ) from None


@dataclass(frozen=True)
class FeedEntry:
    identity: str
    """What makes an entry "already sent": its id/guid, else its link, else a hash of title and text."""
    item: RawItem


@dataclass(frozen=True)
class Feed:
    title: str
    entries: list[FeedEntry]
    warning: str | None = None
    """Set when the feed was not well-formed but entries could still be read."""


def _detail_text(value: str, detail: dict | None) -> str:
    kind = (detail or {}).get("type", "text/plain")
    if kind in ("text/html", "application/xhtml+xml"):
        return html_to_text(value)
    return value.strip()


def _entry_body(entry: dict) -> str:
    contents = entry.get("content") or []
    for wanted in (("text/html", "application/xhtml+xml"), ("text/plain",)):
        for content in contents:
            if content.get("type") in wanted and content.get("value"):
                return _detail_text(content["value"], content)
    if entry.get("summary"):
        return _detail_text(entry["summary"], entry.get("summary_detail"))
    return ""


def _struct_iso(value) -> str | None:
    try:
        return _iso(datetime(*value[:6], tzinfo=timezone.utc))
    except (TypeError, ValueError, OverflowError):
        return None


def _entry_link(entry: dict, entry_id: str) -> str:
    """The entry's http(s) link, else an http(s) id, else "".

    Any other scheme (`javascript:`, `file:`, `gopher:`, a relative path) is
    dropped rather than published as the article's url: downstream it would be
    shown and followed as a link to the story. The entry itself is kept; with
    no usable link at all the parse stage dead-letters it with the reason
    (an empty url), where it stays visible instead of silently vanishing.
    """
    link = (entry.get("link") or "").strip()
    if link and not is_http_url(link):
        link = ""
    if not link and is_http_url(entry_id):
        link = entry_id
    return link


def _entry_article(entry: dict, *, source: str, language: str | None, when: str) -> dict:
    entry_id = (entry.get("id") or "").strip()
    link = _entry_link(entry, entry_id)
    published = None
    for name in ("published_parsed", "updated_parsed"):
        if entry.get(name):
            published = _struct_iso(entry[name])
            if published:
                break
    article = {
        "url": link,
        "source": source,
        "title": _detail_text(entry.get("title") or "", entry.get("title_detail")),
        "body": _entry_body(entry),
        "published_at": published or when,
    }
    if entry_id:
        article["id"] = entry_id
    lang = (entry.get("title_detail") or {}).get("language") or language
    if lang:
        article["language"] = lang
    tags = []
    for tag in entry.get("tags") or []:
        term = (tag.get("term") or tag.get("label") or "").strip()
        if term and term not in tags:
            tags.append(term)
    if tags:
        article["tags"] = tags
    if entry.get("author"):
        article["author"] = entry["author"]
    return article


def read_feed(
    data: bytes,
    *,
    origin: str,
    now: datetime | None = None,
    base_url: str | None = None,
    fallback_source: str = "feed",
) -> Feed:
    """Parse RSS/Atom bytes into one RawArticle per entry.

    feedparser only ever sees a byte stream: given a string or bytes it may open
    a URL or a local file named by them.
    """
    _refuse_entities(data, origin)
    when = _now_iso(now)
    headers = {"content-location": base_url} if base_url else {}
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    except Exception as exc:  # a parser crash on hostile input is an input problem, but keep the traceback
        log.exception("feedparser failed on %s", origin)
        raise IngestError(f"cannot parse feed {origin}: {type(exc).__name__}: {exc}") from exc
    version = parsed.get("version") or ""
    entries = parsed.get("entries") or []
    warning = None
    if parsed.get("bozo"):
        reason = parsed.get("bozo_exception")
        if not entries:
            if version:
                raise IngestError(f"malformed feed {origin}: {reason}")
            raise IngestError(f"{origin} is not a readable RSS/Atom feed: {reason}")
        warning = f"feed {origin} is not well-formed ({reason}); read {len(entries)} entries leniently"
        log.warning("%s", warning)
    elif not version and not entries:
        raise IngestError(f"{origin} is not an RSS/Atom feed")
    info = parsed.get("feed") or {}
    title = _detail_text(info.get("title") or "", info.get("title_detail")) or fallback_source
    language = info.get("language")
    items = []
    dropped_links = []
    for entry in entries:
        article = _entry_article(entry, source=title, language=language, when=when)
        link = (entry.get("link") or "").strip()
        if link and not is_http_url(link):
            dropped_links.append(link)
        identity = article.get("id") or article["url"]
        if not identity:
            digest = hashlib.sha1(f"{article['title']}\n{article['body']}".encode("utf-8", "surrogatepass"))
            identity = f"sha1:{digest.hexdigest()}"
        key = article["url"] or article.get("id") or None
        items.append(FeedEntry(identity, RawItem(key, orjson.dumps(article), origin)))
    if dropped_links:
        log.warning("feed %s: ignored the links of %d entries that are not http(s) URLs (first: %.80r)",
                    origin, len(dropped_links), dropped_links[0])
    return Feed(title=title, entries=items, warning=warning)


def parse_feed(data: bytes, *, origin: str, now: datetime | None = None, base_url: str | None = None,
               fallback_source: str = "feed") -> list[RawItem]:
    feed = read_feed(data, origin=origin, now=now, base_url=base_url, fallback_source=fallback_source)
    return [entry.item for entry in feed.entries]


# --------------------------------------------------------------------- URLs

_FEED_ROOTS = frozenset({"rss", "feed", "rdf:rdf", "rdf"})
_FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml", "text/xml"}
)
_JSONL_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl",
                          "application/x-jsonlines", "application/jsonlines"})
_ROOT = re.compile(rb"<([A-Za-z][\w:.-]*)")


def _root_element(data: bytes) -> str | None:
    head = re.sub(rb"<!--.*?-->", b"", data[:8192], flags=re.DOTALL)
    match = _ROOT.search(head)
    return match.group(1).decode("ascii", "replace").lower() if match else None


def sniff_kind(data: bytes, content_type: str | None) -> str | None:
    """'feed', 'html', 'json', 'jsonl', 'txt' or None, from the bytes first and the header second.

    Servers often label feeds text/html or text/plain, so the root element wins.
    """
    mime = (content_type or "").split(";")[0].strip().lower()
    root = _root_element(data)
    if root in _FEED_ROOTS:
        return "feed"
    if root == "html" or mime in ("text/html", "application/xhtml+xml"):
        return "html"
    if re.match(rb"\s*<!doctype\s+html", data.lstrip(_BOM)[:512], re.IGNORECASE):
        return "html"
    if mime in _FEED_TYPES or mime.endswith(("+xml", "/xml")):
        return "feed"
    if mime in _JSONL_TYPES:
        return "jsonl"
    if mime == "application/json" or mime.endswith("+json"):
        return "json"
    if mime == "text/plain":
        return "txt"
    return None


def _host_source(url: str) -> str:
    host = urlsplit(url).hostname or "web"
    return host[4:] if host.startswith("www.") else host


def items_from_fetch(result: FetchResult, *, now: datetime | None = None) -> list[RawItem]:
    """RawItems for a fetched URL, whatever it serves."""
    url = result.final_url
    kind = sniff_kind(result.content, result.content_type)
    when = _now_iso(now)
    source = _host_source(url)
    if kind == "feed":
        return parse_feed(result.content, origin=url, now=now, base_url=url, fallback_source=source)
    if kind == "html":
        return list(_html_items(result.content, url=url, source=source, origin=url, when=when,
                                charset=_charset_of(result.content_type)))
    if kind == "json":
        return list(_json_items(result.content, origin=url))
    if kind == "jsonl":
        return list(_jsonl_lines(io.BytesIO(result.content), origin=url))
    if kind == "txt":
        charset = _charset_of(result.content_type)
        data = result.content
        if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii", "ascii"):
            decoded = _decode_html(data, charset)  # honours the declared charset, strictly
            data = decoded.encode("utf-8") if decoded is not None else data
        return list(_text_items(data, url=url, source=source, origin=url, when=when))
    shown = (result.content_type or "none").split(";")[0]
    raise IngestError(
        f"unsupported content type '{shown}' from {url}; expected an RSS/Atom feed, HTML, JSON, JSON Lines or plain text"
    )


# ---------------------------------------------------------------- dispatch


def _is_url(target: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target) is not None


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _unsupported(path: Path) -> IngestError:
    shown = _suffix(path) or "(no extension)"
    return IngestError(f"unsupported file type '{shown}' for path {path}; expected {_EXPECTED}")


def _files_of(path: Path) -> list[Path]:
    """Validate the target eagerly so a typo fails before anything is produced."""
    if not path.exists():
        raise IngestError(f"no such file: {path}")
    if path.is_dir():
        found = []

        def fail(exc: OSError) -> None:
            raise IngestError(f"cannot read directory {exc.filename}: {exc.strerror or exc}")

        for root, dirs, files in os.walk(path, onerror=fail):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                candidate = Path(root) / name
                if not name.startswith(".") and _suffix(candidate) in SUPPORTED_SUFFIXES:
                    found.append(candidate)
        if not found:
            raise IngestError(f"no supported files in directory {path}; expected {_EXPECTED}")
        return sorted(found, key=lambda p: p.relative_to(path).parts)
    if _suffix(path) not in SUPPORTED_SUFFIXES:
        raise _unsupported(path)
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from None
    return [path]


FILE_LIMITS = {".txt": MAX_PAYLOAD_BYTES, ".html": MAX_PAYLOAD_BYTES, ".htm": MAX_PAYLOAD_BYTES,
               ".json": 64 * 1048576, ".xml": DEFAULT_MAX_BYTES, ".rss": DEFAULT_MAX_BYTES, ".atom": DEFAULT_MAX_BYTES}
"""The most of each kind of file read whole. A page becomes one message, so it
has the message limit; a `.json` list is split into one message per element
(larger exports belong in `.jsonl`, read a line at a time); a feed file has the
limit of a fetched feed."""

SkipReport = Callable[[str, str], None]
"""Told (where, why) about input that is left out, so the rest can go on."""


def _raise_skip(where: str, reason: str) -> None:
    raise IngestError(f"{where}: {reason}")


def _file_items(path: Path, when: str, now: datetime | None, on_skip: SkipReport = _raise_skip) -> Iterator[RawItem]:
    suffix = _suffix(path)
    origin = str(path)
    if suffix == ".jsonl":
        yield from _jsonl_file(path, on_skip)
        return
    data = _read(path, FILE_LIMITS[suffix])
    if suffix == ".txt":
        yield from _text_items(data, url=_file_uri(path), source=_file_source(path), origin=origin, when=when)
    elif suffix in (".html", ".htm"):
        yield from _html_items(data, url=_file_uri(path), source=_file_source(path), origin=origin, when=when)
    elif suffix == ".json":
        yield from _json_items(data, origin=origin)
    elif suffix in FEED_SUFFIXES:
        yield from parse_feed(data, origin=origin, now=now, fallback_source=path.stem)
    else:  # pragma: no cover - _files_of filters suffixes
        raise _unsupported(path)


def _iter_files(files: list[Path], when: str, now: datetime | None, on_skip: SkipReport | None) -> Iterator[RawItem]:
    """Every file's items; with `on_skip`, a file that cannot be read is reported and the next one read."""
    for path in files:
        if on_skip is None:
            yield from _file_items(path, when, now)
            continue
        try:
            yield from _file_items(path, when, now, on_skip)
        except IngestError as exc:
            message, named = str(exc), f"{path}: "
            on_skip(str(path), message[len(named):] if message.startswith(named) else message)


def _iter_url(
    url: str, fetcher: Callable[..., FetchResult], now: datetime | None, *, allow_private: bool = False
) -> Iterator[RawItem]:
    yield from items_from_fetch(fetcher(url, allow_private=allow_private), now=now)


def _path_of_file_url(target: str) -> Path:
    parts = urlsplit(target)
    if parts.netloc not in ("", "localhost"):
        raise IngestError(f"cannot read {target}: file:// URLs must name a local path")
    return Path(unquote(parts.path))


def iter_raw_articles(
    target: str, *, now: datetime | None = None, fetcher: Callable[..., FetchResult] | None = None,
    on_skip: SkipReport | None = None, allow_private: bool = False,
) -> Iterator[RawItem]:
    """RawItems for a file, a directory (supported files in it, recursively, sorted) or an http(s) URL.

    A missing path, an unsupported extension or a non-http URL raises
    `IngestError` at call time. Without `on_skip`, read and network errors
    surface while iterating; with it, a file that cannot be read or a line over
    the message limit is reported there and the rest is read: one bad file
    never stops a folder. Every page read in one call gets the same
    `published_at` fallback (`now`). `allow_private=True` lets a URL target
    (and its redirects) be on this machine or a private network; `fetcher` is
    called with it as a keyword.
    """
    target = os.fspath(target)
    when = _now_iso(now)
    if _is_url(target):
        if target.lower().startswith("file://"):
            return _iter_files(_files_of(_path_of_file_url(target)), when, now, on_skip)
        check_http_url(target)
        return _iter_url(target, fetcher or fetch_url, now, allow_private=allow_private)
    return _iter_files(_files_of(Path(target)), when, now, on_skip)


# -------------------------------------------------------------- estimation

_FEED_ITEM = re.compile(rb"<(?:item|entry)[\s>/]")


def _estimate_file(path: Path) -> int | None:
    suffix = _suffix(path)
    try:
        if suffix in (".txt", ".html", ".htm"):
            return 1
        if suffix == ".jsonl":
            count = 0
            with open(path, "rb") as handle:
                for line in handle:
                    if line.strip() and line.strip() != _BOM:
                        count += 1
            return count
        if suffix == ".json":
            with open(path, "rb") as handle:
                head = handle.read(4096).lstrip(_BOM).lstrip()
            if not head.startswith(b"["):
                return 1
            if path.stat().st_size > _ESTIMATE_JSON_MAX:
                return None
            try:
                document = orjson.loads(path.read_bytes().lstrip(_BOM))
            except orjson.JSONDecodeError:
                return 1
            return len(document) if isinstance(document, list) else 1
        if suffix in FEED_SUFFIXES:
            return len(_FEED_ITEM.findall(path.read_bytes()))
    except OSError:
        return None
    return None


def estimate_total(target: str) -> int | None:
    """How many RawItems `iter_raw_articles(target)` will yield, for a progress bar; None if unknown.

    Exact for .txt/.html/.jsonl/.json, a tag count for feeds, None for URLs.
    """
    target = os.fspath(target)
    if _is_url(target):
        if not target.lower().startswith("file://"):
            return None
        try:
            path = _path_of_file_url(target)
        except IngestError:
            return None
    else:
        path = Path(target)
    try:
        files = _files_of(path)
    except IngestError:
        return None
    total = 0
    for file in files:
        count = _estimate_file(file)
        if count is None:
            return None
        total += count
    return total
