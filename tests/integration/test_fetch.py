"""The safe image fetcher against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from imageserver import BLUE_JPEG, RED_PNG, ImageServer, serving
from soko.config import Settings, load_settings
from soko.errors import BlockedAddress, ImageFetchError
from soko.fetch import SafeFetcher

LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    with serving() as s:
        yield s


@pytest.fixture
def local_settings() -> Settings:
    """Local development: private addresses allowed, short timeouts, a 200 KB cap."""
    return load_settings(allow_private_urls=True, fetch_timeout_s=0.5, max_image_bytes=200_000)


@pytest.fixture
def fetcher(local_settings: Settings) -> Iterator[SafeFetcher]:
    with SafeFetcher(local_settings, backoff_s=0.01) as f:
        yield f


def test_images_are_fetched(server: ImageServer, fetcher: SafeFetcher) -> None:
    assert fetcher.fetch(f"{server.base}/red.png") == RED_PNG
    assert fetcher.fetch(f"{server.base}/blue.jpg") == BLUE_JPEG


def test_redirects_are_followed_up_to_the_limit(server: ImageServer, fetcher: SafeFetcher) -> None:
    assert fetcher.fetch(f"{server.base}/chain/5") == RED_PNG
    with pytest.raises(ImageFetchError, match="more than 5 redirects"):
        fetcher.fetch(f"{server.base}/chain/6")
    with pytest.raises(ImageFetchError, match="redirects"):
        fetcher.fetch(f"{server.base}/loop")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/fake.png", "the body is not an image"),
        ("/page.png", "content type 'text/html' is not an image"),
        ("/huge", "50000000 bytes is over the 200000-byte limit"),
        ("/huge-stream", "more than 200000 bytes"),
        ("/missing", "HTTP 404"),
    ],
)
def test_bad_responses_are_refused_without_retrying(
    server: ImageServer, fetcher: SafeFetcher, path: str, message: str
) -> None:
    before = server.hits[path]
    with pytest.raises(ImageFetchError, match=message) as info:
        fetcher.fetch(server.base + path)
    assert not info.value.retriable
    assert server.hits[path] == before + 1


def test_server_errors_are_retried_with_backoff(server: ImageServer, fetcher: SafeFetcher) -> None:
    assert fetcher.fetch(f"{server.base}/flaky/2") == RED_PNG
    assert server.hits["/flaky/2"] == 3
    with pytest.raises(ImageFetchError, match="HTTP 503") as info:
        fetcher.fetch(f"{server.base}/flaky/9")
    assert info.value.retriable
    assert server.hits["/flaky/9"] == 3  # the attempts, then it gives up


def test_a_slow_server_times_out_and_is_retried(server: ImageServer, fetcher: SafeFetcher) -> None:
    before = server.hits["/slow"]
    with pytest.raises(ImageFetchError, match="timed out") as info:
        fetcher.fetch(f"{server.base}/slow?s=2")
    assert info.value.retriable
    assert server.hits["/slow"] == before + 3


def test_a_dripping_server_hits_the_deadline(server: ImageServer, local_settings: Settings) -> None:
    with SafeFetcher(local_settings, attempts=1) as fetcher:  # noqa: SIM117
        with pytest.raises(ImageFetchError, match="too slow"):
            fetcher.fetch(f"{server.base}/drip")


# --- addresses refused by default --------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/red.png",
        "http://localhost:{port}/red.png",
        "http://2130706433:{port}/red.png",  # 127.0.0.1 as one number
        "http://[::1]:{port}/red.png",
        "http://[::ffff:127.0.0.1]:{port}/red.png",
        "http://10.1.2.3/x.jpg",
        "http://192.168.0.10/x.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.64.0.1/x.jpg",
        "http://0.0.0.0:{port}/red.png",
    ],
)
def test_default_settings_refuse_internal_addresses_without_connecting(
    server: ImageServer, url: str
) -> None:
    requests_before = sum(server.hits.values())
    with SafeFetcher(load_settings()) as fetcher, pytest.raises(BlockedAddress, match="refused"):
        fetcher.fetch(url.format(port=server.server_address[1]))
    assert sum(server.hits.values()) == requests_before


@pytest.mark.parametrize(
    "target",
    [
        "http://[::1]:{port}/red.png",
        "http://10.0.0.7/x.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.7]/x.jpg",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_an_internal_address_is_refused(server: ImageServer, target: str) -> None:
    # Default rules, except that this test's own server (127.0.0.1 only) is trusted.
    with SafeFetcher(load_settings(), trusted_networks=LOOPBACK) as fetcher:
        assert fetcher.fetch(f"{server.base}/red.png") == RED_PNG
        location = target.format(port=server.server_address[1])
        with pytest.raises(BlockedAddress, match="refused"):
            fetcher.fetch(f"{server.base}/to?url={location}")


def test_allowing_private_urls_never_allows_metadata_or_link_local(
    server: ImageServer, fetcher: SafeFetcher
) -> None:
    for target in ("http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/x.jpg"):
        with pytest.raises(BlockedAddress):
            fetcher.fetch(target)
        with pytest.raises(BlockedAddress):
            fetcher.fetch(f"{server.base}/to?url={target}")
