"""Headless Chromium for the report-page tests (``pytest -m browser``).

Chromium and chromedriver come from Debian's ``chromium`` and ``chromium-driver``
packages (``make browser`` installs them). Without them the tests skip locally and fail
in CI (``CI=true``), so a CI machine cannot pass without really opening the pages.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _find() -> tuple[str | None, str | None]:
    browser = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)
    return browser, shutil.which("chromedriver")


@pytest.fixture(scope="session")
def driver() -> Iterator[object]:
    browser, chromedriver = _find()
    if browser is None or chromedriver is None:
        message = (
            "headless Chromium not found (chromium and chromedriver on PATH); "
            "install them with `make browser` (Debian: apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"):
        options.add_argument(arg)
    options.add_argument("--disable-dev-shm-usage")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=chromedriver)
    drv = webdriver.Chrome(options=options, service=service)
    try:
        yield drv
    finally:
        drv.quit()
