"""What the real-browser tests share: Chromium, a `matcher serve` subprocess, axe-core.

Not a test file: ``test_web_browser.py`` and ``test_web_workspace.py`` import it
after checking that selenium and the web extra are installed.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver") or "/usr/bin/chromedriver"

#: The marks of a browser test module: slow, and skipped with the reason when Chromium is missing.
MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
        reason=f"needs chromium and chromedriver ({CHROMIUM}, {CHROMEDRIVER}): apt-get install -y chromium chromium-driver",
    ),
]


def get(url: str) -> bytes:
    """The body of a GET (loopback only)."""
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def get_json(url: str):
    return json.loads(get(url))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(model: Path, db: Path, log_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`matcher serve` on a free loopback port; yields the base url and the process.

    Up once ``/api/health`` answers, a 401 included (a workspace with accounts asks for a token).
    """
    port = _free_port()
    cmd = [sys.executable, "-m", "matcher", "serve", "--model", str(model), "--db", str(db), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "MATCHER_TOKEN"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                get_json(base + "/api/health")
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail("the server did not start:\n" + log_path.read_text())
                time.sleep(0.1)
        try:
            yield base, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def chromium(width: int, height: int, *extra: str) -> Iterator[webdriver.Chrome]:
    """Headless Chromium (``--headless=new --no-sandbox``) with a fresh profile; skips when it cannot start."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--window-size={width},{height}", *extra,
                f"--user-data-dir={tempfile.mkdtemp(prefix='matcher-chromium-')}"]:
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    except WebDriverException as exc:
        pytest.skip(f"chromium could not start: {exc.msg}")
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def serious_violations(driver) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each.

    axe-core is the copy axe-selenium-python ships (3.1.1), or the script
    ``MATCHER_AXE_JS`` names (e.g. a newer ``axe.min.js``).
    """
    from axe_selenium_python import Axe
    from axe_selenium_python.axe import _DEFAULT_SCRIPT

    axe = Axe(driver, os.environ.get("MATCHER_AXE_JS") or _DEFAULT_SCRIPT)
    axe.inject()
    return [f"{v['id']} ({v['impact']}): {v['help']}: " + "; ".join(n["html"][:120] for n in v["nodes"][:3])
            for v in axe.run()["violations"] if v.get("impact") in ("serious", "critical")]
