"""Open a generated HTML page in headless Chromium and check that every image on it really loads.

``assert_page_images_load(html_path)`` is reusable on any page (training ``web/index.html`` or a test
results page). It needs selenium plus Debian's ``chromium`` and ``chromium-driver`` packages; use
``browser_available()`` to skip where they are missing. Nothing is fetched from the network: the page is
opened from disk and Chromium runs with background networking, updates and sync turned off.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

CHROMIUM = os.environ.get("VID2VID_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("VID2VID_CHROMEDRIVER", "/usr/bin/chromedriver")

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files",
)

# Returns [src, complete, naturalWidth, naturalHeight] for every <img> once the page has loaded.
_IMAGES_JS = """
return Array.from(document.images).map(
    im => [im.getAttribute('src'), im.complete, im.naturalWidth, im.naturalHeight]);
"""


def browser_available() -> Optional[str]:
    """None when selenium, Chromium and chromedriver are all present, else the reason they are not."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} not found (apt-get install {package})"
    return None


def _start_driver(profile_dir: str, timeout: float):
    """A headless Chromium WebDriver with a fresh profile in ``profile_dir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    # An explicit driver path keeps Selenium Manager from looking for (and downloading) a driver.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(timeout)
    return driver


class OpenPage:
    """A page open in headless Chromium at a given window size (a context manager yielding the driver).

    Args:
        html_path: The page file.
        width: Window width in pixels.
        height: Window height in pixels.
        timeout: Seconds to wait for the page to load.
    """

    def __init__(self, html_path: str | os.PathLike, width: int = 1400, height: int = 900,
                 timeout: float = 60.0) -> None:
        self.url = Path(html_path).resolve().as_uri()
        self.size, self.timeout = (width, height), timeout
        self.profile_dir = tempfile.mkdtemp(prefix="vid2vid_chromium_")
        self.driver = None

    def __enter__(self):
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = _start_driver(self.profile_dir, self.timeout)
        self.driver.set_window_size(*self.size)
        self.driver.get(self.url)
        WebDriverWait(self.driver, self.timeout).until(
            lambda d: d.execute_script("return document.readyState") == "complete")
        self.driver.set_script_timeout(self.timeout)
        return self.driver

    def __exit__(self, *exc_info) -> None:
        if self.driver is not None:
            self.driver.quit()
        shutil.rmtree(self.profile_dir, ignore_errors=True)


def horizontal_overflow(driver) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrolling)."""
    return int(driver.execute_script(
        "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth"))


# Plays the video for about a second; returns [readyState, currentTime, error code or 0, videoWidth].
_PLAY_JS = """
var video = arguments[0], done = arguments[arguments.length - 1];
video.muted = true;
video.play().then(function () {
  setTimeout(function () { done([video.readyState, video.currentTime, 0, video.videoWidth]); }, 1200);
}).catch(function (err) { done([video.readyState, video.currentTime, video.error ? video.error.code : -1, 0]); });
"""


def play_video(driver, video) -> tuple[int, float, int, int]:
    """Play ``video`` (a WebElement) muted for a second: ``(readyState, currentTime, error code, videoWidth)``."""
    return tuple(driver.execute_async_script(_PLAY_JS, video))


def screenshot(html_path: str | os.PathLike, png_path: str | os.PathLike, width: int = 1400, height: int = 900,
               full_page: bool = True) -> str:
    """Save a PNG of the page as headless Chromium shows it (``full_page``: the whole height, up to 8000 px)."""
    with OpenPage(html_path, width, height) as driver:
        import time

        driver.execute_script("document.querySelectorAll('img').forEach(function (i) { i.loading = 'eager'; });")
        time.sleep(1.0)
        if full_page:
            total = int(driver.execute_script("return document.documentElement.scrollHeight"))
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": min(max(total, height), 8000), "deviceScaleFactor": 1, "mobile": False})
            time.sleep(0.5)
        driver.save_screenshot(str(png_path))
    return str(png_path)


def page_images(html_path: str | os.PathLike, timeout: float = 60.0) -> list[tuple[str, bool, int, int]]:
    """Load ``html_path`` in headless Chromium; return ``(src, complete, naturalWidth, naturalHeight)`` per image."""
    url = Path(html_path).resolve().as_uri()
    profile_dir = tempfile.mkdtemp(prefix="vid2vid_chromium_")
    driver = None
    try:
        driver = _start_driver(profile_dir, timeout)
        driver.get(url)
        driver.implicitly_wait(0)
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.readyState") == "complete")
        return [tuple(row) for row in driver.execute_script(_IMAGES_JS)]
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile_dir, ignore_errors=True)


def assert_page_images_load(html_path: str | os.PathLike, min_images: int = 1, timeout: float = 60.0) -> int:
    """Assert that the page shows at least ``min_images`` images and that every one of them decoded.

    Returns:
        The number of images on the page.

    Raises:
        AssertionError: listing the images that did not load (``naturalWidth == 0``).
    """
    images = page_images(html_path, timeout=timeout)
    assert len(images) >= min_images, f"{html_path}: expected at least {min_images} images, found {len(images)}"
    broken = [src for src, complete, width, _ in images if not complete or width <= 0]
    assert not broken, f"{html_path}: {len(broken)} of {len(images)} images did not load: {broken[:10]}"
    return len(images)
