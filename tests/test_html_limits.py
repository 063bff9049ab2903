"""The `html` field is held to limits like a `body`: hostile markup costs a worker little.

Each hostile page is parsed by `Pipeline.parse` in a child process forked from
one warmed interpreter, so its time and its memory growth are its own and a
runaway parse is killed instead of hanging the run. Time and memory bounds are
ten times what was measured on a developer machine (never under 1 s and 50 MB):
loose enough for a loaded CI machine, far below what the same pages cost
without the limits (a minute and a gigabyte for the largest).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import astuple
from pathlib import Path

import orjson
import pytest

from streams.ingest.sources import _html_title, html_to_text
from streams.text import html as html_module
from streams.text.decode import MAX_BODY_CHARS, MAX_HTML_CHARS, TITLE_CHARS, RejectedArticle
from streams.text.html import MAX_HTML_TAGS, ExtractedPage, check_markup, cut_text, extract_html
from streams.text.parse import parse_payload

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "tests" / "fixtures" / "ingest" / "page.html"
INGESTED = "2024-11-04T10:00:00.000Z"

LEAD = (
    "<html><head><title>عنوان</title></head><body><article><p>التقى الرئيس الروسي فلاديمير بوتين اليوم "
    "في القصر الرئاسي مع وزيرة خارجية كوريا الشمالية لإجراء محادثات.</p></article>"
)
SENTENCE = "وقال المتحدث باسم الوزارة إن المحادثات ستستمر الأسبوع المقبل في جنيف دون تحديد موعد. "
FILL = MAX_HTML_CHARS - 1_000  # markup just inside the size limit


def _fit(unit: str, room: int = FILL) -> int:
    return (room - len(LEAD)) // len(unit)


# name -> markup. The first group is the reported attacks at full size (4-5 MB,
# inside the 5 MiB message limit); "_2mib" are the same inside the HTML size
# limit, so the tag count has to stop them; "_inside" are inside both.
PAGES = {
    "br": lambda: LEAD + "<br>" * 1_200_000,
    "a_unclosed": lambda: LEAD + "<a>" * 1_500_000,
    "p_unclosed": lambda: LEAD + "<p>" * 1_500_000,
    "deep": lambda: "<html><body>" + "<div>" * 400_000 + f"<p>{SENTENCE}</p>" + "</div>" * 400_000,
    "text_node": lambda: "<html><body><p>" + "word " * 900_000 + "</p>",
    "attr_value": lambda: LEAD + '<p data-x="' + "x" * 4_500_000 + f'">{SENTENCE}</p>',
    "comments": lambda: LEAD + "<!--x-->" * 560_000,
    "br_2mib": lambda: LEAD + "<br>" * _fit("<br>"),
    "a_2mib": lambda: LEAD + "<a>" * _fit("<a>"),
    "p_2mib": lambda: LEAD + "<p>" * _fit("<p>"),
    "deep_2mib": lambda: "<html><body>" + "<div>" * 180_000 + f"<p>{SENTENCE}</p>" + "</div>" * 180_000,
    "spans_inside": lambda: LEAD + "<p>" + "<b>x</b>" * (MAX_HTML_TAGS - 100) + "</p>",
    "deep_inside": lambda: "<html><body>" + "<div>" * (MAX_HTML_TAGS - 100) + f"<p>{SENTENCE}</p>",
    "text_node_inside": lambda: "<html><body><p>" + "كلمة " * _fit("كلمة ") + "</p>",
    "attr_value_inside": lambda: LEAD + '<p data-x="' + "x" * (FILL - len(LEAD)) + f'">{SENTENCE}</p>',
    "comments_inside": lambda: LEAD + "<!--x-->" * _fit("<!--x-->"),
    "long_text": lambda: "<html><body><article>"
    + "".join(f"<p>الفقرة رقم {i}: {SENTENCE * 5}</p>" for i in range(2_100))
    + "</article></body></html>",
}

# Measured (seconds in Pipeline.parse, MB of memory growth) with the limits, on
# a developer machine shared with other work. Without them the first three took
# 60-100 s and grew by 0.7-1 GB; without the CPU budget "spans_inside" takes 14 s.
MEASURED = {
    "br": (0.02, 5), "a_unclosed": (0.02, 5), "p_unclosed": (0.02, 5), "deep": (0.02, 1),
    "text_node": (0.01, 5), "attr_value": (0.02, 1), "comments": (0.02, 5),
    "br_2mib": (0.03, 3), "a_2mib": (0.03, 3), "p_2mib": (0.05, 3), "deep_2mib": (0.03, 3),
    "spans_inside": (0.8, 44), "deep_inside": (0.12, 6), "text_node_inside": (0.56, 15),
    "attr_value_inside": (0.11, 10), "comments_inside": (0.11, 10), "long_text": (0.47, 18),
}

SIZE = f"limit is {MAX_HTML_CHARS:,}"
TAGS = f"html has more than {MAX_HTML_TAGS:,} tags"
CPU = "of CPU to extract"

CHILD_SECONDS = 30  # a child still parsing then is killed: a runaway, not a slow machine

_CHILD = r"""
import json, os, resource, signal, sys, time, types
from tests.test_html_limits import INGESTED, PAGES
from streams.pipeline import Pipeline, RejectedArticle
from streams.text import html
import orjson

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

pipeline = Pipeline(extractor=types.SimpleNamespace(split_tags=None))
html.warm()
pipeline.parse(orjson.dumps({"url": "https://warm.example/", "source": "s", "title": "",
                             "html": PAGES["long_text"]()[:20000]}), INGESTED)
results = {}
for name in sys.argv[2:]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        signal.alarm(int(sys.argv[1]))
        payload = orjson.dumps({"url": "https://e.example/" + name, "source": "s", "title": "",
                                "html": PAGES[name]()})
        before = peak_mb()
        started = time.perf_counter()
        try:
            lead = pipeline.parse(payload, INGESTED)[0]
            result = {"body": lead["body"], "title": lead["title"]}
        except RejectedArticle as exc:
            result = {"rejected": exc.reason}
        result["seconds"] = time.perf_counter() - started
        result["grew_mb"] = peak_mb() - before
        with os.fdopen(write_end, "wb") as out:
            out.write(json.dumps(result).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as source:
        data = source.read()
    _, status = os.waitpid(pid, 0)
    results[name] = json.loads(data) if data else {"died": f"wait status {status}"}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def hostile():
    """Every page in PAGES through Pipeline.parse, each in its own forked child."""
    names = list(PAGES)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(CHILD_SECONDS), *names],
        cwd=ROOT, capture_output=True, text=True, timeout=CHILD_SECONDS * len(names) + 60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _within_bounds(result: dict, name: str) -> None:
    assert "died" not in result, f"{name}: killed after {CHILD_SECONDS} s ({result['died']})"
    seconds, grown = MEASURED[name]
    assert result["seconds"] < max(10 * seconds, 1.0), f"{name}: {result['seconds']:.2f} s"
    assert result["grew_mb"] < max(10 * grown, 50), f"{name}: grew by {result['grew_mb']:.0f} MB"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["br", "a_unclosed", "p_unclosed", "deep", "text_node", "attr_value", "comments"])
def test_a_page_over_the_size_limit_is_refused_before_parsing(hostile, name):
    result = hostile[name]
    _within_bounds(result, name)
    assert SIZE in result.get("rejected", ""), result.get("rejected") or "accepted"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["br_2mib", "a_2mib", "p_2mib", "deep_2mib"])
def test_a_page_with_too_many_tags_is_refused_before_parsing(hostile, name):
    result = hostile[name]
    _within_bounds(result, name)
    assert TAGS in result.get("rejected", ""), result.get("rejected") or "accepted"


@pytest.mark.timeout(600)
def test_markup_slow_to_extract_runs_out_of_its_cpu_budget(hostile):
    # 50,000 inline elements in one paragraph: inside the bounds, minutes of extraction.
    result = hostile["spans_inside"]
    _within_bounds(result, "spans_inside")
    assert CPU in result.get("rejected", ""), result.get("rejected") or "accepted"


@pytest.mark.timeout(600)
def test_deep_nesting_inside_the_bounds_is_cheap(hostile):
    # The parser stops descending at 255 levels: what lies deeper is lost, quickly.
    result = hostile["deep_inside"]
    _within_bounds(result, "deep_inside")
    assert result.get("rejected") == "no article text after removing boilerplate"


@pytest.mark.timeout(600)
def test_a_huge_text_node_is_cut_to_the_body_limit_at_a_word(hostile):
    result = hostile["text_node_inside"]
    _within_bounds(result, "text_node_inside")
    body = result.get("body", "")
    assert MAX_BODY_CHARS - 10 <= len(body) <= MAX_BODY_CHARS
    assert body.endswith("كلمة") and result["title"].endswith("…")


@pytest.mark.timeout(600)
def test_huge_attribute_values_are_dropped_before_extraction(hostile):
    result = hostile["attr_value_inside"]
    _within_bounds(result, "attr_value_inside")
    assert SENTENCE.strip() in result.get("body", result.get("rejected", ""))


@pytest.mark.timeout(600)
def test_many_comments_inside_the_bounds_are_cheap(hostile):
    result = hostile["comments_inside"]
    _within_bounds(result, "comments_inside")
    assert result.get("body", "").startswith("التقى الرئيس الروسي")


@pytest.mark.timeout(600)
def test_page_text_over_the_body_limit_is_cut_at_a_paragraph(hostile):
    # The reported page: 925,000 characters of text, once accepted whole.
    result = hostile["long_text"]
    _within_bounds(result, "long_text")
    body = result.get("body", "")
    assert MAX_BODY_CHARS // 2 < len(body) <= MAX_BODY_CHARS, result.get("rejected") or len(body)
    assert body.startswith("الفقرة رقم 0:") and body.endswith("موعد.")


# --- the same limits, function by function ------------------------------------------


@pytest.mark.timeout(60)
def test_extracted_text_is_cut_to_the_body_limit():
    paragraphs = [f"الفقرة رقم {i}: {SENTENCE * 5}" for i in range(700)]  # about 300,000 characters
    page = extract_html("<html><body><article>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</article>")
    assert MAX_BODY_CHARS // 2 < len(page.body) <= MAX_BODY_CHARS
    assert page.body.split("\n")[-1] in [p.strip() for p in paragraphs]  # whole paragraphs only


def test_cut_text_ends_at_a_paragraph_then_a_word():
    assert cut_text("short", 10) == "short"
    assert cut_text("aaaa bbbb\ncccc dddd", 17) == "aaaa bbbb"
    assert cut_text("aaaa bbbb cccc dddd", 17) == "aaaa bbbb cccc"
    assert cut_text("x" * 30, 17) == "x" * 17


@pytest.mark.timeout(60)
def test_a_long_page_title_is_cut():
    html = ("<html><head><title>" + "كلمة " * 2_000 + "</title></head><body><article><p>"
            + SENTENCE * 3 + "</p></article></body></html>")
    lead, = parse_payload(orjson.dumps({"url": "https://e.example/t", "source": "s", "title": "", "html": html}),
                          ingested_at=INGESTED)
    assert lead["title"].endswith("…") and len(lead["title"]) <= TITLE_CHARS + 1
    assert lead["body"].startswith("وقال المتحدث")


@pytest.mark.timeout(60)
def test_a_page_read_from_disk_gets_a_cut_title_and_no_slow_search():
    assert _html_title("<title>" + "كلمة " * 2_000 + "</title>").endswith("…")
    assert len(_html_title("<title>" + "كلمة " * 2_000 + "</title>")) <= TITLE_CHARS + 1
    assert _html_title("<TITLE>a &amp; <b>b</b></title >") == "a & b"
    started = time.perf_counter()
    assert _html_title("<title>" * 9_000) == ""  # a lazy regex took 4 s on this
    assert time.perf_counter() - started < 0.5


@pytest.mark.timeout(60)
@pytest.mark.parametrize("markup", ["<p>x</p>" + "< " * 2_400_000, "<p>x</p>" + "<br>" * 1_200_000],
                         ids=["angle_brackets", "br"])
def test_feed_html_reads_only_the_start_of_hostile_markup(markup):
    started = time.perf_counter()
    assert html_to_text(markup).startswith("x")
    assert time.perf_counter() - started < 2.0  # about 0.2 s; 5-10 s when all of it was read


def test_feed_html_text_is_cut_to_the_body_limit():
    text = html_to_text("<p>" + "كلمة " * 500_000 + "</p>")
    assert MAX_BODY_CHARS - 10 <= len(text) <= MAX_BODY_CHARS and text.endswith("كلمة")


def test_check_markup_counts_tags_not_angle_brackets():
    check_markup("<p>" + "if (a < b) " * (MAX_HTML_TAGS + 10) + "</p>")  # text, not tags
    with pytest.raises(RejectedArticle, match="more than 50,000 tags"):
        check_markup("<i>" * (MAX_HTML_TAGS + 1))
    with pytest.raises(RejectedArticle, match="limit is 2,097,152"):
        check_markup(" " * (MAX_HTML_CHARS + 1))


@pytest.mark.timeout(60)
def test_the_cpu_budget_interrupts_work_and_leaves_no_timer_behind():
    def busy():
        while True:
            pass

    previous = signal.getsignal(signal.SIGPROF)
    started = time.process_time()
    with pytest.raises(html_module._OverBudget):
        html_module._within_budget(0.2, busy)
    assert time.process_time() - started < 2.0
    assert html_module._within_budget(0.2, sum, [1, 2]) == 3
    assert signal.getsignal(signal.SIGPROF) is previous
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)


# --- real pages are unchanged ------------------------------------------------------


def _reference(html: str, url: str) -> ExtractedPage:
    """What the extractor gave before the limits: trafilatura on the string, then its baseline."""
    import trafilatura

    document = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True,
        include_images=False, include_links=False, date_extraction_params=html_module._DATE_PARAMS,
    )
    text = (document.text if document is not None else "") or ""
    if not text.strip():
        text = trafilatura.baseline(html)[1] or ""
    return ExtractedPage(
        title=html_module._clean(document.title, 10**9) if document is not None else None,
        body=text.strip(),
        published_at=html_module._date(document.date) if document is not None else None,
        site_name=html_module._clean(document.sitename, 10**9) if document is not None else None,
        language=html_module._language(document.language) if document is not None else None,
    )


def _heavy_page() -> str:
    """A page shaped like a heavy news article: inline scripts and styles, menus, related links."""
    script = "".join(f"function f{i}(a,b){{for(var j=0;j<a.length;j++){{if(a[j]<b)el.innerHTML="
                     f"'<span class=\"x{i}\">'+a[j]+'</span>';}}}}\n" for i in range(600))
    parts = ['<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8">',
             "<title>بوتين يستقبل وزيرة خارجية كوريا الشمالية في الكرملين | أخبار العالم</title>",
             '<meta property="article:published_time" content="2024-11-04T09:30:00+03:00">',
             *(f"<script>{script}</script>" for _ in range(4)),
             "<style>" + "".join(f".c{i}{{margin:{i}px}}" for i in range(3000)) + "</style></head><body>",
             '<header><nav><ul class="menu">',
             *(f'<li><a href="/s/{i}">قسم {i}</a><ul><li><a href="/s/{i}/a">فرعي</a></li></ul></li>'
               for i in range(120)),
             '</ul></nav></header><main><article><h1>بوتين يستقبل وزيرة خارجية كوريا الشمالية</h1>',
             *(f"<p>{SENTENCE} وفي الفقرة {i + 1} تفاصيل إضافية عن اللقاء.</p>" for i in range(24)),
             "<table><tr><th>القطاع</th><th>الاتفاق</th></tr><tr><td>الطاقة</td><td>تعاون</td></tr></table>",
             '</article><aside><h2>اقرأ أيضا</h2><ul>',
             *(f'<li><a href="/n/{i}"><img src="/t/{i}.jpg" alt=""><span>خبر ذو صلة {i}</span></a></li>'
               for i in range(40)),
             "</ul></aside></main><footer>", *(f'<a href="/p/{i}">صفحة {i}</a> ' for i in range(100)),
             "<p>جميع الحقوق محفوظة</p></footer></body></html>"]
    return "".join(parts)


@pytest.mark.timeout(60)
def test_the_fixture_page_parses_to_the_same_body_as_before():
    html = PAGE.read_text(encoding="utf-8")
    lead, = parse_payload(orjson.dumps({"url": "file:///x/page.html", "source": "ingest", "title": "",
                                        "html": html}), ingested_at=INGESTED)
    assert lead["title"] == "حديقة النباتات تستقبل زوار الربيع"
    assert lead["body"] == (
        "استقبلت حديقة النباتات في المدينة آلاف الزوار مع بداية فصل الربيع، وخصصت أياماً لزيارات المدارس."
        "\n\nوقالت إدارة الحديقة إنها زرعت أكثر من مئة نوع جديد من الأزهار هذا العام."
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("which", ["fixture", "heavy"])
def test_pages_inside_the_limits_extract_as_trafilatura_alone_does(which):
    html = PAGE.read_text(encoding="utf-8") if which == "fixture" else _heavy_page()
    url = "https://e.example/article"
    page = extract_html(html, url)
    assert astuple(page) == astuple(_reference(html, url))
    assert page.body and page.published_at == ("2024-11-04T06:30:00Z" if which == "heavy" else None)
