"""Which addresses the image fetcher refuses, and what counts as image bytes."""

from __future__ import annotations

import ipaddress

import pytest

from imageserver import BLUE_JPEG, RED_PNG, image_bytes
from soko.fetch import image_signature, refusal


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
