"""One `articles.raw` message -> the ParsedArticle dicts it contains.

A page yields its lead article first, then one article per "read also" block
it embeds, each with its own stable id. Kafka-free: the parse agent and
`newsstreams process` both call `parse_payload`.
"""

from __future__ import annotations

import re

from .decode import KNOWN_FIELDS, TITLE_CHARS, RejectedArticle, decode_raw, normalize_timestamp, validate_raw
from .html import cut_text, cut_title, extract_html
from .ids import article_id
from .language import detect_language
from .normalize import arabic_letters, clean_display, fold_phrase
from .segment import KnownPhrases, segment

SCHEMA = "parsed_article/1"

_SENTENCE_RE = re.compile(r"[.!?؟…](?=\s|$)")

__all__ = ["SCHEMA", "TITLE_CHARS", "RejectedArticle", "first_sentence", "parse_payload", "parse_raw"]


def parse_payload(
    payload: bytes, *, ingested_at: str, split_tags: KnownPhrases | None = None
) -> list[dict]:
    """Bytes of one raw message -> ParsedArticle dicts; raises only RejectedArticle for bad input."""
    return _parse_article(decode_raw(payload), ingested_at, split_tags)


def parse_raw(raw: dict, *, ingested_at: str, split_tags: KnownPhrases | None = None) -> list[dict]:
    """A RawArticle dict -> ParsedArticle dicts (lead first, then embedded articles).

    `split_tags` splits a keyword line into known multiword names (the
    knowledge base's longest match); `ingested_at` is when the message arrived
    and stands in for a missing publication time.
    """
    return _parse_article(validate_raw(raw), ingested_at, split_tags)


def _parse_article(article: dict, ingested_at: str, split_tags: KnownPhrases | None) -> list[dict]:
    ingested = normalize_timestamp(ingested_at)
    url = article["url"]
    raw_title = _one_line(article["title"])
    published = article["published_at"]

    text = article.get("body")
    page_title = None
    from_page = text is None or not text.strip()
    if from_page:
        # Refused when over a markup bound; the text comes cut at MAX_BODY_CHARS.
        page = extract_html(article["html"], url)
        text, page_title = page.body, page.title
        published = published or page.published_at

    segments = segment(text, known_phrases=split_tags, known_title=raw_title or page_title)
    # Segmenting parts paragraphs with a blank line, which can take a cut page's text a
    # little past the limit again.
    body = cut_text(segments.body) if from_page else segments.body
    if not body.strip():
        raise RejectedArticle("no article text after removing boilerplate")

    # A page title is matched against the text's first line uncut, and cut once it is the title.
    title = raw_title or (page_title and cut_title(page_title)) or segments.title or first_sentence(body)
    host_id = article.get("id") or article_id(url, title, body)
    published = published or ingested
    source_name = segments.source_name or article["source"]

    children: list[dict] = []
    seen = {host_id}
    for embedded in segments.embedded:
        child_id = article_id(url, embedded.title, embedded.body)
        if child_id in seen:
            continue
        seen.add(child_id)
        children.append(
            _parsed(
                id=child_id,
                url=url,
                source={"name": source_name, "url": url, "agency": None},
                language=detect_language(embedded.body),
                published_at=published,
                ingested_at=ingested,
                title=embedded.title,
                body=embedded.body,
                tags=[],
                related=[],
                embedded=[],
                embedded_in=host_id,
                extra={},
            )
        )

    host = _parsed(
        id=host_id,
        url=url,
        source={"name": source_name, "url": url, "agency": segments.agency},
        language=article.get("language") or detect_language(body),
        published_at=published,
        ingested_at=ingested,
        title=title,
        body=body,
        tags=_merge_tags(article["tags"], segments.tags),
        related=segments.related,
        embedded=[{"id": child["id"], "title": child["title"]} for child in children],
        embedded_in=None,
        extra={key: value for key, value in article.items() if key not in KNOWN_FIELDS},
    )
    return [host, *children]


def _parsed(**fields) -> dict:
    """Field order of the parsed_article/1 contract."""
    return {
        "schema": SCHEMA,
        "id": fields["id"],
        "url": fields["url"],
        "source": fields["source"],
        "language": fields["language"],
        "published_at": fields["published_at"],
        "ingested_at": fields["ingested_at"],
        "title": fields["title"],
        "body": fields["body"],
        "tags": fields["tags"],
        "related": fields["related"],
        "embedded": fields["embedded"],
        "embedded_in": fields["embedded_in"],
        "duplicate_of": None,
        "extra": fields["extra"],
    }


def first_sentence(body: str, limit: int = TITLE_CHARS) -> str:
    """A stand-in title: the first sentence, or about `limit` characters cut at a word."""
    paragraph = body.strip().split("\n", 1)[0].strip()
    end = _SENTENCE_RE.search(paragraph)
    sentence = paragraph[: end.start()] if end else paragraph
    if len(sentence) <= limit:
        return sentence.strip()
    return cut_title(sentence, limit)


def _one_line(text: str) -> str:
    return " ".join(clean_display(text).split())


def _merge_tags(raw_tags: list[str], page_tags: list[str]) -> list[str]:
    """Feed tags first, then the page's, once each by folded form, in Arabic letters."""
    seen, out = set(), []
    for tag in [*raw_tags, *page_tags]:
        tag = arabic_letters(_one_line(tag))
        key = fold_phrase(tag)
        if key and key not in seen:
            seen.add(key)
            out.append(tag)
    return out
