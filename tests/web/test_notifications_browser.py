"""The notification log page in a real browser (Playwright + Debian's chromium against a real ``crosstrace serve``):
reached from the navigation, it says what is configured and what was sent."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

from tests.web.test_browser import browser, page, pytestmark, server, shots  # noqa: F401 - fixtures and the skip


def test_the_navigation_leads_to_the_notification_log(server: str, page: Page, shots: Path) -> None:  # noqa: F811
    page.click("nav a[href='/notifications']")
    page.wait_for_url(server + "/notifications")
    assert page.inner_text("h1") == "Outbound notifications"
    assert "here" in (page.get_attribute("nav a[href='/notifications']", "class") or "")
    assert "No notification endpoint is configured" in page.inner_text("main")  # the seeded server has none
    assert "Nothing sent yet." in page.inner_text("main")
    page.screenshot(path=str(shots / "notifications.png"))
