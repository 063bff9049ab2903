"""Stable identifiers derived from what an article says, not where it was fetched.

The same page fetched twice, or fetched again with tracking parameters in its
URL, must get the same id so that downstream tables do not count it twice.
"""

from __future__ import annotations

import hashlib

from .normalize import fold_phrase

ID_PREFIX = "a-"


def article_id(url: str | None, title: str | None, body: str | None) -> str:
    """`a-` + 16 hex of sha1 over the folded title and body.

    Folding makes letter variants, diacritics and spacing irrelevant; the URL
    is used only when there is no text at all.
    """
    content = fold_phrase(title or "") + "\n" + fold_phrase(body or "")
    if not content.strip():
        content = "url:" + (url or "").strip()
    return ID_PREFIX + hashlib.sha1(content.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def content_fingerprint(body: str) -> str:
    """sha1 of the folded body: equal for exact copies whatever their spelling noise."""
    return hashlib.sha1(fold_phrase(body or "").encode("utf-8", "surrogatepass")).hexdigest()
