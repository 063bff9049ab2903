"""Main content of an HTML page, via trafilatura, without any network access.

Navigation, footers and comments go; title, date and site name come from the
page metadata. Aggregator boilerplate inside the article (attribution, tags,
"read also") survives any extractor, so the text still goes through `segment`.

Markup is the one input whose cost is not proportional to what it says: a few
megabytes of `<br>` or unclosed `<a>` once kept a worker busy for minutes and
left it holding a gigabyte. So a page passes these bounds, each cheap before
the next costs anything:

1. its size (`decode.MAX_HTML_CHARS`, checked when the message is decoded and
   again here) and its number of tags (`MAX_HTML_TAGS`), counted on the string
   before anything is parsed: a page over either is refused;
2. the parser itself nests at most 255 levels deep (libxml2 stops descending
   there), so depth needs no check of its own;
3. in the parsed tree, attribute values over `MAX_ATTRIBUTE_CHARS` are dropped
   and the text is cut at `MAX_PAGE_TEXT_CHARS`, so a page of endless
   paragraphs costs no more than a long article;
4. extraction runs on a CPU budget (`EXTRACT_CPU_SECONDS`); markup that is
   still slow to extract inside the other bounds is refused when it runs out.

What comes out is held to the limits of a plain-text message: the body is cut
at `decode.MAX_BODY_CHARS`, at a paragraph or word boundary, and titles at
`decode.TITLE_CHARS`. A refusal is a `RejectedArticle` whose reason names the
bound, so the parse stage dead-letters the message with the original bytes.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from dataclasses import dataclass
from functools import cache
from itertools import islice

from .decode import (
    MAX_BODY_CHARS,
    MAX_HTML_CHARS,
    MAX_TITLE_CHARS,
    TITLE_CHARS,
    RejectedArticle,
    normalize_timestamp,
)

# trafilatura logs every page it cannot extract; a worker logs its own reasons.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
logging.getLogger("htmldate").setLevel(logging.CRITICAL)

MAX_HTML_TAGS = 50_000
"""Most start tags (`<` and a letter) a page may have. An article page has a
few thousand elements at most; even counted this way, with tag-like text in
inline scripts included, it stays far below. Each element costs the extractor
tens of microseconds and some of its passes grow faster than the element
count: a page of a million tags took minutes."""

MAX_PAGE_TEXT_CHARS = 2 * MAX_BODY_CHARS
"""Text a parsed page keeps before extraction; the rest of the document is
dropped. Twice the body limit, so that boilerplate ahead of the article cannot
push article text out of the body, and small enough that extracting it stays
well inside the budget."""

MAX_ATTRIBUTE_CHARS = 10_000
"""Longer attribute values (inline images as `data:` URIs, serialised page
state) are dropped before extraction. Nothing the extractor reads, a class, a
link, a date or a `<meta>` description, comes near this length, but its date
search runs over the whole serialised page, attributes included."""

EXTRACT_CPU_SECONDS = 0.5
"""CPU time one page may spend in parsing and extraction. A heavy real page
takes under a tenth of a second; the rest of the parse stage needs at most
about 0.4 s for a body at the limit, so one message holds the worker for under
a second. CPU time rather than wall time, so that a busy machine does not turn
good pages away."""

_DATE_PARAMS = {
    "extensive_search": True,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}
_LANG_RE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
_START_TAG_RE = re.compile(r"<[A-Za-z]")
_LT_RE = re.compile("<")
# Elements whose text is never page text; trafilatura drops them too.
_NOT_TEXT = frozenset({"script", "style", "noscript", "template", "svg", "math"})
_TITLE_TRAILING = " ،,؛;:-–—"

__all__ = [
    "EXTRACT_CPU_SECONDS",
    "MAX_ATTRIBUTE_CHARS",
    "MAX_HTML_TAGS",
    "MAX_PAGE_TEXT_CHARS",
    "ExtractedPage",
    "check_markup",
    "cut_text",
    "cut_title",
    "extract_html",
    "truncate_markup",
    "warm",
]


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    title: str | None  # at most MAX_TITLE_CHARS; cut to TITLE_CHARS where it becomes an article's title
    body: str  # at most MAX_BODY_CHARS
    published_at: str | None  # ISO 8601 UTC, or None when the page gives no date
    site_name: str | None
    language: str | None  # the page's declared language (primary subtag), not detected


def check_markup(html: str) -> None:
    """Refuse, before any parsing, a page too large or with too many tags.

    The tag count is taken on the string: `str.count` settles nearly every real
    page at once, and a page with more `<` than the bound is counted exactly
    only up to the bound, so a refusal costs a few milliseconds however many
    tags there are.
    """
    if len(html) > MAX_HTML_CHARS:
        raise RejectedArticle(f"html is {len(html):,} characters, limit is {MAX_HTML_CHARS:,}")
    if _tags_end(html) < len(html):
        raise RejectedArticle(
            f"html has more than {MAX_HTML_TAGS:,} tags (an article page has a few thousand)"
        )


def truncate_markup(html: str) -> str:
    """The start of `html`: at most MAX_HTML_CHARS, and no more than MAX_HTML_TAGS `<`.

    For callers that would rather read the start of an oversized fragment than
    refuse it. Every `<` counts here, not only those of start tags: a pure
    Python parser slows down on each of them, tag or not.
    """
    html = html[:MAX_HTML_CHARS]
    return html[: _tags_end(html, _LT_RE)]


def _tags_end(html: str, pattern: re.Pattern = _START_TAG_RE) -> int:
    """Where the match of `pattern` after the first MAX_HTML_TAGS begins; len(html) if there is none."""
    if html.count("<") <= MAX_HTML_TAGS:
        return len(html)
    beyond = next(islice(pattern.finditer(html), MAX_HTML_TAGS, None), None)
    return len(html) if beyond is None else beyond.start()


def extract_html(html: str, url: str | None = None) -> ExtractedPage:
    """Main text and metadata of one page; an empty body when nothing readable is found.

    Raises RejectedArticle when the page is over one of the bounds in the
    module docstring.
    """
    check_markup(html)
    _trafilatura()  # the first page's one-off loading is not charged to its budget
    try:
        document, text = _within_budget(EXTRACT_CPU_SECONDS, _extract_page, html, url)
    except _OverBudget:
        raise RejectedArticle(
            f"html took over {EXTRACT_CPU_SECONDS} s of CPU to extract (an article page takes under 0.1 s)"
        ) from None
    return ExtractedPage(
        title=_clean(_attr(document, "title"), MAX_TITLE_CHARS),
        body=cut_text(text.strip(), MAX_BODY_CHARS),
        published_at=_date(_attr(document, "date")),
        site_name=_clean(_attr(document, "sitename"), TITLE_CHARS),
        language=_language(_attr(document, "language")),
    )


def _extract_page(html: str, url: str | None):
    """(trafilatura's document or None, main text) of one page, within the text bound."""
    trafilatura, load_html = _trafilatura()
    tree = _parse(load_html, html)
    if tree is None:
        return None, ""
    _trim_tree(tree)
    document = _extract(trafilatura, tree, url)
    text = _attr(document, "text") or ""
    if not text.strip():
        text = _baseline(trafilatura, tree)
    return document, text


def cut_text(text: str, limit: int = MAX_BODY_CHARS) -> str:
    """`text` if it fits; else its first `limit` characters, ending at a paragraph or word.

    A page's text is not in the sender's hands the way a `body` is, so it is
    cut rather than refused: the news is at the start. The cut falls on the
    last line break in the second half of the allowance, else the last space,
    else (one endless word) at the limit itself.
    """
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = head.rfind("\n")
    if cut < limit // 2:
        cut = max(head.rfind(" "), head.rfind("\t"))
    if cut < limit // 2:
        cut = limit
    return head[:cut].rstrip()


def cut_title(title: str, limit: int = TITLE_CHARS) -> str:
    """`title` if it fits; else cut at the last word before `limit`, with an ellipsis.

    A space earlier than half the limit means one long run of letters, which
    is cut at the limit instead.
    """
    if len(title) <= limit:
        return title
    cut = title.rfind(" ", 0, limit + 1)
    if cut < limit // 2:
        cut = limit
    return title[:cut].rstrip(_TITLE_TRAILING) + "…"


def _trim_tree(tree) -> None:
    """Apply the attribute and text bounds to a parsed page, in place."""
    for element in _long_attributes()(tree):
        for name, value in element.items():
            if len(value) > MAX_ATTRIBUTE_CHARS:
                del element.attrib[name]
    _keep_text(tree, MAX_PAGE_TEXT_CHARS)


@cache
def _long_attributes():
    """Elements with an attribute over MAX_ATTRIBUTE_CHARS, found by libxml2 itself in milliseconds."""
    from lxml import etree

    return etree.XPath(f"//*[@*[string-length() > {MAX_ATTRIBUTE_CHARS}]]")


def _keep_text(tree, limit: int) -> bool:
    """Drop whatever follows the first `limit` characters of text in `tree`; True if any was.

    Text is counted in document order (an element's text, its children, then
    its tail); script, style and similar elements hold none. The string that
    crosses the limit is cut, and everything after it in the document goes.
    """
    from lxml import etree

    left = limit
    for event, element in etree.iterwalk(tree, events=("start", "end")):
        if event == "start":
            if not isinstance(element.tag, str) or element.tag.lower() in _NOT_TEXT:
                continue
            text = element.text
            if text and len(text) > left:
                element.text = text[:left]
                for child in list(element):
                    element.remove(child)
                _drop_after(element, keep_tail=False)
                return True
            left -= len(text or "")
        else:
            tail = element.tail
            if tail and len(tail) > left:
                element.tail = tail[:left]
                _drop_after(element, keep_tail=True)
                return True
            left -= len(tail or "")
    return False


def _drop_after(element, keep_tail: bool) -> None:
    """Remove what follows `element` in document order: its tail unless kept,
    its later siblings, and the same for each of its ancestors."""
    if not keep_tail:
        element.tail = None
    node = element
    while True:
        parent = node.getparent()
        if parent is None:
            return
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)  # lxml removes the sibling's tail with it
        parent.tail = None
        node = parent


class _OverBudget(BaseException):
    """Raised by the budget's timer. A BaseException, so that the extractor's
    own `except Exception` fallbacks cannot swallow it."""


def _within_budget(seconds: float, work, *args):
    """`work(*args)`, interrupted with `_OverBudget` once the process has used `seconds` of CPU.

    The extractor is Python code over a bounded tree, so the interruption comes
    within milliseconds of the deadline. The timer ticks again every 50 ms
    in case some code catches an interruption, and a tick raises only while
    `work` is still on the stack: a late one, after `work` returned, does
    nothing. Signals are handled in the main thread only, so elsewhere `work`
    runs without a budget, bounded by the other limits alone. Whatever used the
    CPU timer before (a profiler) gets it back afterwards.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return work(*args)

    def expire(signum, frame):
        while frame is not None:
            if frame.f_code is _BUDGETED:
                raise _OverBudget
            frame = frame.f_back

    previous_handler = signal.signal(signal.SIGPROF, expire)
    previous_timer = signal.setitimer(signal.ITIMER_PROF, seconds, 0.05)
    try:
        return _budgeted(work, args)
    finally:
        signal.setitimer(signal.ITIMER_PROF, *previous_timer)
        signal.signal(signal.SIGPROF, previous_handler)


def _budgeted(work, args):
    return work(*args)


_BUDGETED = _budgeted.__code__


def warm() -> None:
    """Load the extractor now, so that the first page does not wait for it."""
    _trafilatura()


@cache
def _trafilatura():
    """trafilatura and its HTML loader, loaded and run once on a small page.

    Imported on the first HTML page, so that plain-text feeds never pay for
    it; the one-off loading of its modules and word lists happens here,
    outside any page's budget.
    """
    import trafilatura
    from trafilatura.utils import load_html

    # Short enough that trafilatura also tries its fallbacks, which load their word lists.
    warm = "<html><body><article><p>" + "نص قصير لتحميل المستخرج مرة واحدة. " * 3 + "</p></article></body></html>"
    _extract(trafilatura, _parse(load_html, warm), None)
    _baseline(trafilatura, _parse(load_html, warm))
    return trafilatura, load_html


def _parse(load_html, html: str):
    """The tree trafilatura would build from `html` itself; None when it is not HTML.

    Parsed once here so that the text bound applies before extraction and the
    fallback extractor reuses the same tree.
    """
    try:
        return load_html(html)
    except Exception:
        return None


def _extract(trafilatura, tree, url: str | None):
    try:
        return trafilatura.bare_extraction(
            tree,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            date_extraction_params=_DATE_PARAMS,
        )
    except Exception:  # hostile markup must not stop the stream; fall back to the baseline
        return None


def _baseline(trafilatura, tree) -> str:
    """trafilatura's simple paragraph collector, for pages its main pass rejects."""
    try:
        _, text, _ = trafilatura.baseline(tree)
    except Exception:
        return ""
    return text or ""


def _attr(document, name: str):
    if document is None:
        return None
    if isinstance(document, dict):
        return document.get(name)
    return getattr(document, name, None)


def _clean(value, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return cut_title(value, limit) if value else None


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
