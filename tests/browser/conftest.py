"""Real-browser tests: headless Chromium from the distribution, driven by Selenium.

Fixtures for every browser test:

- ``chromium_driver``: a fresh headless Chromium (``selenium.webdriver.Chrome``) per test,
  1280x900, with the browser console log readable through ``driver.get_log("browser")``;
  it quits after the test. Chromium and its driver come from the system
  (``apt-get install chromium chromium-driver``, as ``.ci/run`` does); Selenium never downloads
  one. Override the binaries with ``$RLHF_EDU_CHROMIUM`` and ``$RLHF_EDU_CHROMEDRIVER``.
- ``screenshot_dir``: the folder for screenshots, ``$RLHF_EDU_SCREENSHOTS`` or a temporary one;
  ``helpers.browser.save_screenshot(driver, folder, name)`` writes one there, prints its path.
- ``built_site`` and ``served_site`` (from ``helpers.site_build``): the course website, built
  once per run and served on a free port.

Without Chromium, its driver or Selenium, the browser tests are skipped with the reason, except
where ``$RLHF_EDU_REQUIRE_BROWSER=1`` (CI sets it): there they fail, so a CI image that lost the
browser cannot pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.browser import find_chromium, missing_browser
from helpers.site_build import built_site, served_site  # noqa: F401 (fixtures, used by name)


@pytest.fixture
def chromium_driver() -> Iterator:
    """A headless Chromium driven by Selenium, console log enabled; quit after the test."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ModuleNotFoundError:
        missing_browser("selenium is not installed (pip install -e '.[dev]')")
    browser, driver_path = find_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",  # containers have a small /dev/shm
        "--disable-gpu",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$RLHF_EDU_SCREENSHOTS`` if set, else a temporary folder."""
    folder = os.environ.get("RLHF_EDU_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
