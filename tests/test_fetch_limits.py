"""Limits of fetching feeds and pages from hostile servers: real servers on 127.0.0.x, no mocked HTTP.

Covers compression bombs (memory measured in a child process), servers that
trickle bytes (the whole request has one deadline), redirects towards this
machine or other schemes, feed items whose links are not web links, and a
poller that keeps delivering good feeds next to bad ones.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from streams.ingest import fetch as fetch_module
from streams.ingest.feeds import FeedPoller
from streams.ingest.fetch import (
    AddressRefused,
    IngestError,
    address_kind,
    content_encodings,
    decoded_chunks,
    fetch_url,
)
from streams.ingest.sources import iter_raw_articles, read_feed

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------ payloads


@functools.lru_cache(maxsize=None)
def gzip_zeros(mib: int) -> bytes:
    """One gzip member holding `mib` MiB of zeros, about 1 KB per MiB.

    Built from one compressed MiB repeated (a full flush makes each MiB's
    deflate blocks independent and identical), so a 1 GiB bomb costs
    milliseconds instead of compressing 1 GiB.
    """
    chunk = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    return first + again * (mib - 1) + b"\x03\x00" + struct.pack("<II", crc, (mib * MiB) & 0xFFFFFFFF)


def test_the_bomb_is_a_valid_gzip_file():
    assert gzip.decompress(gzip_zeros(3)) == bytes(3 * MiB)


def rss(items: list[tuple[str, str, str]], title: str = "Desk") -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid isPermaLink=\"false\">{guid}</guid>"
        f"<description>Text of {t}.</description></item>"
        for guid, t, link in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://news.test/</link>{body}</channel></rss>"
    ).encode()


GOOD_FEED = rss([("g1", "Good one", "https://news.test/1"), ("g2", "Good two", "https://news.test/2")])


# ------------------------------------------------------------------- servers


class Routes(dict):
    """path -> (status, headers, body); what the HTTP server answers."""


def serve(routes: Routes, host: str = "127.0.0.1", protocol: str = "HTTP/1.0"):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = protocol

        def log_message(self, *args):
            pass

        def do_GET(self):
            routes.setdefault("_hits", []).append(self.path)
            status, headers, body = routes.get(self.path, (404, {}, b"not here"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass

    httpd = ThreadingHTTPServer((host, 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return httpd, thread, f"http://{host}:{httpd.server_address[1]}"


@pytest.fixture
def web():
    routes = Routes()
    httpd, thread, base = serve(routes)
    routes["base"] = base
    yield routes
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def public_web(monkeypatch):
    """A server on 127.0.0.2 that the address check treats as a public host.

    Redirect checks need a first hop that is allowed and a second that is not;
    without a network, a second loopback address stands in for the Internet.
    Only the verdict for that one address changes: 127.0.0.1 is still refused.
    """
    real = fetch_module.address_kind
    monkeypatch.setattr(
        fetch_module, "address_kind", lambda address: None if str(address) == "127.0.0.2" else real(address)
    )
    routes = Routes()
    httpd, thread, base = serve(routes, host="127.0.0.2")
    routes["base"] = base
    yield routes
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


class Trickler:
    """A raw-socket server that answers one byte per `interval`, in the headers or in the body.

    It gives up after `lasts` seconds, so a client without a total deadline
    fails the timing assertion instead of hanging the test run.
    """

    def __init__(self, where: str, interval: float = 0.5, lasts: float = 15.0) -> None:
        self.where = where
        self.interval = interval
        self.lasts = lasts
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/feed.xml"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.listener.settimeout(self.lasts)
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(self.lasts)
            try:
                conn.recv(65536)
                if self.where == "headers":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    drip = b"z"
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                                 b"Content-Length: 100000\r\n\r\n<rss>")
                    drip = b" "
                ends = time.monotonic() + self.lasts
                while time.monotonic() < ends and not self.stop.wait(self.interval):
                    conn.sendall(drip)
            except OSError:
                return  # the client hung up: what a deadline does

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(timeout=5)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ------------------------------------------------------------- compression


MEASURE = r"""
import json, sys
from streams.ingest.fetch import IngestError, fetch_url

def status_mib(field):
    # VmHWM is this process image's own peak: unlike ru_maxrss it does not
    # carry over the peak of the (large) test process that spawned it.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024

before = status_mib("VmRSS")
try:
    fetch_url(sys.argv[1], allow_private=True, timeout=20)
    outcome = "fetched"
except IngestError as exc:
    outcome = str(exc)
print(json.dumps({"outcome": outcome, "before": before, "peak": status_mib("VmHWM")}))
"""


def fetch_in_child(url: str) -> dict:
    """Fetch in a fresh process, so its peak RSS is the fetch's alone, not this test run's."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, url], capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("codings", ["gzip", "gzip, gzip"])
def test_compression_bombs_are_refused_with_bounded_memory(web, codings):
    # 1 GiB of zeros: about 1 MB on the wire gzipped once, 2.5 KB gzipped twice.
    body = gzip_zeros(1024)
    if codings == "gzip, gzip":
        body = gzip.compress(body, 9)
    web["/bomb.xml"] = (200, {"Content-Type": "application/rss+xml", "Content-Encoding": codings}, body)
    measured = fetch_in_child(web["base"] + "/bomb.xml")
    assert measured["outcome"] == (
        f"response larger than 10 MiB from {web['base']}/bomb.xml (decoded from {codings})"
    )
    # Measured: about 12 MiB over the interpreter's own (the 10 MiB body kept so far and one
    # piece per decoder); decoding each chunk whole took 250 MiB (gzip) and 3 GiB (gzip, gzip).
    assert measured["peak"] - measured["before"] < 120, measured
    assert measured["peak"] < 400, measured


def fetcher_threads() -> set:
    """Threads other than the test servers' own."""
    return {thread for thread in threading.enumerate() if "process_request" not in thread.name}


def settles(check, seconds: float = 3.0) -> bool:
    """True once `check()` holds; the server side closes its end a moment after the client does."""
    ends = time.monotonic() + seconds
    while not check():
        if time.monotonic() > ends:
            return False
        time.sleep(0.02)
    return True


def test_fetches_cost_little_time_and_leave_no_threads_or_sockets():
    # HTTP/1.1 keeps connections open after a response: only closing them ourselves frees them.
    routes = Routes()
    httpd, thread, base = serve(routes, protocol="HTTP/1.1")
    routes["/bomb.xml"] = (200, {"Content-Encoding": "gzip, gzip"}, gzip.compress(gzip_zeros(1024), 9))
    routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, GOOD_FEED)
    routes["/moved"] = (301, {"Location": "/feed.xml"}, b"")
    try:
        threads, fds = fetcher_threads(), open_fds()
        started = time.monotonic()
        with pytest.raises(IngestError, match="larger than 1 MiB"):
            fetch_url(base + "/bomb.xml", allow_private=True, max_bytes=MiB)
        assert time.monotonic() - started < 3
        assert fetch_url(base + "/moved", allow_private=True).content == GOOD_FEED
        assert fetcher_threads() == threads
        assert settles(lambda: open_fds() == fds), (open_fds(), fds)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("codings", ["gzip", "x-gzip", "deflate", "deflate-raw", "gzip, gzip", "deflate, gzip",
                                     "identity"])
def test_encoded_feeds_are_decoded(web, codings):
    def encode(data: bytes, coding: str) -> bytes:
        if coding in ("gzip", "x-gzip"):
            return gzip.compress(data)
        if coding == "deflate":
            return zlib.compress(data)
        if coding == "deflate-raw":  # servers that send raw deflate under the name 'deflate'
            packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            return packer.compress(data) + packer.flush()
        return data

    body = GOOD_FEED
    for coding in codings.split(", "):
        body = encode(body, coding)
    header = codings.replace("deflate-raw", "deflate")
    web["/feed.xml"] = (200, {"Content-Type": "application/rss+xml", "Content-Encoding": header}, body)
    result = fetch_url(web["base"] + "/feed.xml", allow_private=True, timeout=5)
    assert result.content == GOOD_FEED


def test_decoding_is_lazy_and_exact_whatever_the_chunking():
    data = os.urandom(50_000) + bytes(3 * MiB) + b"end"
    twice = gzip.compress(gzip.compress(data))
    for size in (1, 7, 4096, len(twice)):
        chunks = [twice[i:i + size] for i in range(0, len(twice), size)]
        assert b"".join(decoded_chunks(iter(chunks), ["gzip", "gzip"])) == data
    # Concatenated gzip members are one body.
    assert b"".join(decoded_chunks([gzip.compress(b"one ") + gzip.compress(b"two")], ["gzip"])) == b"one two"
    # Asking for one piece of a 1 GiB bomb decodes one piece, not the bomb.
    pieces = decoded_chunks(iter([gzip.compress(gzip_zeros(1024))]), ["gzip", "gzip"])
    assert len(next(pieces)) <= 64 * 1024


def test_unknown_or_too_many_encodings_are_refused_clearly(web):
    assert content_encodings(["gzip, Identity", "x-gzip"]) == ["gzip", "gzip"]
    web["/br.xml"] = (200, {"Content-Encoding": "br"}, b"\x0b\x02\x80hello\x03")
    with pytest.raises(IngestError, match=r"cannot read .*/br\.xml: unsupported Content-Encoding br"):
        fetch_url(web["base"] + "/br.xml", allow_private=True, timeout=5)
    web["/many.xml"] = (200, {"Content-Encoding": "gzip, gzip, gzip, gzip"}, b"")
    with pytest.raises(IngestError, match="4 stacked Content-Encodings"):
        fetch_url(web["base"] + "/many.xml", allow_private=True, timeout=5)
    web["/broken.xml"] = (200, {"Content-Encoding": "gzip"}, b"\x1f\x8bnot gzip at all")
    with pytest.raises(IngestError, match=r"cannot decode the gzip body of .*/broken\.xml"):
        fetch_url(web["base"] + "/broken.xml", allow_private=True, timeout=5)


# ------------------------------------------------------------------ deadline


@pytest.mark.timeout(40)
@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_server_fails_at_the_deadline(where):
    # One byte every 0.5 s never trips a per-read timeout of 2 s; only a total deadline stops it.
    threads, fds = threading.active_count(), open_fds()
    server = Trickler(where)
    try:
        started = time.monotonic()
        with pytest.raises(IngestError) as failure:
            fetch_url(server.url, allow_private=True, timeout=2)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert str(failure.value).startswith(f"timed out after 2s fetching {server.url}: the whole request")
    assert 1.9 <= elapsed < 4, elapsed
    assert threading.active_count() == threads
    assert settles(lambda: open_fds() == fds), (open_fds(), fds)


@pytest.mark.timeout(40)
def test_a_trickling_feed_does_not_hold_the_poller():
    server = Trickler("body")
    try:
        poller = FeedPoller(server.url, allow_private=True, fetcher=functools.partial(fetch_url, timeout=1.5))
        started = time.monotonic()
        assert poller.poll_once() == []
        assert time.monotonic() - started < 3.5
    finally:
        server.close()
    assert "timed out after 1.5s" in poller.last_error


# ----------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"), ("192.168.0.10", "private"), ("172.16.5.4", "private"), ("fd00::1", "private"),
        ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("100.64.0.1", "non-public"),
        ("8.8.8.8", None), ("2606:4700:4700::1111", None),
    ],
)
def test_address_kinds(address, kind):
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "0.0.0.0"])
def test_a_url_on_this_machine_is_refused_before_connecting(web, host):
    port = web["base"].rsplit(":", 1)[1]
    with pytest.raises(AddressRefused) as refused:
        fetch_url(f"http://{host}:{port}/metrics", timeout=5)
    message = str(refused.value)
    assert message.startswith(f"refused to fetch http://{host}:{port}/metrics: ")
    assert "--allow-private-addresses" in message
    assert "_hits" not in web  # not even a request reached the server


def test_a_redirect_to_this_machine_is_refused_unless_allowed(public_web, web):
    metrics = web["base"] + "/metrics"
    web["/metrics"] = (200, {"Content-Type": "text/plain"}, b"worker_secret_total 1\n")
    public_web["/feed.xml"] = (302, {"Location": metrics}, b"")
    with pytest.raises(AddressRefused) as refused:
        fetch_url(public_web["base"] + "/feed.xml", timeout=5)
    assert str(refused.value).startswith(
        f"refused to follow a redirect from {public_web['base']}/feed.xml to {metrics}: 127.0.0.1 is a loopback address"
    )
    assert "_hits" not in web
    followed = fetch_url(public_web["base"] + "/feed.xml", timeout=5, allow_private=True)
    assert followed.content == b"worker_secret_total 1\n" and followed.final_url == metrics


def test_the_public_stand_in_is_reachable_without_allow_private(public_web):
    # The fixture's premise: without it the redirect test above would prove nothing.
    public_web["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, GOOD_FEED)
    assert fetch_url(public_web["base"] + "/feed.xml", timeout=5).content == GOOD_FEED


def test_a_redirect_to_this_machine_is_refused_for_produce_targets(public_web, web):
    public_web["/feed.xml"] = (301, {"Location": web["base"] + "/metrics"}, b"")
    with pytest.raises(AddressRefused, match="loopback"):
        list(iter_raw_articles(public_web["base"] + "/feed.xml"))
    poller = FeedPoller(public_web["base"] + "/feed.xml", fetcher=functools.partial(fetch_url, timeout=5))
    assert poller.poll_once() == [] and "refused to follow a redirect" in poller.last_error


@pytest.mark.parametrize("location", ["file:///etc/hostname", "gopher://127.0.0.1:70/", "javascript:alert(1)"])
def test_a_redirect_to_another_scheme_is_refused(web, location):
    web["/feed.xml"] = (302, {"Location": location}, b"")
    with pytest.raises(IngestError) as refused:
        fetch_url(web["base"] + "/feed.xml", allow_private=True, timeout=5)
    assert str(refused.value) == (
        f"cannot fetch {web['base']}/feed.xml: redirected to an unsupported URL {location!r} "
        "(only http:// and https:// redirects are followed)"
    )


# ---------------------------------------------------------------- item links


@pytest.mark.parametrize("link", ["javascript:alert(document.cookie)", "JavaScript:alert(1)", "file:///etc/passwd",
                                  "gopher://evil.test:70/1", "data:text/html,<b>hi</b>", "java\nscript:alert(1)"])
def test_feed_items_never_carry_non_web_links(link):
    feed = rss([("tag:desk,2024:1", "Kept", link), ("https://news.test/by-guid", "Guid", link)])
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
        f'<entry><id>urn:x:1</id><title>Atom kept</title><link rel="alternate" href="{link.replace(chr(10), "")}"/>'
        "<summary>Text.</summary></entry></feed>"
    ).encode()
    for data, base in ((feed, None), (feed, "https://desk.test/rss"), (atom, None)):
        articles = [orjson.loads(entry.item.value) for entry in read_feed(data, origin="t", base_url=base).entries]
        assert articles, data
        for article in articles:
            assert article["url"] == "" or article["url"].startswith(("http://", "https://")), article
            assert article["body"]  # the entry is still read
    by_guid = [orjson.loads(e.item.value) for e in read_feed(feed, origin="t").entries][1]
    assert by_guid["url"] == "https://news.test/by-guid"  # an http(s) guid stands in for the bad link


def test_feed_items_with_web_links_keep_them():
    [entry] = read_feed(rss([("g", "T", "https://news.test/a?b=1")]), origin="t").entries
    assert orjson.loads(entry.item.value)["url"] == "https://news.test/a?b=1"
    assert entry.item.key == "https://news.test/a?b=1"


# -------------------------------------------------------------------- poller


@pytest.mark.timeout(40)
def test_one_bad_feed_never_stops_the_good_one(web):
    web["/good.xml"] = (200, {"Content-Type": "application/rss+xml"}, GOOD_FEED)
    web["/bomb.xml"] = (200, {"Content-Encoding": "gzip, gzip"}, gzip.compress(gzip_zeros(1024), 9))
    web["/garbage.xml"] = (200, {"Content-Encoding": "gzip"}, b"\x1f\x8b\x08 broken")

    def out_of_memory(url, **kwargs):
        raise MemoryError()

    def bug(url, **kwargs):
        raise KeyError("entry")

    fetcher = functools.partial(fetch_url, timeout=5)
    trickle = Trickler("headers")
    try:
        pollers = [
            FeedPoller(web["base"] + "/bomb.xml", allow_private=True, fetcher=fetcher),
            FeedPoller(trickle.url, allow_private=True, fetcher=functools.partial(fetch_url, timeout=1)),
            FeedPoller(web["base"] + "/garbage.xml", allow_private=True, fetcher=fetcher),
            FeedPoller("http://feeds.test/oom.xml", fetcher=out_of_memory),
            FeedPoller("http://feeds.test/bug.xml", fetcher=bug),
            FeedPoller(web["base"] + "/good.xml", allow_private=True, fetcher=fetcher),
        ]
        delivered = {poller.target: poller.poll_once() for poller in pollers}  # as `produce --every` does
    finally:
        trickle.close()
    good = pollers[-1]
    assert [orjson.loads(item.value)["title"] for item in delivered[good.target]] == ["Good one", "Good two"]
    assert good.last_error is None
    errors = [poller.last_error for poller in pollers[:-1]]
    assert "larger than 10 MiB" in errors[0]
    assert "timed out after 1s" in errors[1]
    assert "cannot decode the gzip body" in errors[2]
    assert errors[3] == "ran out of memory reading http://feeds.test/oom.xml"
    assert errors[4].startswith("unexpected KeyError reading http://feeds.test/bug.xml")
    assert all(delivered[poller.target] == [] for poller in pollers[:-1])


def test_a_local_feed_file_over_the_limit_is_refused_without_reading_it(tmp_path, monkeypatch):
    monkeypatch.setattr("streams.ingest.feeds.DEFAULT_MAX_BYTES", 1000)
    feed = tmp_path / "huge.rss"
    feed.write_bytes(GOOD_FEED + b" " * 1000)
    poller = FeedPoller(feed)
    assert poller.poll_once() == []
    size = len(GOOD_FEED) + 1000
    assert poller.last_error == f"{feed} is {size} bytes, over the 1000 bytes limit for a feed"
