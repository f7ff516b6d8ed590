"""The web page in real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from apiserver import ApiServer, demo_photo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("web page test not run: no chromium binary (apt-get install chromium)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    yield page
    context.close()


def test_upload_a_photo_see_results_and_click_through(phone: Page, api_server: ApiServer) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    phone.goto(api_server.base_url + "/")
    expect(phone.locator("#category option")).not_to_have_count(1)  # categories loaded

    phone.set_input_files("#photo", str(demo_photo(12)))
    cards = phone.locator("#results .card")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 10
    assert cards.first.get_attribute("data-product-id") == "12"
    expect(phone.locator("#status")).to_contain_text("similar products")
    first_image = cards.first.locator("img")
    assert first_image.get_attribute("loading") == "lazy"
    assert "size=thumb" in (first_image.get_attribute("src") or "")
    phone.wait_for_function("document.querySelector('#results .card img').naturalWidth > 0")
    # Phone-sized: nothing wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(SCREENSHOTS / "web-photo-search.png"), full_page=False)

    chosen = cards.nth(1)
    chosen_id = chosen.get_attribute("data-product-id")
    chosen.click()
    expect(phone).to_have_url(f"{api_server.base_url}/?product={chosen_id}")
    expect(phone.locator("#selected h1")).to_be_visible()
    expect(cards.first).to_be_visible()
    shown = {cards.nth(i).get_attribute("data-product-id") for i in range(cards.count())}
    assert chosen_id not in shown
    phone.screenshot(path=str(SCREENSHOTS / "web-similar.png"), full_page=False)

    phone.go_back()
    expect(phone).to_have_url(f"{api_server.base_url}/")


def test_words_search_and_errors_are_shown(phone: Page, api_server: ApiServer) -> None:
    phone.goto(api_server.base_url + "/")
    phone.fill("#q", "viatu")
    phone.click("#search-form button")
    cards = phone.locator("#results .card")
    expect(cards.first).to_be_visible()
    expect(phone).to_have_url(f"{api_server.base_url}/?q=viatu")
    assert "shoes" in cards.first.inner_text()

    phone.goto(api_server.base_url + "/?product=987654")
    expect(phone.locator("#error")).to_have_text("Product not found")
