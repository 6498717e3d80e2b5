"""Helpers of the browser tests (their fixtures are in ``tests/browser/conftest.py``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def missing_browser(reason: str) -> None:
    """Skip, or fail where the environment requires the browser tests to run."""
    if os.environ.get("RLHF_EDU_REQUIRE_BROWSER") == "1":
        pytest.fail(f"RLHF_EDU_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason} (set RLHF_EDU_REQUIRE_BROWSER=1 to make this a failure)")


def find_chromium() -> tuple[str, str]:
    """Paths of the Chromium binary and of chromedriver; skip (or fail in CI) if either is absent."""
    browser = os.environ.get("RLHF_EDU_CHROMIUM") or next(
        (path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None
    )
    driver = os.environ.get("RLHF_EDU_CHROMEDRIVER") or shutil.which("chromedriver")
    if not browser:
        missing_browser("no Chromium found (apt-get install chromium)")
    if not driver:
        missing_browser("no chromedriver found (apt-get install chromium-driver)")
    return browser, driver


def save_screenshot(driver, folder: Path, name: str) -> Path:
    """Save the browser's viewport as ``folder/name`` (a PNG) and print the path."""
    path = Path(folder) / name
    assert driver.save_screenshot(str(path)), f"could not save the screenshot {path}"
    print(f"screenshot: {path}")
    return path
