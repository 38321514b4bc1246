"""`/docs` works with the network cut off: headless Chromium (the system's) loads each service's
Swagger UI with every request that would leave the machine refused, and lists the operations.
No request tries to leave, the page carries a Content-Security-Policy, and nothing on the page
breaks that policy."""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Route, async_playwright

from tests.e2e.conftest import Saga

pytestmark = pytest.mark.e2e

EXPECTED = {
    "care-plan": ["/patients", "/availability", "/patients/{patientId}/bookings"],
    "provider-schedule": ["/providers", "/providers/{providerId}/availability"],
}


@pytest.mark.parametrize("service", sorted(EXPECTED))
async def test_swagger_ui_lists_the_operations_offline(saga: Saga, service: str) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is needed: `apt-get install chromium` (make test does)"
    port = {
        "care-plan": saga.settings.care_plan_port,
        "provider-schedule": saga.settings.provider_schedule_port,
    }[service]
    origin = f"127.0.0.1:{port}"
    left_the_machine: list[str] = []
    violations: list[str] = []

    async def only_this_origin(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            await route.continue_()
        else:
            left_the_machine.append(route.request.url)
            await route.abort("internetdisconnected")

    async with async_playwright() as playwright:
        # --no-sandbox: the test may run as root (CI does), where Chromium's sandbox refuses.
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = await browser.new_context()
            await context.route("**/*", only_this_origin)
            page = await context.new_page()
            page.on(
                "console",
                lambda message: (
                    violations.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            response = await page.goto(f"http://{origin}/docs")
            assert response is not None
            assert response.status == 200
            policy = await response.header_value("content-security-policy")
            await page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            paths = await page.locator(".opblock-summary-path").all_inner_texts()
        finally:
            await browser.close()

    for path in EXPECTED[service]:
        assert path in [p.strip().replace("\u200b", "") for p in paths], paths
    assert left_the_machine == []
    assert policy is not None
    assert "script-src 'self'" in policy
    assert violations == []
