"""Fetching seller image URLs without becoming a proxy into our own network.

`SafeFetcher.fetch(url)` returns the bytes of an image, or raises `ImageFetchError`
(`BlockedAddress` for a refused address). What it guarantees:

- the URL rules of `url_refusal` (also what `ProductCreate` validates at import and at the
  API): only http and https, a host, no credentials, IPv4 literals only as a.b.c.d (never
  the decimal, hex, octal or shortened forms resolvers accept), never a literal address
  refused whatever the settings; no proxies from the environment;
- every connection's host is resolved and *every* resolved address checked before
  connecting, and the connection goes to a checked address (so DNS cannot change its
  answer between the check and the connect). Loopback, private, link-local, multicast,
  reserved and cloud-metadata addresses are refused; `allow_private_urls` (local
  development) lets loopback and private ranges through, never link-local or metadata;
- redirects are followed by hand, at most `MAX_REDIRECTS`, each hop checked again;
- connect and read timeouts, plus a deadline for the whole response (a server dripping one
  byte at a time cannot hold a worker);
- at most `max_image_bytes`, refused from Content-Length or cut off while streaming;
- the Content-Type must be an image type and the first bytes must be an image signature;
- 5xx, 429, timeouts and connection failures are retried with exponential backoff;
- no message or log line repeats the credentials of a URL (`soko.logs.redact`).

A `BlockedAddress` is a refusal by these rules: permanent for that URL (hydrate does not
retry it until the product changes). Other `ImageFetchError`s say whether an immediate
retry may help (`retriable`).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from soko.config import Settings
from soko.errors import BlockedAddress, ImageFetchError
from soko.logs import redact

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5
ATTEMPTS = 3
BACKOFF_S = 0.5
#: The whole response must arrive within this many read timeouts.
DEADLINE_FACTOR = 3.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/jpg",
        "image/pjpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/bmp",
        "image/x-ms-bmp",
        "image/tiff",
        "image/avif",
    }
)
#: Cloud metadata services, refused even with allow_private_urls. 169.254.0.0/16 and
#: fe80::/10 are refused as link-local anyway; these sit in other ranges.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
    )
)
USER_AGENT = "soko-image-fetcher/1.0"


def image_signature(head: bytes) -> str | None:
    """The image format the first bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM":
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "avif"
    return None


def refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why `address` must not be fetched from, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return refusal(embedded, allow_private)
        if address.teredo is not None:
            return refusal(address.teredo[1], allow_private)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast or address.is_unspecified:
        return "not a unicast address"
    if allow_private and (address.is_loopback or address.is_private):
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "not a public address"
    return None


class AddressPolicy:
    """Which resolved addresses may be connected to."""

    def __init__(
        self, *, allow_private: bool = False, trusted_networks: Sequence[IPNetwork] = ()
    ) -> None:
        self.allow_private = allow_private
        #: Exceptions for known internal image hosts (and for tests on loopback).
        self.trusted_networks = tuple(trusted_networks)

    def check(self, host: str, addresses: Iterable[IPAddress]) -> None:
        for address in addresses:
            if any(address in network for network in self.trusted_networks):
                continue
            why = refusal(address, self.allow_private)
            if why:
                raise BlockedAddress(f"refused to fetch from {host}: {address} is {why}")

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address `host` resolves to, each checked; the host is refused if any is."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as exc:
                raise ImageFetchError(f"cannot resolve {host}: {exc}", retriable=True) from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        else:
            addresses = [literal]
        if not addresses:
            raise ImageFetchError(f"{host} resolves to no address", retriable=True)
        self.check(host, addresses)
        return addresses


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.policy.resolve(host, port)
        # TLS still verifies the certificate against `host`: httpcore starts TLS with the
        # request's host name, not with the address connected to.
        return super().connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, policy: AddressPolicy, *, max_connections: int) -> None:
        super().__init__(trust_env=False)
        # httpx has no public way to choose httpcore's network backend, so the pool it just
        # built is replaced by an identical one using the guarded backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            network_backend=GuardedBackend(policy),
        )


class SafeFetcher:
    """Downloads product images under the rules in this module's docstring. Thread-safe."""

    def __init__(
        self,
        settings: Settings,
        *,
        trusted_networks: Sequence[IPNetwork] = (),
        attempts: int = ATTEMPTS,
        backoff_s: float = BACKOFF_S,
    ) -> None:
        self.max_bytes = settings.max_image_bytes
        self.timeout_s = settings.fetch_timeout_s
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.policy = AddressPolicy(
            allow_private=settings.allow_private_urls, trusted_networks=trusted_networks
        )
        self._client = httpx.Client(
            transport=GuardedTransport(self.policy, max_connections=settings.fetch_concurrency),
            timeout=httpx.Timeout(self.timeout_s),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept": "image/*"},
            event_hooks={"response": [_check_redirect]},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SafeFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, url: str) -> bytes:
        """The image bytes at `url`, retrying transient failures with backoff."""
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                return self._fetch_once(url)
            except ImageFetchError as exc:
                if not exc.retriable or attempt == self.attempts:
                    raise
                log.info("fetching %s failed (attempt %d), retrying: %s", redact(url), attempt, exc)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _fetch_once(self, url: str) -> bytes:
        deadline = time.monotonic() + self.timeout_s * DEADLINE_FACTOR
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current)
            shown = redact(current)
            try:
                with self._client.stream("GET", current) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise ImageFetchError(f"{shown}: redirect without a Location")
                        current = urljoin(current, location)
                        continue
                    return self._read(shown, response, deadline)
            except httpx.TimeoutException as exc:
                raise ImageFetchError(
                    redact(f"{shown}: timed out ({exc})"), retriable=True
                ) from None
            except httpx.TransportError as exc:
                raise ImageFetchError(
                    redact(f"{shown}: {exc or type(exc).__name__}"), retriable=True
                ) from None
            except httpx.InvalidURL as exc:
                # url_refusal accepts only what httpx parses; kept so that a gap between the
                # two is one product's refusal, never an uncaught error.
                raise BlockedAddress(redact(f"refused to fetch {shown}: {exc}")) from None
            except httpx.HTTPError as exc:
                raise ImageFetchError(redact(f"{shown}: {exc or type(exc).__name__}")) from None
        raise ImageFetchError(f"{redact(url)}: more than {MAX_REDIRECTS} redirects")

    def _read(self, url: str, response: httpx.Response, deadline: float) -> bytes:
        if response.status_code != 200:
            raise ImageFetchError(
                f"{url}: HTTP {response.status_code}",
                retriable=response.status_code in RETRY_STATUSES,
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in IMAGE_TYPES:
            raise ImageFetchError(f"{url}: content type {content_type or 'none'!r} is not an image")
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise ImageFetchError(f"{url}: {length} bytes is over the {self.max_bytes}-byte limit")
        body = bytearray()
        for chunk in response.iter_bytes():
            body.extend(chunk)
            if len(body) > self.max_bytes:
                raise ImageFetchError(f"{url}: more than {self.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise ImageFetchError(f"{url}: response too slow", retriable=True)
        if image_signature(bytes(body[:16])) is None:
            raise ImageFetchError(f"{url}: the body is not an image ({content_type} claimed)")
        return bytes(body)


#: A host whose last label is a number (digits, or 0x and hex digits) is an IPv4 address to
#: URL parsers and resolvers (WHATWG URL, inet_aton), whatever its other labels look like.
_NUMERIC_LABEL = re.compile(r"(?:[0-9]+|0[xX][0-9A-Fa-f]*)")
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def url_refusal(url: str) -> str | None:
    """Why the image URL `url` is refused whatever the settings, or None if it may be tried.

    The one set of URL rules: `ProductCreate` validates `image_url` with it (so `soko import`
    and the API refuse such URLs up front) and `SafeFetcher` checks every URL and redirect
    target with it. Addresses a host name resolves to, and private or loopback literals
    (allowed by SOKO_ALLOW_PRIVATE_URLS), are checked when fetching.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme.lower() not in {"http", "https"}:
        return "must be an http:// or https:// URL"
    if "@" in parts.netloc:
        return "must not contain credentials (user:password@)"
    host = parts.hostname
    if not host:
        return "must be an http:// or https:// URL with a host"
    if port == 0:
        return "has port 0"
    literal: IPAddress | None = None
    if parts.netloc.startswith("["):
        try:
            literal = ipaddress.IPv6Address(host)
        except ValueError:
            return f"host [{host}] is not an IPv6 address"
    else:
        labels = host.removesuffix(".").split(".")
        if _NUMERIC_LABEL.fullmatch(labels[-1]):
            try:
                literal = ipaddress.IPv4Address(host)
            except ValueError:
                return (
                    f"host {host} is not an IPv4 address written a.b.c.d (decimal, no leading "
                    "zeros); the decimal, hex, octal and shortened forms are refused"
                )
        else:
            try:
                ascii_host = host.encode("idna").decode("ascii")
            except UnicodeError:
                return f"host {host!r} is not a valid host name"
            if len(ascii_host) > 253 or not all(
                _HOST_LABEL.fullmatch(label) for label in ascii_host.removesuffix(".").split(".")
            ):
                return f"host {host!r} is not a valid host name"
    if literal is not None:
        # Refused even where SOKO_ALLOW_PRIVATE_URLS allows private and loopback addresses.
        why = refusal(literal, allow_private=True)
        if why:
            return f"host {host} is {why}"
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"is not a valid URL ({redact(str(exc))})"
    return None


def _check_redirect(response: httpx.Response) -> None:
    """A redirect's target, checked before httpx parses it: httpx builds the next request
    even without following it, and a Location it cannot parse would be a retriable protocol
    error instead of the refusal it is."""
    location = response.headers.get("location")
    if response.is_redirect and location:
        check_url(urljoin(str(response.request.url), location))


def check_url(url: str) -> None:
    """Raise `BlockedAddress` (credentials redacted) if `url_refusal` refuses `url`."""
    why = url_refusal(url)
    if why:
        raise BlockedAddress(f"refused to fetch {redact(url)}: {why}")
