"""Main content of an HTML page, via trafilatura, without any network access.

Navigation, footers and comments go; title, date and site name come from the
page metadata. Aggregator boilerplate inside the article (attribution, tags,
"read also") survives any extractor, so the text still goes through `segment`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from .decode import normalize_timestamp

# trafilatura logs every page it cannot extract; a worker logs its own reasons.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
logging.getLogger("htmldate").setLevel(logging.CRITICAL)

_DATE_PARAMS = {
    "extensive_search": True,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}
_LANG_RE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    title: str | None
    body: str
    published_at: str | None  # ISO 8601 UTC, or None when the page gives no date
    site_name: str | None
    language: str | None  # the page's declared language (primary subtag), not detected


def extract_html(html: str, url: str | None = None) -> ExtractedPage:
    """Main text and metadata of one page; an empty body when nothing readable is found."""
    import trafilatura  # imported on first HTML page: plain-text feeds never pay for it

    document = None
    try:
        document = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            date_extraction_params=_DATE_PARAMS,
        )
    except Exception:  # hostile markup must not stop the stream; fall back below
        document = None

    text = _attr(document, "text") or ""
    if not text.strip():
        text = _baseline(trafilatura, html)
    return ExtractedPage(
        title=_clean(_attr(document, "title")),
        body=text.strip(),
        published_at=_date(_attr(document, "date")),
        site_name=_clean(_attr(document, "sitename")),
        language=_language(_attr(document, "language")),
    )


def _baseline(trafilatura, html: str) -> str:
    """trafilatura's simple paragraph collector, for pages its main pass rejects."""
    try:
        _, text, _ = trafilatura.baseline(html)
    except Exception:
        return ""
    return text or ""


def _attr(document, name: str):
    if document is None:
        return None
    if isinstance(document, dict):
        return document.get(name)
    return getattr(document, name, None)


def _clean(value) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _date(value) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalize_timestamp(value)
    except ValueError:
        return None


def _language(value) -> str | None:
    if not isinstance(value, str) or not _LANG_RE.fullmatch(value.strip()):
        return None
    return re.split(r"[-_]", value.strip(), maxsplit=1)[0].lower()
