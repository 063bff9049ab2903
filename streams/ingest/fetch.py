"""Fetching one URL for ingestion, with hard limits.

Upstream feeds are other people's servers: they can be down, slow, huge or
redirect forever. Every fetch is bounded in size, time and redirects, and every
failure becomes an `IngestError` with a message a user can act on, so the
producer can report it and move on instead of hanging or crashing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 10 * MiB
USER_AGENT = "newsstreams/0.1 (+https://github.com/newsstreams/newsstreams)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
    "text/html;q=0.8, application/json;q=0.8, text/plain;q=0.5, */*;q=0.1"
)
_CHUNK = 64 * 1024


class IngestError(Exception):
    """Input that cannot be read; the message is meant for the person running `produce`."""


@dataclass(frozen=True)
class FetchResult:
    status: int
    content: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None
    final_url: str


def _size_text(n: int) -> str:
    if n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    return f"{n} bytes"


def check_http_url(url: str) -> None:
    """Only http(s): `file://` or `ftp://` from a feed list must not reach local files or other protocols."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"'{parts.scheme}'" if parts.scheme else "no scheme"
        raise IngestError(f"cannot fetch {url}: only http:// and https:// URLs are supported, got {shown}")
    if not parts.hostname:
        raise IngestError(f"cannot fetch {url}: the URL has no host")


def fetch_url(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_redirects: int = 5,
) -> FetchResult:
    """GET `url`, conditionally when validators are given.

    `timeout` bounds each network step and the whole transfer: the body is read
    in chunks and abandoned once the deadline passes, so a server that trickles
    bytes cannot keep us forever (worst case a little over twice `timeout`).
    """
    check_http_url(url)
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + timeout
    limit = _size_text(max_bytes)
    try:
        with httpx.Client(
            follow_redirects=True,
            max_redirects=max_redirects,
            timeout=httpx.Timeout(timeout),
            headers=headers,
        ) as client:
            with client.stream("GET", url) as response:
                final_url = str(response.url)
                if response.status_code == 304:
                    return FetchResult(
                        status=304,
                        content=b"",
                        content_type=response.headers.get("content-type"),
                        etag=response.headers.get("etag") or etag,
                        last_modified=response.headers.get("last-modified") or last_modified,
                        final_url=final_url,
                    )
                if response.status_code >= 400:
                    reason = f" {response.reason_phrase}" if response.reason_phrase else ""
                    raise IngestError(f"HTTP {response.status_code}{reason} from {final_url}")
                if not 200 <= response.status_code < 300:
                    raise IngestError(f"unexpected HTTP {response.status_code} from {final_url}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise IngestError(f"response larger than {limit} from {final_url} (Content-Length {declared})")
                body = bytearray()
                # iter_bytes() decompresses, so the limit also covers gzip bombs.
                for chunk in response.iter_bytes(_CHUNK):
                    body += chunk
                    if len(body) > max_bytes:
                        raise IngestError(f"response larger than {limit} from {final_url}")
                    if time.monotonic() > deadline:
                        raise IngestError(f"timed out after {timeout:g}s reading {final_url}")
                return FetchResult(
                    status=response.status_code,
                    content=bytes(body),
                    content_type=response.headers.get("content-type"),
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                    final_url=final_url,
                )
    except httpx.TooManyRedirects:
        raise IngestError(f"more than {max_redirects} redirects fetching {url}") from None
    except httpx.TimeoutException:
        raise IngestError(f"timed out after {timeout:g}s fetching {url}") from None
    except httpx.UnsupportedProtocol as exc:
        # A redirect to a non-http(s) URL lands here.
        raise IngestError(f"cannot fetch {url}: redirected to an unsupported URL ({exc})") from None
    except httpx.ConnectError as exc:
        raise IngestError(f"cannot connect to {url}: {exc or 'connection failed'}") from None
    except httpx.InvalidURL as exc:
        raise IngestError(f"invalid URL {url!r}: {exc}") from None
    except httpx.HTTPError as exc:
        raise IngestError(f"fetching {url} failed: {type(exc).__name__}: {exc}") from None
