"""Raw message bytes -> ParsedArticle dicts, and refusals with a reason."""

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from streams.text.decode import MAX_PAYLOAD_BYTES, RejectedArticle, decode_raw
from streams.text.ids import article_id, content_fingerprint
from streams.text.language import detect_language
from streams.text.parse import SCHEMA, first_sentence, parse_payload, parse_raw

SEEDS = Path(__file__).parent / "fixtures" / "seeds"
KREMLIN = (SEEDS / "000_125a1a27dd233278.txt").read_text(encoding="utf-8")
MOSCOW = (SEEDS / "001_2bbf372be5c7d271.txt").read_text(encoding="utf-8")
INGESTED = "2024-11-04T10:00:00.000Z"

PARSED_FIELDS = [
    "schema", "id", "url", "source", "language", "published_at", "ingested_at", "title", "body",
    "tags", "related", "embedded", "embedded_in", "duplicate_of", "extra",
]


def raw(body: str = KREMLIN, **fields) -> dict:
    article = {
        "url": "https://www.kuwaitnews.example/article/123",
        "source": "aggregator",
        "title": "",
        "body": body,
        "published_at": "2024-11-04T12:30:00+03:00",
    }
    article.update(fields)
    return article


def payload(article: dict) -> bytes:
    return orjson.dumps(article)


def reason_for(data: bytes) -> str:
    with pytest.raises(RejectedArticle) as caught:
        parse_payload(data, ingested_at=INGESTED)
    return caught.value.reason


# --- golden pages -------------------------------------------------------------


@pytest.fixture(scope="module")
def kremlin():
    return parse_payload(payload(raw(KREMLIN, shard=7)), ingested_at=INGESTED)


@pytest.fixture(scope="module")
def moscow():
    return parse_payload(payload(raw(MOSCOW, url="https://alwatan.example/n/9")), ingested_at=INGESTED)


def test_seed_000_lead_article(kremlin):
    lead = kremlin[0]
    assert list(lead) == PARSED_FIELDS
    assert lead["schema"] == SCHEMA == "parsed_article/1"
    assert lead["source"] == {"name": "كويت نيوز", "url": "https://www.kuwaitnews.example/article/123", "agency": "د ب أ"}
    assert lead["language"] == "ar"
    assert lead["published_at"] == "2024-11-04T09:30:00Z"
    assert lead["ingested_at"] == INGESTED.replace(".000", "")
    assert lead["embedded_in"] is None and lead["duplicate_of"] is None
    assert lead["extra"] == {"shard": 7}
    assert "عام 2022." in lead["body"] and "عام .2022" not in lead["body"]
    for boilerplate in ["المصدر", "كلمات دلالية", "الوسوم", "إقرأ أيضاً", "تابع أحدث الأخبار", "مقالات مشابهة", "جان نويل بارو"]:
        assert boilerplate not in lead["body"]
    assert "روسيا" in lead["tags"]
    assert lead["tags"].count("كوريا الشمالية") == 1
    assert len(lead["related"]) == 10


def test_seed_000_title_falls_back_to_the_first_sentence(kremlin):
    title = kremlin[0]["title"]
    assert title.startswith("التقى الرئيس الروسي فلاديمير بوتين")
    assert len(title) <= 121


def test_seed_000_embedded_article(kremlin):
    lead, embedded = kremlin
    assert embedded["title"] == "وزير الخارجية الفرنسي: الهدنة بين روسيا وأوكرانيا قد تظهر مدى استعداد بوتين لمحادثات سلام"
    assert embedded["body"].startswith("قال وزير الخارجية الفرنسي جان نويل بارو")
    assert embedded["embedded_in"] == lead["id"]
    assert embedded["id"] != lead["id"]
    assert lead["embedded"] == [{"id": embedded["id"], "title": embedded["title"]}]
    assert embedded["source"]["name"] == lead["source"]["name"]
    assert embedded["published_at"] == lead["published_at"]
    assert embedded["language"] == "ar"
    assert (embedded["tags"], embedded["related"], embedded["embedded"]) == ([], [], [])
    assert list(embedded) == PARSED_FIELDS


def test_seed_001(moscow):
    lead, embedded = moscow
    assert lead["source"]["name"] == "الوطن"
    assert lead["source"]["agency"] is None
    assert embedded["title"] == "زيلينسكي: تطوير دفاعات أوكرانيا الجوية لمواجهة التصعيد الروسي"
    assert len(lead["related"]) == 10
    assert "زيلينسكي" not in lead["body"]


def test_the_same_page_twice_gets_the_same_ids():
    first = parse_payload(payload(raw(KREMLIN)), ingested_at=INGESTED)
    again = parse_payload(
        payload(raw(KREMLIN, url="https://www.kuwaitnews.example/article/123?utm_source=tw&fbclid=x")),
        ingested_at="2024-11-05T08:00:00Z",
    )
    assert [a["id"] for a in first] == [a["id"] for a in again]
    other = parse_payload(payload(raw(MOSCOW)), ingested_at=INGESTED)
    assert other[0]["id"] != first[0]["id"]


def test_an_id_supplied_by_the_feed_is_kept():
    out = parse_payload(payload(raw(KREMLIN, id="feed-42")), ingested_at=INGESTED)
    assert out[0]["id"] == "feed-42"
    assert out[1]["embedded_in"] == "feed-42"


def test_ids_ignore_spelling_noise_but_not_content():
    assert article_id("u1", "عنوان", "نص الخبر") == article_id("u2", "عنوان", "نصّ  الخبر\u200f")
    assert article_id("u1", "عنوان", "نص الخبر").startswith("a-")
    assert len(article_id("u1", "عنوان", "نص الخبر")) == 18
    assert article_id("u1", "عنوان", "نص الخبر") != article_id("u1", "عنوان", "نص آخر")
    assert content_fingerprint("كوريا الشمالية") == content_fingerprint("کوریا الشمالیة")


# --- fields -------------------------------------------------------------------


def test_feed_title_language_and_tags_are_used():
    out = parse_payload(
        payload(raw(KREMLIN, title="بوتين يستقبل تشوي", language="AR-eg", tags=["الكرملين", "روسيا", "کوریا الشمالیة"])),
        ingested_at=INGESTED,
    )
    lead = out[0]
    assert lead["title"] == "بوتين يستقبل تشوي"
    assert lead["language"] == "ar"
    assert lead["tags"] == ["الكرملين", "روسيا", "كوريا الشمالية"]


def test_missing_publication_time_falls_back_to_ingestion_time():
    article = raw(KREMLIN)
    del article["published_at"]
    assert parse_payload(payload(article), ingested_at="2024-11-04T13:00:00+02:00")[0]["published_at"] == "2024-11-04T11:00:00Z"
    article["published_at"] = None
    assert parse_payload(payload(article), ingested_at=INGESTED)[0]["published_at"] == "2024-11-04T10:00:00Z"


def test_plain_english_article_without_boilerplate():
    body = "The minister said on Monday that talks would continue next week in Geneva.\n\nNo date was set."
    out = parse_payload(payload(raw(body, title="Talks to continue")), ingested_at=INGESTED)
    assert len(out) == 1
    assert out[0]["body"] == body
    assert out[0]["language"] == "en"
    assert out[0]["source"] == {"name": "aggregator", "url": "https://www.kuwaitnews.example/article/123", "agency": None}


def test_html_goes_through_the_extractor_and_the_segmenter():
    html = """<html lang="ar"><head><title>بوتين يلتقي وزيرة خارجية كوريا الشمالية | موقع</title>
    <meta property="article:published_time" content="2024-11-20T10:15:00+03:00"></head><body>
    <nav><a href="/">الرئيسية</a> <a href="/p">سياسة</a></nav>
    <article><h1>بوتين يلتقي وزيرة خارجية كوريا الشمالية</h1>
    <p>التقى الرئيس الروسي فلاديمير بوتين، اليوم الاثنين، في القصر الرئاسي الروسي مع وزيرة خارجية كوريا الشمالية لإجراء محادثات.</p>
    <p>ولم يكشف الكرملين عن أي تفاصيل عن المباحثات التي جرت بينهما.</p>
    <p>المصدر: كويت نيوز</p><p>كلمات دلالية: روسيا كوريا الشمالية</p>
    <p>تابع أحدث الأخبار عبر تطبيق جوجل نيوز</p></article>
    <footer>جميع الحقوق محفوظة</footer></body></html>"""
    article = {"url": "https://e.example/1", "source": "feed", "title": "", "html": html}
    lead, = parse_payload(payload(article), ingested_at=INGESTED)
    assert lead["title"] == "بوتين يلتقي وزيرة خارجية كوريا الشمالية"
    assert lead["body"].startswith("التقى الرئيس الروسي")
    assert "المصدر" not in lead["body"] and "الرئيسية" not in lead["body"] and "جميع الحقوق" not in lead["body"]
    assert "تابع" not in lead["body"]
    assert lead["source"]["name"] == "كويت نيوز"
    assert lead["tags"] == ["روسيا", "كوريا الشمالية"]
    assert lead["published_at"] == "2024-11-20T07:15:00Z"


def test_first_sentence_is_cut_at_a_word():
    assert first_sentence("قال الوزير إن المحادثات مستمرة. وأضاف أمرا آخر.") == "قال الوزير إن المحادثات مستمرة"
    long = "كلمة " * 60
    cut = first_sentence(long)
    assert cut.endswith("…") and len(cut) <= 121 and "كلم…" not in cut


def test_detect_language():
    assert detect_language("") == "und"
    assert detect_language("12345 !!") == "und"
    assert detect_language(KREMLIN) == "ar"
    assert detect_language("Le président a rencontré le ministre des affaires étrangères.") == "fr"


# --- refusals -----------------------------------------------------------------


def test_boilerplate_only_page_is_rejected():
    page = "المصدر: كويت نيوز\nكلمات دلالية: روسيا\nتابع أحدث الأخبار عبر تطبيق"
    assert reason_for(payload(raw(page))) == "no article text after removing boilerplate"


@pytest.mark.parametrize(
    "data, expected",
    [
        (b'{"url": "\xff\xfe"}', "invalid UTF-8 at byte 9"),
        (b"\xef\xbb\xbf" + b'{"url": "\xc3"}', "invalid UTF-8 at byte 12"),
        (b"<html>not json</html>", "not JSON: "),
        (b'{"url": "x",', "not JSON: "),
        (b"", "payload is empty"),
        (b'[{"url": "x"}]', "JSON is a list, expected an object"),
        (b'"just a string"', "JSON is a string, expected an object"),
        (b"null", "JSON is null, expected an object"),
    ],
)
def test_undecodable_payloads_say_why(data, expected):
    assert reason_for(data).startswith(expected)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"url": None}, "field 'url' must be a string, got null"),
        ({"source": 5}, "field 'source' must be a string, got a number"),
        ({"title": ["a"]}, "field 'title' must be a string, got a list"),
        ({"body": {"text": "x"}}, "field 'body' must be a string, got an object"),
        ({"body": "   "}, "body is empty"),
        ({"url": "  "}, "field 'url' is empty"),
        ({"published_at": "yesterday"}, "field 'published_at' is not an ISO 8601 date: 'yesterday'"),
        ({"published_at": 1730700000}, "field 'published_at' must be an ISO 8601 string, got a number"),
        ({"tags": "روسيا"}, "field 'tags' must be a list of strings, got a string"),
        ({"tags": ["روسيا", 3]}, "field 'tags' must be a list of strings (item 1 is a number)"),
        ({"language": "Arabic language"}, "field 'language' is not a language code: 'Arabic language'"),
        ({"id": 12}, "field 'id' must be a string, got a number"),
        ({"body": "text\x00\x00binary"}, "field 'body' contains NUL characters (binary data?)"),
        ({"body": "ab\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11"}, "field 'body' looks like binary data"),
        ({"title": "x" * 3000}, "title is 3,000 characters, limit is 2,000"),
    ],
)
def test_wrong_fields_say_which_and_why(change, expected):
    assert reason_for(payload(raw(**change))).startswith(expected)


@pytest.mark.parametrize("field", ["url", "source", "title"])
def test_missing_required_field(field):
    article = raw()
    del article[field]
    assert reason_for(payload(article)) == f"missing field '{field}'"


def test_missing_body_and_html():
    article = raw()
    del article["body"]
    assert reason_for(payload(article)) == "missing field 'body' (or 'html')"


def test_oversized_payload_is_refused_before_parsing():
    data = b'{"body": "' + b"a" * MAX_PAYLOAD_BYTES + b'"}'
    assert reason_for(data) == "payload is 5.0 MiB, limit is 5 MiB"


def test_parse_raw_validates_dicts_too():
    with pytest.raises(RejectedArticle, match="missing field 'url'"):
        parse_raw({"source": "s", "title": "", "body": "x"}, ingested_at=INGESTED)


def test_a_leading_bom_is_accepted_and_unknown_fields_are_kept():
    article = decode_raw(b"\xef\xbb\xbf" + payload(raw("نص.", feed={"lang": "ar"}, score=0.5)))
    assert article["feed"] == {"lang": "ar"} and article["score"] == 0.5
    assert article["published_at"] == "2024-11-04T09:30:00Z"


# --- nothing but RejectedArticle, whatever arrives ------------------------------


def _parse_or_reject(data: bytes) -> None:
    try:
        out = parse_payload(data, ingested_at=INGESTED)
    except RejectedArticle as exc:
        assert exc.reason and isinstance(exc.reason, str)
        return
    for article in out:
        assert list(article) == PARSED_FIELDS
        assert article["body"].strip()
        orjson.dumps(article)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_parsed_or_rejected(data):
    _parse_or_reject(data)


_body_text = st.one_of(
    st.text(max_size=400),
    st.lists(
        st.sampled_from(
            ["المصدر", "المصدر:", "الوسوم", "كلمات دلالية:", "إقرأ أيضاً:", "مقالات مشابهة", "•", "- ",
             "تابع أحدث الأخبار عبر تطبيق", "(رويترز)", "د ب أ", "روسيا", "كوريا الشمالية", ".", "\n", "\n\n",
             " ", "عام .2022", "ﻻ", "\u200f", "\u0640", "x"]
        ),
        max_size=40,
    ).map("".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_body_text, title=st.text(max_size=30), tags=st.lists(st.text(max_size=10), max_size=4))
def test_arbitrary_text_bodies_are_parsed_or_rejected(body, title, tags):
    _parse_or_reject(payload(raw(body, title=title, tags=tags)))


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["url", "source", "title", "body", "html", "published_at", "id", "language", "tags", "x"]), _json, max_size=9))
def test_arbitrary_json_objects_are_parsed_or_rejected(obj):
    _parse_or_reject(orjson.dumps(obj))
