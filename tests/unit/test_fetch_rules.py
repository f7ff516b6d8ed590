"""Which addresses the image fetcher refuses, and what counts as image bytes."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from imageserver import BLUE_JPEG, RED_PNG, image_bytes
from soko.catalog import ProductCreate, ProductUpdate
from soko.catalog.schemas import describe_validation_error
from soko.errors import BlockedAddress
from soko.fetch import check_url, image_signature, refusal


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "100.64.0.1",
        "100.100.100.200",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 wrapping 169.254.169.254
    ],
)
def test_internal_addresses_are_refused_by_default(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "192.168.1.1", "::1", "fc00::1"])
def test_private_addresses_are_allowed_for_local_development(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "fd00:ec2::254", "fe80::1", "168.63.129.16", "224.0.0.1"]
)
def test_metadata_and_link_local_are_refused_even_when_private_is_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=True) is not None


def test_image_signatures() -> None:
    assert image_signature(RED_PNG) == "png"
    assert image_signature(BLUE_JPEG) == "jpeg"
    assert image_signature(image_bytes((1, 2, 3), "GIF")) == "gif"
    assert image_signature(image_bytes((1, 2, 3), "WEBP")) == "webp"
    assert image_signature(image_bytes((1, 2, 3), "BMP")) == "bmp"
    assert image_signature(b"<html>") is None
    assert image_signature(b"") is None


# --- the URL rules: one function, used by the fetcher and by validation ----------------------
REFUSED_URLS = [
    ("http://0177.0.0.1/x.jpg", "a.b.c.d"),  # octal: 127.0.0.1 to resolvers
    ("http://2130706433/x.jpg", "a.b.c.d"),  # decimal
    ("http://0x7f000001/x.jpg", "a.b.c.d"),  # hex
    ("http://0x7f.0.0.1/x.jpg", "a.b.c.d"),
    ("http://127.1/x.jpg", "a.b.c.d"),  # shortened
    ("http://010.0.0.1/x.jpg", "a.b.c.d"),
    ("http://1.2.3.4./x.jpg", "a.b.c.d"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[::ffff:169.254.169.254]/x.jpg", "cloud metadata"),
    ("http://[fe80::1]/x.jpg", "link-local"),
    ("http://0.0.0.0/x.jpg", "not a unicast address"),
    ("ftp://img.example/x.jpg", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("http:///x.jpg", "with a host"),
    ("http://img example.com/x.jpg", "not a valid host name"),
    ("http://img.example:99999/x.jpg", "not a valid URL"),
    ("http://[::1/x.jpg", "not a valid URL"),
    ("http://seller:hunter2@img.example/x.jpg", "credentials"),
    ("http://seller@img.example/x.jpg", "credentials"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED_URLS)
def test_urls_refused_whatever_the_settings(url: str, why: str) -> None:
    with pytest.raises(BlockedAddress, match="refused") as info:
        check_url(url)
    assert why in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/a/b.jpg?w=300",
        "HTTP://IMG.EXAMPLE/X.JPG",
        "https://bücher.example/x.jpg",
        "http://img_1.example.com/x.jpg",
        "http://93.184.216.34:8080/x.jpg",
        "http://[2606:4700::1111]/x.jpg",
        # Private and loopback literals depend on SOKO_ALLOW_PRIVATE_URLS: refused when fetched.
        "http://127.0.0.1:8000/x.png",
        "http://10.0.0.1/x.jpg",
    ],
)
def test_urls_left_to_the_fetch_time_checks(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(("url", "why"), REFUSED_URLS)
def test_validation_refuses_what_the_fetcher_refuses(url: str, why: str) -> None:
    row = {"product_id": 1, "name": "Kiatu", "category": "shoes", "price": 10, "seller_id": 2}
    with pytest.raises(ValidationError) as info:
        ProductCreate.model_validate({**row, "image_url": url})
    message = describe_validation_error(info.value)
    assert message.startswith("image_url: ")
    assert why in message
    assert "hunter2" not in message
    with pytest.raises(ValidationError):
        ProductUpdate.model_validate({"image_url": url})


def test_credentials_are_redacted_from_text() -> None:
    from soko.logs import redact

    assert redact("GET http://u:p@a.example/x and https://tok@b.example:8/y?q=1 done") == (
        "GET http://***@a.example/x and https://***@b.example:8/y?q=1 done"
    )
    assert redact("http://a@b:c@d.example/x") == "http://***@d.example/x"
    assert redact("http://img.example/x@2x.jpg") == "http://img.example/x@2x.jpg"
