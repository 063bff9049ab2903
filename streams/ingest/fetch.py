"""Fetching one URL for ingestion, with hard limits.

Upstream feeds are other people's servers: they can be down, slow, huge, hostile
or redirect forever. Every fetch is bounded so that one bad feed costs a known,
small amount of time and memory and cannot reach the machine's own network:

- time: one deadline for the whole request (DNS answer aside, see `fetch_url`),
  enforced on every socket operation, so a server that trickles a byte every
  few seconds fails at the deadline instead of holding the producer;
- memory: the body is read raw and its Content-Encoding (gzip, deflate, even
  stacked as `gzip, gzip`) is undone here in bounded pieces, so the size limit
  applies to the decoded bytes and a compression bomb is refused after
  `max_bytes` of output, never inflated whole;
- addresses: only http(s), and every host (the first one and every redirect
  target, followed one at a time) must resolve to public addresses; the
  connection is made to the very address that was checked.

Every failure becomes an `IngestError` with a message a user can act on, so the
producer can report it and move on instead of hanging or crashing.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import time
import zlib
from dataclasses import dataclass
from typing import Iterable, Iterator
from urllib.parse import urlsplit

import httpcore
import httpx

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 10 * MiB
DEFAULT_TIMEOUT = 10.0
USER_AGENT = "newsstreams/0.1 (+https://github.com/newsstreams/newsstreams)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
    "text/html;q=0.8, application/json;q=0.8, text/plain;q=0.5, */*;q=0.1"
)
ACCEPT_ENCODING = "gzip, deflate"
"""Only what `decoded_chunks` can undo in bounded memory (no br: its decoder is not installed)."""
MAX_ENCODINGS = 3
"""More stacked Content-Encodings than this is refused: each costs a decoder, and real servers use one."""
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ALLOW_PRIVATE_HINT = "use --allow-private-addresses to fetch from this network"
_PIECE = 64 * 1024
"""Most bytes one decompression step may produce: the unit of memory for a bomb."""
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class IngestError(Exception):
    """Input that cannot be read; the message is meant for the person running `produce`."""


class AddressRefused(IngestError):
    """The host resolves to an address on this machine or its private network."""


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


# ----------------------------------------------------------------- URLs


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host: the only links we fetch or publish.

    A `javascript:`, `file:` or `gopher:` link in a feed is at best useless to a
    reader of the news and at worst an attack on whoever follows it.
    """
    try:
        parts = urlsplit(url.strip())
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False


def check_http_url(url: str) -> None:
    """Only http(s): `file://` or `ftp://` from a feed list must not reach local files or other protocols."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise IngestError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"'{parts.scheme}'" if parts.scheme else "no scheme"
        raise IngestError(f"cannot fetch {url}: only http:// and https:// URLs are supported, got {shown}")
    if not host:
        raise IngestError(f"cannot fetch {url}: the URL has no host")


# ------------------------------------------------------------ addresses


def address_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What makes `address` off limits ('loopback', 'private', ...), or None for a public one.

    A feed URL that leads to this machine or its network would let whoever
    controls a feed (or its DNS) read internal services such as the worker's
    metrics and publish them as news. IPv4 addresses written as IPv6
    (`::ffff:127.0.0.1`) are judged as the IPv4 address they stand for.
    """
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    for kind in ("loopback", "unspecified", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:  # e.g. 100.64.0.0/10, shared by carrier-grade NAT
        return "non-public"
    return None


def resolve_public(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses of `host`, each checked; refuses the host if any of them is not public.

    All of them are checked, not just the first: which one a connection uses
    is not ours to choose once the lookup can return several.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve host {host!r}: {exc.strerror or exc}") from None
    addresses: list[str] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = sockaddr[0].split("%", 1)[0]
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise httpcore.ConnectError(f"host {host!r} has no IPv4 or IPv6 address")
    if not allow_private:
        for text in addresses:
            kind = address_kind(ipaddress.ip_address(text))
            if kind is not None:
                shown = host if host == text else f"{host} ({text})"
                raise AddressRefused(f"{shown} is a {kind} address; {ALLOW_PRIVATE_HINT}")
    return addresses


class _Deadline:
    """One end time for a whole request; every socket operation gets at most what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def cap(self, timeout: float | None, expired: type[Exception]) -> float:
        remaining = self.left()
        if remaining <= 0:
            raise expired(f"the {self.seconds:g}s deadline passed")
        return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A stream whose reads, writes and TLS handshake never outlive the request's deadline.

    httpcore gives each operation its own timeout, so a server sending one byte
    just before each timeout could last forever; capping each timeout by the
    time left turns that into a single bound for the whole request.
    """

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        # CPython bounds the whole handshake by the socket timeout, not each step of it.
        inner = self._inner.start_tls(
            ssl_context, server_hostname=server_hostname, timeout=self._deadline.cap(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _CheckedBackend(httpcore.NetworkBackend):
    """Connects only to addresses it has just checked, within the request's deadline.

    Resolving and checking here, at the moment of connecting, and then
    connecting to the checked address itself (TLS still verifies the host
    name), closes the DNS-rebinding gap where a name answers with a public
    address for the check and a private one for the connection.
    """

    def __init__(self, deadline: _Deadline, allow_private: bool) -> None:
        self._deadline = deadline
        self._allow_private = allow_private
        self._plain = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = resolve_public(host, port, allow_private=self._allow_private)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = self._plain.connect_tcp(
                    address,
                    port,
                    timeout=self._deadline.cap(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure  # type: ignore[misc]

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover - never asked for
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - used by retries, which are off
        time.sleep(min(seconds, max(self._deadline.left(), 0)))


# ------------------------------------------------------------- decoding


def content_encodings(values: Iterable[str]) -> list[str]:
    """The codings applied to a body, in the order they were applied, from its Content-Encoding header(s).

    'identity' means none; names are case-insensitive. Anything but gzip and
    deflate is refused: it could not be decoded with a bound on its output.
    """
    codings = []
    for value in values:
        for name in value.split(","):
            name = name.strip().lower()
            if name and name != "identity":
                codings.append("gzip" if name == "x-gzip" else name)
    unknown = sorted({name for name in codings if name not in ("gzip", "deflate")})
    if unknown:
        raise IngestError(f"unsupported Content-Encoding {', '.join(unknown)} (only gzip and deflate are decoded)")
    if len(codings) > MAX_ENCODINGS:
        raise IngestError(f"{len(codings)} stacked Content-Encodings (at most {MAX_ENCODINGS} are decoded)")
    return codings


def _inflate(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    """Undo one gzip or deflate coding, never producing more than `_PIECE` bytes per step.

    `decompress(data, max_length)` keeps the input it has not used in
    `unconsumed_tail`, so memory stays at one piece in and one piece out
    however much the data expands. Concatenated gzip members are all decoded;
    anything else after the end of the stream is ignored, as browsers do.
    A 'deflate' body is tried as zlib data first, then as raw deflate, since
    servers send both under that name.
    """
    gzip = coding == "gzip"
    decoder = zlib.decompressobj(_GZIP_WBITS if gzip else zlib.MAX_WBITS)
    may_retry_raw = not gzip
    for chunk in chunks:
        data = chunk
        full = False
        while data or full:
            if decoder.eof:
                if not (gzip and data.startswith(b"\x1f")):
                    return
                decoder = zlib.decompressobj(_GZIP_WBITS)
            try:
                out = decoder.decompress(data, _PIECE)
            except zlib.error:
                if not may_retry_raw:
                    raise
                decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                may_retry_raw = False
                continue
            if out:
                may_retry_raw = False
            # zlib does not promise that a full piece with no input left leaves nothing pending: ask once more.
            full = len(out) == _PIECE and not decoder.eof
            data = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
            if out:
                yield out


def decoded_chunks(chunks: Iterable[bytes], codings: list[str]) -> Iterator[bytes]:
    """The body as sent before its codings (listed in the order applied), decoded lazily.

    Decoders are chained as generators: each asks the one below for more only
    when it has used up what it has, so a consumer that stops after N bytes has
    made the whole chain produce little more than N bytes.
    """
    for coding in reversed(codings):
        chunks = _inflate(chunks, coding)
    return iter(chunks)


# ---------------------------------------------------------------- fetch


def _header(response: httpcore.Response, name: str) -> str | None:
    wanted = name.encode("ascii")
    for key, value in response.headers:
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None


def _headers(response: httpcore.Response, name: str) -> list[str]:
    wanted = name.encode("ascii")
    return [value.decode("latin-1") for key, value in response.headers if key.lower() == wanted]


@functools.lru_cache(maxsize=1)
def _ssl_context():
    """Loading the CA bundle takes a while; one verifying context serves every fetch."""
    return httpx.create_ssl_context()


def _core_url(url: httpx.URL) -> httpcore.URL:
    return httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)


def _redirect_target(current: httpx.URL, location: str, original: str) -> httpx.URL:
    try:
        target = current.join(location.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise IngestError(f"cannot fetch {original}: redirected to an invalid URL {location!r} ({exc})") from None
    if target.scheme not in ("http", "https") or not target.host:
        raise IngestError(
            f"cannot fetch {original}: redirected to an unsupported URL {location!r} "
            "(only http:// and https:// redirects are followed)"
        )
    return target


def _read_body(response: httpcore.Response, *, url: str, max_bytes: int, deadline: _Deadline) -> bytes:
    """The decoded body, refused as soon as it (or its raw form) passes `max_bytes`."""
    limit = _size_text(max_bytes)
    declared = (_header(response, "content-length") or "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise IngestError(f"response larger than {limit} from {url} (Content-Length {declared})")
    try:
        codings = content_encodings(_headers(response, "content-encoding"))
    except IngestError as exc:
        raise IngestError(f"cannot read {url}: {exc}") from None
    received = 0

    def raw() -> Iterator[bytes]:
        nonlocal received
        for chunk in response.iter_stream():
            received += len(chunk)
            if received > max_bytes:
                raise IngestError(f"response larger than {limit} from {url}")
            yield chunk

    body = bytearray()
    try:
        for piece in decoded_chunks(raw(), codings):
            if len(body) + len(piece) > max_bytes:
                shown = f" (decoded from {', '.join(codings)})" if codings else ""
                raise IngestError(f"response larger than {limit} from {url}{shown}")
            body += piece
            deadline.cap(None, httpcore.ReadTimeout)
    except zlib.error as exc:
        raise IngestError(f"cannot decode the {', '.join(codings)} body of {url}: {exc}") from None
    return bytes(body)


def fetch_url(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_redirects: int = 5,
    allow_private: bool = False,
) -> FetchResult:
    """GET `url`, conditionally when validators are given.

    `timeout` is a deadline for the whole request, redirects included:
    connecting, TLS, sending, waiting for headers and reading the body all
    share it. `max_bytes` bounds the body after its Content-Encoding is
    undone (and before). Redirects are followed one by one, up to
    `max_redirects`, each target checked like the first URL: http(s) only, and
    unless `allow_private`, a host whose addresses include a loopback, private,
    link-local, multicast, reserved or unspecified one is refused.

    The connection goes to the address that was checked, so DNS cannot answer
    differently between the check and the connection. Two gaps remain: the
    DNS lookup itself is bounded by the system resolver's own timeouts, not by
    `timeout` (the deadline is checked again once it answers); and proxies from
    the environment (HTTP_PROXY...) are not used, since a proxy would resolve
    names itself, out of reach of the check.

    Runs in the calling thread, starts no others, and closes every connection
    it opened before returning or raising.
    """
    check_http_url(url)
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise IngestError(f"invalid URL {url!r}: {exc}") from None
    headers = [("User-Agent", USER_AGENT), ("Accept", ACCEPT), ("Accept-Encoding", ACCEPT_ENCODING)]
    if etag:
        headers.append(("If-None-Match", etag))
    if last_modified:
        headers.append(("If-Modified-Since", last_modified))
    deadline = _Deadline(timeout)
    extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
    pool = httpcore.ConnectionPool(
        ssl_context=_ssl_context(),
        network_backend=_CheckedBackend(deadline, allow_private),
        http1=True,
        http2=False,
        retries=0,
    )
    redirects = 0
    try:
        with pool:
            while True:
                shown = str(current)
                with pool.stream("GET", _core_url(current), headers=headers, extensions=extensions) as response:
                    status = response.status
                    location = _header(response, "location")
                    if status in REDIRECT_STATUSES and location:
                        if redirects >= max_redirects:
                            raise IngestError(f"more than {max_redirects} redirects fetching {url}")
                        redirects += 1
                        current = _redirect_target(current, location, url)
                        continue
                    if status == 304:
                        return FetchResult(
                            status=304,
                            content=b"",
                            content_type=_header(response, "content-type"),
                            etag=_header(response, "etag") or etag,
                            last_modified=_header(response, "last-modified") or last_modified,
                            final_url=shown,
                        )
                    if status >= 400:
                        reason = response.extensions.get("reason_phrase", b"").decode("latin-1").strip()
                        raise IngestError(f"HTTP {status}{' ' + reason if reason else ''} from {shown}")
                    if not 200 <= status < 300:
                        raise IngestError(f"unexpected HTTP {status} from {shown}")
                    content = _read_body(response, url=shown, max_bytes=max_bytes, deadline=deadline)
                    return FetchResult(
                        status=status,
                        content=content,
                        content_type=_header(response, "content-type"),
                        etag=_header(response, "etag"),
                        last_modified=_header(response, "last-modified"),
                        final_url=shown,
                    )
    except AddressRefused as exc:
        if redirects:
            raise AddressRefused(f"refused to follow a redirect from {url} to {current}: {exc}") from None
        raise AddressRefused(f"refused to fetch {url}: {exc}") from None
    except httpcore.TimeoutException:
        raise IngestError(
            f"timed out after {timeout:g}s fetching {url}: the whole request (connection, headers and body) "
            f"must finish within {timeout:g}s"
        ) from None
    except httpcore.ConnectError as exc:
        target = url if not redirects else f"{current} (redirected from {url})"
        raise IngestError(f"cannot connect to {target}: {exc or 'connection failed'}") from None
    except (httpcore.ProtocolError, httpcore.NetworkError, httpcore.UnsupportedProtocol) as exc:
        raise IngestError(f"fetching {url} failed: {type(exc).__name__}: {exc}") from None
