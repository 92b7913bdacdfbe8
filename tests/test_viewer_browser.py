"""The dev server's viewer in a real browser: headless Chromium (Debian's ``chromium``
and ``chromium-driver``) driven by Selenium. Events sent by the posthog SDK appear,
newest first; filters hide the others; the detail view shows every property, and
values are shown as text, never run as HTML.

Set ``ANALYTICSKIT_SCREENSHOT=path.png`` to save a screenshot of the page (the
README's docs/viewer.png is made this way).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

import analyticskit
from analyticskit import EventData
from analyticskit._devserver import DevServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "needs Chromium and its driver (apt-get install chromium chromium-driver;"
        " .ci/run installs them)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="needs selenium (pip install -e '.[browser]')"
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

# No network, no first-run work, nothing in the background.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,760",
)
HOSTILE = '<img src=x onerror="document.title=`pwned`">'


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def _send(server: DevServer) -> None:
    analytics = analyticskit.Analytics(api_key="phc_dev", host=server.url)
    sends = [
        (EventData(event_type="info", id="fetch_all_users", source="db"), "u_17", {}),
        (
            EventData(event_type="error", id="payment_failed", source="iap"),
            "u_42",
            {"card": "visa", "note": HOSTILE},
        ),
        (EventData(event_type="success", id="signed_up", source="auth"), "u_99", {}),
        (
            EventData(event_type="info", id="cache_warmed", source="db", relevancy="low"),
            None,
            {},
        ),
    ]
    for data, user, properties in sends:
        analytics.capture_event(data, from_user_id=user, properties=properties)
        assert analytics.flush(10)  # one at a time: a known order
    analytics.shutdown(2)


def _rows(driver: Any) -> list[str]:
    return [
        row.find_element(By.CSS_SELECTOR, "td.name").text
        for row in driver.find_elements(By.CSS_SELECTOR, "#events tr")
    ]


def test_viewer_lists_events_live_and_filters_them(browser: Any) -> None:
    with DevServer(port=0) as server:
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 15)
        wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())
        _send(server)  # after the page loaded: they arrive through its polling
        wait.until(lambda d: len(_rows(d)) == 4)
        assert _rows(browser) == [
            "info_cache_warmed",
            "success_signed_up",
            "error_payment_failed",
            "info_fetch_all_users",
        ]
        first = browser.find_element(By.CSS_SELECTOR, "#events tr")
        assert first.get_attribute("class").startswith("type-info")

        Select(browser.find_element(By.ID, "type")).select_by_visible_text("error")
        assert _rows(browser) == ["error_payment_failed"]
        Select(browser.find_element(By.ID, "type")).select_by_index(0)
        Select(browser.find_element(By.ID, "source")).select_by_visible_text("db")
        assert _rows(browser) == ["info_cache_warmed", "info_fetch_all_users"]
        Select(browser.find_element(By.ID, "relevancy")).select_by_visible_text("low")
        assert _rows(browser) == ["info_cache_warmed"]
        Select(browser.find_element(By.ID, "source")).select_by_index(0)
        Select(browser.find_element(By.ID, "relevancy")).select_by_index(0)
        browser.find_element(By.ID, "text").send_keys("u_99")
        assert _rows(browser) == ["success_signed_up"]
        browser.find_element(By.ID, "text").clear()
        browser.find_element(By.ID, "text").send_keys(" ")  # fires input; blank: no filter
        assert len(_rows(browser)) == 4

        browser.find_elements(By.CSS_SELECTOR, "#events tr")[2].click()
        detail = browser.find_element(By.ID, "detail").text
        assert "error_payment_failed" in detail and "visa" in detail and "u_42" in detail
        assert HOSTILE in detail  # shown as text...
        assert browser.title == "analyticskit dev"  # ...never run

        screenshot = os.environ.get("ANALYTICSKIT_SCREENSHOT")
        if screenshot:
            browser.save_screenshot(screenshot)
