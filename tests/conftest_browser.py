"""Helpers for tests that need Chromium: find it (skip locally, fail in CI), a live app server, a WebDriver."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
INSTALL = "install it with `apt-get install -y chromium chromium-driver` or `bash scripts/install_chromium.sh`"
BROWSER_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1400,1000")


def _which(names) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


def require(what: str, names) -> str:
    """Path of a Chromium binary; without one, fail under CI=true (never skip silently there), else skip."""
    found = _which(names)
    if found:
        return found
    msg = f"{what} not found; {INSTALL}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg)
    pytest.skip(msg)


def require_chromium() -> str:
    """The Chromium kaleido and the browser tests use."""
    return require("Chromium", CHROMIUM)


class LiveServer:
    """A Dash app served from a thread on 127.0.0.1 and a free port."""

    def __init__(self, dash_app):
        import logging

        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request buries test failures
        self._server = make_server("127.0.0.1", 0, dash_app.server, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.shutdown()
        self._thread.join(timeout=10)


def make_driver():
    """Headless Chromium driven by selenium directly, console logs captured."""
    binary = require_chromium()
    driver_path = require("chromedriver", CHROMEDRIVER)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in BROWSER_ARGS:
        opts.add_argument(arg)
    opts.binary_location = binary
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(driver_path))
