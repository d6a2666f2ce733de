"""A real headless Chromium for browser tests: Debian's chromium and chromium-driver, via Selenium.

Nothing here downloads a browser or a driver: both must be installed (``.ci/run`` installs them;
by hand: ``apt-get install chromium chromium-driver``). Without them the browser tests are
skipped, unless HASHGATE_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from PIL import Image, ImageChops, ImageFilter
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

T = TypeVar("T")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


def chromium(profile: Path) -> webdriver.Chrome:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        message = "needs Debian's chromium and chromium-driver (apt-get install them)"
        if os.environ.get("HASHGATE_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def wait_for(
    driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], T], within: float = 30
) -> T:
    """Until ``condition`` is truthy; a timeout says where the browser was and what it showed."""
    try:
        return WebDriverWait(driver, within, poll_frequency=0.1).until(condition)
    except TimeoutException:
        text = driver.find_element(By.TAG_NAME, "body").text[:500]
        raise AssertionError(
            f"browser condition not met within {within}s at {driver.current_url}: {text!r}"
        ) from None


def shown_image(element: WebElement) -> Image.Image:
    """What the browser displays in ``element``, as pixels."""
    return Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")


def strongest_edge(image: Image.Image) -> int:
    """0-255: a sharp image has edges near 255, a heavily blurred one none above a few dozen."""
    edges = image.convert("L").filter(ImageFilter.FIND_EDGES)
    width, height = edges.size
    return int(edges.crop((4, 4, width - 4, height - 4)).getextrema()[1])


def is_grayscale(image: Image.Image, tolerance: int = 3) -> bool:
    red, green, blue = image.split()
    spreads = (ImageChops.difference(red, green), ImageChops.difference(green, blue))
    return all(int(spread.getextrema()[1]) <= tolerance for spread in spreads)
