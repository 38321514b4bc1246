"""The live event-flow page in a real browser: headless Chromium (the system's package)
driven by Playwright. Load the page, book through its form, see the booking's hops arrive in
the order the booking crosses the topics, and keep a screenshot of it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from contract import topics
from devstack.platform import Platform
from devstack.settings import DevstackSettings

pytestmark = pytest.mark.e2e

PARTS = ["flow", "care-plan", "provider-schedule", "insurance-processor"]
# What an insured booking crosses, in order (CONTRACT.md section 2).
INSURED_BOOKING_HOPS = [
    (topics.BOOKING_REQUESTS, "BOOKING_CREATION_REQUEST"),
    (topics.BOOKING_REPLIES, "BOOKING_REQUEST_CONFIRMED"),
    (topics.CAREPLAN_BOOKINGS, "BOOKING_CONFIRMED"),
    (topics.CAREPLAN_BOOKINGS_INSURED, "BOOKING_CONFIRMED"),
]


@pytest.fixture(scope="module")
def flow_url(launcher: Platform, devstack_settings: DevstackSettings) -> str:
    launcher.up(PARTS)
    return f"http://127.0.0.1:{devstack_settings.flow_port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium package is needed (`make test` installs it)"
    with sync_playwright() as playwright:
        # The system browser, not one Playwright downloads; no sandbox as root in CI.
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def test_a_booking_made_in_the_form_shows_its_hops_live_in_order(
    flow_url: str, page: Page, devstack_settings: DevstackSettings
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(flow_url)
    expect(page.get_by_role("img", name="Platform topology")).to_be_visible()
    # The live connection is open before anything is booked, so no hop can be missed.
    page.wait_for_function(
        "() => document.body['htmx-internal-data']?.sseEventSource?.readyState === 1"
    )

    page.get_by_label("Payment").select_option("INSURANCE_PAY")
    page.get_by_role("button", name="Create provider, slot, patient and book").click()
    booked = page.locator("#story-booking")
    expect(booked).to_be_visible(timeout=60_000)
    booking_id = booked.get_attribute("data-booking")
    assert booking_id

    journey = page.locator(f"#journey-{booking_id}")
    hops = journey.locator("li.hop")
    expect(hops).to_have_count(len(INSURED_BOOKING_HOPS), timeout=60_000)
    seen = [(hop.get_attribute("data-topic"), hop.get_attribute("data-type")) for hop in hops.all()]
    assert seen == INSURED_BOOKING_HOPS
    expect(journey.locator(".state")).to_have_text("✔ confirmed")
    latencies = journey.locator(".hop-latency").all_inner_texts()
    assert latencies[0] == "first hop"
    assert all(text.startswith("+") and text.endswith(" ms") for text in latencies[1:])
    expect(page.locator("table.dead-letters tbody tr")).to_have_count(5)

    screenshot = devstack_settings.state_dir.resolve() / "flow-page.png"
    page.screenshot(path=str(screenshot))
    assert Path(screenshot).stat().st_size > 0
    assert errors == []
