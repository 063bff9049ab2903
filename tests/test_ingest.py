"""Ingest readers: files, directories, URLs and feed polling, against a real local HTTP server."""

from __future__ import annotations

import functools
import os
import shutil
import threading
import time
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.ingest.feeds import FeedPoller
from streams.ingest.fetch import FetchResult, IngestError, fetch_url
from streams.ingest.sources import (
    RawItem,
    estimate_total,
    html_to_text,
    iter_raw_articles,
    read_feed,
)

pytestmark = pytest.mark.timeout(30)

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)
NOW_ISO = "2024-03-10T12:00:00Z"


def articles(target, **kwargs) -> list[dict]:
    return [orjson.loads(item.value) for item in iter_raw_articles(str(target), now=NOW, **kwargs)]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # Requests to 127.0.0.1 must not wander off to a proxy from the environment.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------ server


def rss(items: list[tuple[str, str]], title: str = "Local Desk") -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>http://news.test/{g}</link><guid>{g}</guid>"
        f"<description>Text of {t}.</description></item>"
        for g, t in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://news.test/</link>{body}</channel></rss>"
    ).encode()


class Server:
    """What the handler serves; tests mutate it between requests."""

    def __init__(self) -> None:
        self.feed = rss([("g1", "First"), ("g2", "Second")])
        self.feed_version = 1
        self.requests: list[tuple[str, dict]] = []
        self.stop = threading.Event()
        self.routes: dict[str, tuple[int, dict, bytes]] = {}
        self.base = ""

    def feed_etag(self) -> str:
        return f'"v{self.feed_version}"'


def make_handler(state: Server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):
            pass

        def send(self, status: int, body: bytes = b"", headers: dict | None = None, length: bool = True):
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        def do_GET(self):
            state.requests.append((self.path, dict(self.headers)))
            path = self.path
            if path == "/feed.xml":
                etag = state.feed_etag()
                if self.headers.get("If-None-Match") == etag:
                    return self.send(304, headers={"ETag": etag})
                return self.send(200, state.feed, {"Content-Type": "application/rss+xml", "ETag": etag})
            if path == "/slow":
                state.stop.wait(5)
                return self.send(200, rss([("s1", "Slow")]), {"Content-Type": "application/rss+xml"})
            if path.startswith("/big"):
                # 64 KiB chunks, 2 MiB in all; /big-nolength hides the size.
                with_length = path == "/big"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                if with_length:
                    self.send_header("Content-Length", str(2 * 1024 * 1024))
                self.end_headers()
                try:
                    for _ in range(32):
                        self.wfile.write(b"x" * 65536)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return None
            if path.startswith("/redirect/"):
                left = int(path.rsplit("/", 1)[1])
                if left == 0:
                    return self.send(200, b"arrived", {"Content-Type": "text/plain"})
                return self.send(302, headers={"Location": f"/redirect/{left - 1}"})
            if path == "/to-file":
                return self.send(302, headers={"Location": "file:///etc/hostname"})
            if path in state.routes:
                status, headers, body = state.routes[path]
                return self.send(status, body, headers)
            return self.send(404, b"not here", {"Content-Type": "text/plain"})

    return Handler


@pytest.fixture
def server():
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# ------------------------------------------------------------------- files


def test_txt_file_becomes_one_raw_article(tmp_path):
    items = list(iter_raw_articles(str(FIXTURES / "desk" / "note.txt"), now=NOW))
    assert len(items) == 1
    article = orjson.loads(items[0].value)
    path = (FIXTURES / "desk" / "note.txt").resolve()
    assert article == {
        "url": path.as_uri(),
        "source": "desk",
        "title": "",
        "body": path.read_text(encoding="utf-8"),
        "published_at": NOW_ISO,
    }
    assert items[0].key == path.as_uri()
    assert items[0].problem is None


def test_txt_that_is_not_utf8_is_passed_on_as_its_bytes(tmp_path):
    page = tmp_path / "legacy.txt"
    original = "خبر قديم بترميز ويندوز".encode("cp1256")
    page.write_bytes(original)
    [item] = iter_raw_articles(str(page), now=NOW)
    assert item.value == original
    assert "UTF-8" in item.problem


def test_html_file_keeps_the_page_and_takes_the_title():
    [article] = articles(FIXTURES / "page.html")
    page = (FIXTURES / "page.html").read_text(encoding="utf-8")
    assert article["html"] == page
    assert article["title"] == "حديقة النباتات تستقبل زوار الربيع & المدارس"
    assert article["url"] == (FIXTURES / "page.html").resolve().as_uri()
    assert article["source"] == "ingest"
    assert article["published_at"] == NOW_ISO
    assert "body" not in article


def test_html_file_in_windows_1256_is_decoded_by_its_meta_charset(tmp_path):
    page = tmp_path / "old.htm"
    page.write_bytes('<html><head><meta charset="windows-1256"><title>عنوان</title></head><body>نص</body></html>'.encode("cp1256"))
    [article] = articles(page)
    assert article["title"] == "عنوان"
    assert "نص" in article["html"]


def test_json_single_object_is_passed_through_byte_for_byte():
    [item] = iter_raw_articles(str(FIXTURES / "article.json"), now=NOW)
    assert item.value == (FIXTURES / "article.json").read_bytes()
    assert orjson.loads(item.value)["editor_note"] == "kept as-is"
    assert item.key == "https://daily.example.org/story/42"


def test_json_list_yields_each_object_with_unknown_fields_kept():
    items = list(iter_raw_articles(str(FIXTURES / "articles.json"), now=NOW))
    assert [item.key for item in items] == ["https://daily.example.org/story/43", "daily-44"]
    second = orjson.loads(items[1].value)
    assert second["priority"] == 2 and second["title"] == "سوق الخضار"
    assert items[1].origin.endswith("articles.json[1]")


def test_invalid_json_file_is_passed_on_whole(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_bytes(b'{"url": "x", ')
    [item] = iter_raw_articles(str(broken))
    assert item.value == b'{"url": "x", ' and item.key is None and "not valid JSON" in item.problem


def test_jsonl_yields_original_lines_and_skips_blank_ones():
    items = list(iter_raw_articles(str(FIXTURES / "articles.jsonl"), now=NOW))
    lines = [line for line in (FIXTURES / "articles.jsonl").read_bytes().split(b"\n") if line.strip()]
    assert [item.value for item in items] == lines
    assert [item.origin.rsplit(":", 1)[1] for item in items] == ["1", "3", "4"]
    assert orjson.loads(items[0].value)["desk"] == "economy"


def test_bad_jsonl_line_is_yielded_as_its_original_bytes():
    items = list(iter_raw_articles(str(FIXTURES / "mixed.jsonl")))
    assert len(items) == 3
    good, bad, not_object = items
    assert good.problem is None and good.key == "https://wire.example.com/b/1"
    assert bad.value == b'{"url": "https://wire.example.com/b/2", "title": "broken'
    assert bad.origin.endswith("mixed.jsonl:2") and "line 2 is not valid JSON" in bad.problem
    assert not_object.value == b"[1, 2, 3]" and "not an object" in not_object.problem


def test_rss_file_gives_one_article_per_item():
    first, second = articles(FIXTURES / "feed.rss")
    assert first == {
        "url": "https://news.example.org/2024/03/library",
        "source": "نشرة الأخبار التجريبية",
        "title": "افتتاح مكتبة عامة جديدة في مدينة الساحل",
        "body": "افتتحت بلدية مدينة الساحل مكتبة عامة جديدة تضم عشرين ألف كتاب.\n\n"
        "وقال رئيس البلدية إن المكتبة ستفتح أبوابها يومياً.",
        "published_at": "2024-03-04T07:30:00Z",
        "id": "news-example-1001",
        "language": "ar",
        "tags": ["ثقافة", "مدن"],
    }
    assert second["published_at"] == "2024-03-05T14:00:00Z"
    assert second["body"] == "The harbour bridge reopened to traffic on Tuesday after six weeks of repairs."
    assert second["tags"] == ["transport"]


def test_atom_file_gives_one_article_per_entry():
    storks, robot = articles(FIXTURES / "feed.atom")
    assert storks["source"] == "Example Science Desk"
    assert storks["url"] == "https://science.example.net/storks"
    assert storks["id"] == "tag:science.example.net,2024:storks"
    assert storks["published_at"] == "2024-03-06T07:00:00Z"
    assert storks["body"] == "More than two hundred volunteers counted storks along the valley.\n\nThe count happens every spring."
    assert storks["tags"] == ["environment"]
    assert robot["title"] == "طلاب يبنون روبوتاً لفرز النفايات"
    assert robot["published_at"] == "2024-03-05T16:20:00Z"  # no <published>: falls back to <updated>
    assert robot["language"] == "ar"
    assert robot["body"].startswith("صمم طلاب")


def test_feed_entry_without_date_gets_now(tmp_path):
    feed = tmp_path / "nodate.xml"
    feed.write_bytes(rss([("n1", "Undated")]))
    [article] = articles(feed)
    assert article["published_at"] == NOW_ISO
    assert article["source"] == "Local Desk"


def test_directory_reads_supported_files_sorted(tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "in")
    (tmp_path / "in" / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "in" / ".hidden.txt").write_text("secret draft", encoding="utf-8")
    origins = [item.origin for item in iter_raw_articles(str(tmp_path / "in"), now=NOW)]
    files = [Path(o.split(":")[0].split("[")[0]).name for o in origins]
    assert list(dict.fromkeys(files)) == [
        "article.json", "articles.json", "articles.jsonl", "note.txt",
        "feed.atom", "feed.rss", "mixed.jsonl", "page.html",
    ]
    assert "notes.pdf" not in files and ".hidden.txt" not in files
    assert estimate_total(str(tmp_path / "in")) == len(origins)


def test_estimate_total_matches_what_is_yielded():
    for name in ("articles.jsonl", "mixed.jsonl", "articles.json", "article.json", "page.html", "feed.rss", "feed.atom"):
        assert estimate_total(str(FIXTURES / name)) == len(list(iter_raw_articles(str(FIXTURES / name)))), name
    assert estimate_total("http://127.0.0.1:1/feed") is None
    assert estimate_total(str(FIXTURES / "missing.txt")) is None


def test_unknown_extension_is_a_clear_error(tmp_path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(IngestError) as err:
        iter_raw_articles(str(pdf))
    assert str(err.value) == (
        f"unsupported file type '.pdf' for path {pdf}; expected .txt .html .json .jsonl .xml .rss .atom"
    )


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(IngestError, match=r"^no such file: .*nothing\.txt$"):
        iter_raw_articles(str(tmp_path / "nothing.txt"))


def test_empty_directory_is_a_clear_error(tmp_path):
    with pytest.raises(IngestError, match="no supported files in directory"):
        iter_raw_articles(str(tmp_path))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_names_the_os_reason(tmp_path):
    page = tmp_path / "locked.txt"
    page.write_text("x", encoding="utf-8")
    page.chmod(0)
    try:
        with pytest.raises(IngestError, match="Permission denied"):
            list(iter_raw_articles(str(page)))
    finally:
        page.chmod(0o644)


def test_unreadable_file_in_a_directory_names_the_os_reason(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    real = Path.read_bytes

    def refuse(self):
        if self.name == "a.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(IngestError, match=r"cannot read .*a\.txt: Permission denied"):
        list(iter_raw_articles(str(tmp_path)))


def test_non_http_url_targets_are_refused():
    with pytest.raises(IngestError, match="only http:// and https://"):
        iter_raw_articles("ftp://example.org/feed.xml")


def test_file_url_target_reads_the_local_file():
    [article] = articles((FIXTURES / "desk" / "note.txt").resolve().as_uri())
    assert article["source"] == "desk"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(
    st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3).map(orjson.dumps),
    st.binary(max_size=30).filter(lambda b: b"\n" not in b and b"\r" not in b),
), max_size=8))
def test_jsonl_never_loses_or_alters_a_line(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("prop") / "x.jsonl"
    path.write_bytes(b"\n".join(lines))
    values = [item.value for item in iter_raw_articles(str(path))]
    expected = list(lines)
    if expected and expected[0].startswith(b"\xef\xbb\xbf"):
        expected[0] = expected[0][3:]  # a byte-order mark opening the file is its encoding, not content
    assert values == [line for line in expected if line.strip()]


def test_html_to_text_keeps_paragraphs_and_drops_scripts():
    text = html_to_text("<p>سطر\n  أول</p><script>alert(1)</script><p>second&nbsp;line<br>third</p>")
    assert text == "سطر أول\n\nsecond\xa0line\nthird"


# --------------------------------------------------------------------- URLs


def test_url_serving_a_feed_yields_its_entries(server):
    items = list(iter_raw_articles(server.base + "/feed.xml", now=NOW, allow_private=True))
    assert [orjson.loads(i.value)["title"] for i in items] == ["First", "Second"]
    assert items[0].key == "http://news.test/g1"


def test_url_serving_html_yields_one_article_with_html(server):
    page = '<html><head><title>صفحة</title></head><body><p>مرحبا</p></body></html>'
    server.routes["/story"] = (200, {"Content-Type": "text/html; charset=windows-1256"}, page.encode("cp1256"))
    [article] = articles(server.base + "/story", allow_private=True)
    assert article["html"] == page
    assert article["title"] == "صفحة"
    assert article["url"] == server.base + "/story"
    assert article["source"] == "127.0.0.1"
    assert article["published_at"] == NOW_ISO


def test_url_serving_html_labelled_as_feed_sniffs_the_content(server):
    server.routes["/mislabelled"] = (200, {"Content-Type": "text/html"}, rss([("m1", "Mislabelled")]))
    [article] = articles(server.base + "/mislabelled", allow_private=True)
    assert article["title"] == "Mislabelled"


def test_url_http_error_names_the_status(server):
    with pytest.raises(IngestError, match=r"HTTP 404 Not Found from http://127\.0\.0\.1:\d+/nope"):
        list(iter_raw_articles(server.base + "/nope", allow_private=True))


# -------------------------------------------------------------------- fetch


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/feed.xml", "gopher://x/", "/etc/passwd"])
def test_fetch_refuses_non_http_urls(url):
    with pytest.raises(IngestError, match="only http:// and https://"):
        fetch_url(url)


def test_fetch_returns_content_and_validators(server):
    result = fetch_url(server.base + "/feed.xml", allow_private=True, timeout=5)
    assert result.status == 200
    assert result.content == server.feed
    assert result.etag == '"v1"'
    assert result.content_type == "application/rss+xml"
    again = fetch_url(server.base + "/feed.xml", allow_private=True, etag=result.etag, timeout=5)
    assert again.status == 304 and again.content == b""
    assert server.requests[-1][1].get("If-None-Match") == '"v1"'


@pytest.mark.parametrize("path", ["/big", "/big-nolength"])
def test_fetch_stops_at_max_bytes(server, path):
    with pytest.raises(IngestError, match="response larger than 1 MiB"):
        fetch_url(server.base + path, allow_private=True, max_bytes=1024 * 1024, timeout=5)


def test_fetch_default_limit_message():
    from streams.ingest.fetch import DEFAULT_MAX_BYTES, _size_text

    assert _size_text(DEFAULT_MAX_BYTES) == "10 MiB"


def test_fetch_times_out_on_a_slow_server(server):
    started = time.monotonic()
    with pytest.raises(IngestError, match="timed out after 0.3s"):
        fetch_url(server.base + "/slow", allow_private=True, timeout=0.3)
    assert time.monotonic() - started < 2


def test_fetch_follows_up_to_max_redirects(server):
    result = fetch_url(server.base + "/redirect/5", allow_private=True, max_redirects=5, timeout=5)
    assert result.content == b"arrived"
    assert result.final_url == server.base + "/redirect/0"
    with pytest.raises(IngestError, match="more than 5 redirects"):
        fetch_url(server.base + "/redirect/6", allow_private=True, max_redirects=5, timeout=5)


def test_fetch_refuses_a_redirect_to_a_file_url(server):
    with pytest.raises(IngestError, match="unsupported URL"):
        fetch_url(server.base + "/to-file", allow_private=True, timeout=5)


def test_fetch_connection_refused_is_an_ingest_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(IngestError, match=f"cannot connect to http://127.0.0.1:{port}/"):
        fetch_url(f"http://127.0.0.1:{port}/", allow_private=True, timeout=2)


# -------------------------------------------------------------- FeedPoller


def titles(items: list[RawItem]) -> list[str]:
    return [orjson.loads(item.value)["title"] for item in items]


def test_poller_returns_only_new_entries_and_uses_conditional_requests(server):
    poller = FeedPoller(server.base + "/feed.xml", allow_private=True, fetcher=functools.partial(fetch_url, timeout=5))
    assert titles(poller.poll_once()) == ["First", "Second"]
    assert poller.last_error is None

    assert poller.poll_once() == []
    assert poller.last_status == 304 and poller.last_error is None
    assert server.requests[-1][1].get("If-None-Match") == '"v1"'

    server.feed = rss([("g3", "Third"), ("g1", "First"), ("g2", "Second")])
    server.feed_version = 2
    assert titles(poller.poll_once()) == ["Third"]
    assert poller.poll_once() == []


def test_poller_sends_if_modified_since(server):
    stamp = formatdate(1_700_000_000, usegmt=True)
    server.routes["/dated.xml"] = (200, {"Content-Type": "application/rss+xml", "Last-Modified": stamp},
                                   rss([("d1", "Dated")]))
    poller = FeedPoller(server.base + "/dated.xml", allow_private=True, fetcher=functools.partial(fetch_url, timeout=5))
    assert titles(poller.poll_once()) == ["Dated"]
    assert poller.poll_once() == []  # this server ignores validators; the seen set still holds
    assert server.requests[-1][1].get("If-Modified-Since") == stamp


def test_poller_state_file_survives_a_restart(server, tmp_path):
    state = tmp_path / "state" / "feeds.json"
    fetcher = functools.partial(fetch_url, timeout=5)
    first = FeedPoller(server.base + "/feed.xml", allow_private=True, fetcher=fetcher, state_path=state)
    assert len(first.poll_once()) == 2
    server.feed_version = 2  # new ETag, same entries: a full response that must not resend
    restarted = FeedPoller(server.base + "/feed.xml", allow_private=True, fetcher=fetcher, state_path=state)
    assert restarted.poll_once() == []
    assert restarted.last_status == 200
    other = FeedPoller(FIXTURES / "feed.rss", state_path=state)
    assert len(other.poll_once()) == 2
    saved = orjson.loads(state.read_bytes())
    assert set(saved["feeds"]) == {server.base + "/feed.xml", str((FIXTURES / "feed.rss").resolve())}


def test_poller_corrupt_state_file_is_a_clear_error(tmp_path):
    state = tmp_path / "feeds.json"
    state.write_text("{not json", encoding="utf-8")
    with pytest.raises(IngestError, match="delete it to start over"):
        FeedPoller(FIXTURES / "feed.rss", state_path=state)


def test_poller_memory_is_bounded(tmp_path):
    feed = tmp_path / "many.rss"
    feed.write_bytes(rss([(f"id{i}", f"T{i}") for i in range(10)]))
    poller = FeedPoller(feed, max_seen=4)
    assert len(poller.poll_once()) == 10
    assert poller.seen_count == 4


def test_poller_malformed_feed_returns_nothing_and_says_why(server):
    server.routes["/garbage.xml"] = (200, {"Content-Type": "application/rss+xml"}, b"\x00\x01 this is {not} a feed \xff")
    poller = FeedPoller(server.base + "/garbage.xml", allow_private=True,
                        fetcher=functools.partial(fetch_url, timeout=5))
    assert poller.poll_once() == []
    assert poller.last_error and "feed" in poller.last_error


def test_poller_html_page_is_not_a_feed(server):
    server.routes["/page"] = (200, {"Content-Type": "text/html"}, b"<html><body><p>hello</p></body></html>")
    poller = FeedPoller(server.base + "/page", allow_private=True, fetcher=functools.partial(fetch_url, timeout=5))
    assert poller.poll_once() == []
    assert "not" in poller.last_error and "RSS/Atom feed" in poller.last_error


def test_poller_timing_out_feed_returns_nothing_and_says_why(server):
    poller = FeedPoller(server.base + "/slow", allow_private=True, fetcher=functools.partial(fetch_url, timeout=0.3))
    started = time.monotonic()
    assert poller.poll_once() == []
    assert time.monotonic() - started < 2
    assert "timed out" in poller.last_error


def test_poller_down_and_huge_feeds_return_nothing(server):
    down = FeedPoller(server.base + "/missing.xml", allow_private=True, fetcher=functools.partial(fetch_url, timeout=5))
    assert down.poll_once() == [] and "HTTP 404" in down.last_error
    huge = FeedPoller(server.base + "/big", allow_private=True,
                      fetcher=functools.partial(fetch_url, timeout=5, max_bytes=100_000))
    assert huge.poll_once() == [] and "larger than" in huge.last_error


def test_poller_recovers_after_an_error(server):
    server.routes["/flaky.xml"] = (503, {}, b"busy")
    poller = FeedPoller(server.base + "/flaky.xml", allow_private=True, fetcher=functools.partial(fetch_url, timeout=5))
    assert poller.poll_once() == [] and "HTTP 503" in poller.last_error
    server.routes["/flaky.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss([("f1", "Back")]))
    assert titles(poller.poll_once()) == ["Back"]
    assert poller.last_error is None


def test_poller_reports_programming_errors_with_their_traceback_and_keeps_going(caplog):
    # One feed must never stop the others from being polled, even through a bug it triggers.
    def broken_fetcher(url, **kwargs):
        raise TypeError("bug in the fetcher")

    poller = FeedPoller("http://127.0.0.1:9/feed.xml", fetcher=broken_fetcher)
    assert poller.poll_once() == []
    assert "unexpected TypeError" in poller.last_error and "bug in the fetcher" in poller.last_error
    assert any(record.exc_info and record.exc_info[0] is TypeError for record in caplog.records)


def test_poller_rereads_a_local_file_when_it_changes(tmp_path):
    feed = tmp_path / "local.rss"
    feed.write_bytes(rss([("l1", "One")]))
    poller = FeedPoller(feed)
    assert titles(poller.poll_once()) == ["One"]
    assert poller.poll_once() == [] and poller.last_status == 304
    feed.write_bytes(rss([("l2", "Two"), ("l1", "One")]))
    os.utime(feed, ns=(time.time_ns() + 5_000_000_000,) * 2)
    assert titles(poller.poll_once()) == ["Two"]
    feed.unlink()
    assert poller.poll_once() == [] and poller.last_error.startswith("no such file")


def test_poller_refuses_non_http_urls():
    with pytest.raises(IngestError):
        FeedPoller("ftp://example.org/feed.xml")


# ------------------------------------------------------- XML entity attacks


def xxe_feed(secret: Path) -> bytes:
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
        '<rss version="2.0"><channel><title>Evil</title>'
        "<item><title>&xxe;</title><link>http://evil.test/1</link><description>&xxe;</description></item>"
        "</channel></rss>"
    ).encode()


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-7731", encoding="utf-8")
    return path


def test_feed_file_with_external_entity_is_refused_without_reading_it(tmp_path, secret):
    feed = tmp_path / "evil.xml"
    feed.write_bytes(xxe_feed(secret))
    with pytest.raises(IngestError, match="declares XML entities") as err:
        list(iter_raw_articles(str(feed)))
    assert "TOP-SECRET" not in str(err.value)


def test_feed_url_with_external_entity_is_refused_by_the_poller(server, secret):
    server.routes["/evil.xml"] = (200, {"Content-Type": "application/rss+xml"}, xxe_feed(secret))
    poller = FeedPoller(server.base + "/evil.xml", allow_private=True, fetcher=functools.partial(fetch_url, timeout=5))
    assert poller.poll_once() == []
    assert "declares XML entities" in poller.last_error and "TOP-SECRET" not in poller.last_error


def test_parameter_entities_and_entity_bombs_are_refused(tmp_path, secret):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY % p SYSTEM "' + secret.as_uri().encode() + b'">%p;]><rss version="2.0"><channel>'
        b"<item><title>&b;</title></item></channel></rss>"
    )
    with pytest.raises(IngestError, match="refused feed"):
        read_feed(bomb, origin="bomb")


def test_feed_bytes_that_name_a_local_file_are_not_opened(secret):
    # feedparser.parse(b"/path") would open the file; the reader hands it a stream instead.
    with pytest.raises(IngestError):
        read_feed(str(secret).encode(), origin="tricky")


def test_fetcher_is_injectable_for_iter_raw_articles():
    def fake(url, **kwargs):
        return FetchResult(200, rss([("x1", "Injected")]), "application/rss+xml", None, None, url)

    [article] = articles("https://feeds.test/rss", fetcher=fake)
    assert article["title"] == "Injected"
    assert article["source"] == "Local Desk"
