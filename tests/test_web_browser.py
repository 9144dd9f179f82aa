"""The page as a coordinator uses it: a real `matcher serve` driven by headless Chromium (Selenium).

Picks a school with the search-as-you-type picker (keyboard only), checks the
partners shown are the CLI's in the CLI's order, records "do not contact" for
the first, reloads and sees it gone, asks the "why not" box about it, and
checks that /docs renders from the package's own files. The browser console
must stay free of errors (a blocked or failed load would show there).

Needs Debian's chromium and chromium-driver (``apt-get install -y chromium
chromium-driver``) and selenium; skipped with the reason otherwise.

Environment:
``MATCHER_WEB_TEST_MODEL``
    Serve this model instead of the tests' tiny one (e.g. models/matcher.joblib).
``MATCHER_SCREENSHOT=1``
    Also save the screenshot to docs/screenshot.png (the README's picture);
    by default it goes to the test's temporary folder only, so a test run
    never changes a tracked file.
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
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'matcher[web]')")
pytest.importorskip("uvicorn", reason="the web extra is not installed (pip install 'matcher[web]')")
pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")

from click.testing import CliRunner  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from matcher.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
        reason=f"needs chromium and chromedriver ({CHROMIUM}, {CHROMEDRIVER}): apt-get install -y chromium chromium-driver",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:  # loopback only
        return json.loads(r.read())


@pytest.fixture(scope="module")
def server(model_file, tmp_path_factory):
    """`matcher serve` in a subprocess on a free loopback port; yields (base url, model path, db path)."""
    model = Path(os.environ.get("MATCHER_WEB_TEST_MODEL") or model_file)
    tmp = tmp_path_factory.mktemp("web")
    db = tmp / "outreach.db"
    port = _free_port()
    if "serve" in main.commands:  # the real command, once the CLI has it
        cmd = [sys.executable, "-m", "matcher", "serve", "--model", str(model), "--db", str(db), "--port", str(port)]
    else:
        cmd = [sys.executable, "-c", "import sys; from matcher.web import serve; "
               "serve(sys.argv[1], sys.argv[2], '127.0.0.1', int(sys.argv[3]), None)", str(model), str(db), str(port)]
    env = {k: v for k, v in os.environ.items() if k != "MATCHER_TOKEN"}
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            _get_json(base + "/api/health")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.fail("the server did not start:\n" + (tmp / "server.log").read_text())
            time.sleep(0.1)
    yield base, model, db
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1200,1500", f"--user-data-dir={tempfile.mkdtemp(prefix='matcher-chromium-')}"]:
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    except WebDriverException as exc:
        pytest.skip(f"chromium could not start: {exc.msg}")
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def cli_ids(model: Path, db: Path, school: str) -> list[str]:
    result = CliRunner().invoke(main, ["recommend", "--model", str(model), "--db", str(db), "--school", school,
                                       "--format", "json"])
    assert result.exit_code == 0, result.output + result.stderr
    return [r["partner_id"] for r in json.loads(result.stdout)]


def shown_ids(driver) -> list[str]:
    # One script call, so a list being re-rendered is never read half old, half new.
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#matches > li.match'), li => li.dataset.id)")


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_pick_school_record_status_and_reload(server, browser, tmp_path):
    base, model, db = server
    wait = WebDriverWait(browser, 10)
    school = _get_json(base + "/api/schools?limit=1")[0]  # the first school by id
    browser.get(base + "/")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=school]").text.startswith("School")

    # Search as you type, pick with the keyboard.
    box = browser.find_element(By.ID, "school")
    typed = school["name"][:14]
    box.send_keys(typed)
    listbox = f'#school-options[data-query="{typed.strip()}"]:not([hidden])'  # the answer to the last keystroke
    option = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, listbox + " [role=option]")))
    assert option.get_attribute("data-school-id") == school["school_id"]
    box.send_keys(Keys.ARROW_DOWN)
    assert box.get_attribute("aria-activedescendant") == option.get_attribute("id")
    box.send_keys(Keys.ENTER)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#matches > li.match")))
    assert f"school={school['school_id']}" in browser.current_url
    expected = cli_ids(model, db, school["school_id"])
    assert shown_ids(browser) == expected  # the CLI's partners, in the CLI's order
    first = expected[0]

    # Record "do not contact" for the first partner: it leaves the list at once...
    browser.find_element(By.CSS_SELECTOR, f'#matches > li[data-id="{first}"] button[data-status="do_not_contact"]').click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "flash"), "Recorded"))
    wait.until(lambda d: first not in shown_ids(d))
    shot = tmp_path / "screenshot.png"
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("MATCHER_SCREENSHOT") == "1":
        shutil.copy(shot, ROOT / "docs" / "screenshot.png")

    # ...and stays gone after a reload, as the CLI agrees.
    browser.refresh()
    wait.until(EC.presence_of_element_located((By.ID, "results-heading")))
    after = shown_ids(browser)
    assert first not in after
    assert after == cli_ids(model, db, school["school_id"])

    # The "why not" box names the outreach state that keeps it out.
    why = browser.find_element(By.ID, "whynot")
    why.send_keys(first)
    why.send_keys(Keys.ENTER)
    verdict = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".verdict")))
    assert "Not suggested" in verdict.text and "do not contact" in verdict.text
    assert "do not contact" in browser.find_element(By.CSS_SELECTOR, "table.history").text
    assert console_errors(browser) == []


def test_need_list_and_its_csv(server, browser):
    base, model, db = server
    need = "tutoring and mentoring for students"
    browser.get(base + "/")
    browser.find_element(By.CSS_SELECTOR, "details:has(#need-form) > summary").send_keys(Keys.ENTER)  # keyboard
    box = WebDriverWait(browser, 5).until(EC.visibility_of_element_located((By.ID, "need")))
    box.send_keys(need)
    browser.find_element(By.CSS_SELECTOR, "#need-form button[type=submit]").click()
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "results-heading")))
    result = CliRunner().invoke(main, ["recommend", "--model", str(model), "--db", str(db), "--need", need,
                                       "--format", "csv"])
    assert result.exit_code == 0, result.output + result.stderr
    rows = [line.split(",")[1] for line in result.stdout.splitlines()[1:]]
    assert shown_ids(browser) == rows
    # The Download CSV button saves this text: the CLI's CSV, from the same writer.
    page_csv = browser.execute_script("return window.matcherPage.csvText()")
    assert page_csv == result.stdout
    assert console_errors(browser) == []


def test_docs_render_offline(server, browser):
    base, _, _ = server
    browser.get(base + "/docs")
    WebDriverWait(browser, 15).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    paths = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")]
    assert "/api/schools/{school_id}/recommendations" in paths
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(r.startswith(base) for r in resources), resources  # nothing from elsewhere
    assert console_errors(browser) == []
