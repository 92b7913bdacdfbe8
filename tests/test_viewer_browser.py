"""The dev server's viewer in a real browser: headless Chromium (Debian's ``chromium``
and ``chromium-driver``) driven by Selenium. Events sent by the posthog SDK appear,
newest first; filters hide the others; the detail view shows every property, and
values are shown as text, never run as HTML. Logs from the logs lane appear in
their tab, filtered by severity, service and user, tracebacks with their line
breaks; personless events are marked, times carry the date, long names do not
push columns out of view, and a burst of more than a page is all shown.

Set ``ANALYTICSKIT_SCREENSHOT=path.png`` to save a screenshot of the page (the
README's docs/viewer.png is made this way).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import analyticskit
from analyticskit import EventData
from analyticskit._devtools.server import DevServer

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


LONG_ID = "checkout_" + "very_long_name_" * 12


def _send_logs_and_events(server: DevServer) -> None:
    handler = analyticskit.PostHogHandler(
        api_key="phc_dev",
        host=server.url,
        event_level="ERROR",
        logs_level="INFO",
        service_name="checkout",
        rate_limit=False,
        dedupe_window=0,
    )
    logger = logging.getLogger("shop.browser_test")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        with analyticskit.user("u_42"):
            logger.info("cart has %d items", 3)
        try:
            raise ValueError("card declined")
        except ValueError:
            logger.error("payment failed", exc_info=True)
        analytics = handler.analytics
        analytics.capture_event(EventData(event_type="info", id=LONG_ID), from_user_id="u_" * 60)
        analytics.capture_event(EventData(event_type="info", id="cron_ran"))  # personless
        assert analytics.flush(10)
    finally:
        logger.removeHandler(handler)
        handler.analytics.shutdown(2)
        handler.close()


def _cells(driver: Any, table: str, css: str) -> list[str]:
    return [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, f"#{table} tr td{css}")]


def _detail_value(driver: Any, key: str) -> str:
    for row in driver.find_elements(By.CSS_SELECTOR, "#detail table tr"):
        cells = row.find_elements(By.TAG_NAME, "td")
        if cells and cells[0].text == key:
            return str(cells[1].text)
    raise AssertionError(f"no {key!r} in the detail view")


def test_viewer_shows_logs_beside_events_and_what_a_new_user_needs(browser: Any) -> None:
    with DevServer(port=0) as server:
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 15)
        wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())
        _send_logs_and_events(server)

        browser.find_element(By.ID, "tab-logs").click()
        wait.until(lambda d: len(_cells(d, "logs", ".body")) == 2)
        assert _cells(browser, "logs", ".body") == ["payment failed", "cart has 3 items"]
        Select(browser.find_element(By.ID, "severity")).select_by_visible_text("error and up")
        assert _cells(browser, "logs", ".body") == ["payment failed"]
        Select(browser.find_element(By.ID, "severity")).select_by_index(0)
        browser.find_element(By.ID, "user").send_keys("u_42")
        assert _cells(browser, "logs", ".body") == ["cart has 3 items"]
        browser.find_element(By.ID, "user").clear()
        browser.find_element(By.ID, "user").send_keys(" ")
        Select(browser.find_element(By.ID, "service")).select_by_visible_text("checkout")
        assert len(_cells(browser, "logs", ".body")) == 2
        browser.find_element(By.CSS_SELECTOR, "#logs tr").click()  # the error
        trace = _detail_value(browser, "exception.stacktrace")
        assert trace.startswith("Traceback (most recent call last):\n")  # line breaks kept
        assert trace.rstrip().endswith("ValueError: card declined")
        assert _detail_value(browser, "resource.service.name") == "checkout"

        browser.find_element(By.ID, "tab-events").click()
        wait.until(lambda d: len(_rows(d)) == 3)
        assert _rows(browser) == ["info_cron_ran", f"info_{LONG_ID}", "error_payment_failed"]
        users = _cells(browser, "events", ":nth-child(3)")
        assert users[0] == "personless" and users[2] == "personless"
        times = _cells(browser, "events", ":first-child")
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", t) for t in times), times
        fits = "const l = document.getElementById('list'); return l.scrollWidth <= l.clientWidth;"
        assert browser.execute_script(fits)  # the long name does not push columns away
        browser.find_elements(By.CSS_SELECTOR, "#events tr")[2].click()
        assert "Traceback (most recent call last):\n" in _detail_value(browser, "longDescription")

        # A burst of more than a page between two polls is all shown.
        burst = [{"event": f"burst_{i}", "distinct_id": "u1"} for i in range(1500)]
        answer = requests.post(
            server.url + "/batch/",
            json={"api_key": "phc_dev", "batch": burst},
            timeout=10,
        )
        assert answer.status_code == 200
        wait.until(lambda d: d.find_element(By.ID, "count").text.startswith("1503 of 1503 events"))
        newest = browser.find_element(By.CSS_SELECTOR, "#events tr td.name")
        assert newest.text == "burst_1499"

        browser.find_element(By.ID, "tab-logs").click()
        browser.find_element(By.ID, "clear").click()
        wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())
        assert server.store.counts()["logs"] == 0
