"""The workspace pages as a coordinator uses them: a real `matcher serve` driven by headless Chromium (Selenium).

Adds a partner through the intake form and sees it suggested for the school
whose need it meets, without a restart; edits a school's needs and sees its
list change; sends a form with several bad fields and sees every problem at
once, next to its field, with what was typed kept; records statuses with
notes, filters the outreach log from the address and exports its CSV. Each
view is checked with axe-core at 1366 and 390 px wide (no serious or
critical violation) and the browser console stays free of errors.

Needs Debian's chromium and chromium-driver, selenium and axe-selenium-python;
skipped with the reason otherwise.

Environment:
``MATCHER_SHOTS=DIR``
    Also save a screenshot of every view at 1366x900 and 390x844 into DIR
    (``NAME-1366.png``, ``NAME-390.png``, and ``-full`` ones of the whole page).
"""
from __future__ import annotations

import csv
import io
import os
import time
import urllib.error
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'matcher[web]')")
pytest.importorskip("uvicorn", reason="the web extra is not installed (pip install 'matcher[web]')")
pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")
pytest.importorskip("axe_selenium_python", reason="axe-selenium-python is not installed")

from browser import MARKS, chromium, get, get_json, serious_violations, serving  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

WIDTHS = {1366: 900, 390: 844}

pytestmark = MARKS

# A pantry next to S1 (40.00, -75.00) offering just what S1 asks for.
PANTRY = {
    "partner_id": "P100",
    "name": "Payday Pantry",
    "offerings": "Groceries for families who run out before payday, and breakfast for children who come to school hungry.",
    "grades": "K-5",
    "latitude": "40.001",
    "longitude": "-75.001",
    "service_radius_km": "10",
}


@pytest.fixture(scope="module")
def server(model_file, tmp_path_factory):
    """`matcher serve` on a free loopback port with its own workspace; yields the base url and the process."""
    tmp = tmp_path_factory.mktemp("workspace-web")
    with serving(model_file, tmp / "outreach.db", tmp / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with chromium(1366, 900, "--hide-scrollbars") as driver:
        yield driver


def viewport(driver, width: int) -> None:
    """Make the page ``width`` CSS pixels wide (a phone's meta viewport rules at 390)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": WIDTHS[width], "deviceScaleFactor": 1, "mobile": width < 600})


def console_errors(driver) -> list[str]:
    """Errors in the browser console, except the API's refusals the forms show (the browser logs each 4xx)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and "the server responded with a status of 4" not in e["message"]]


def check_view(driver, name: str) -> None:
    """axe at both widths (and screenshots when MATCHER_SHOTS is set); back at 1366 after."""
    shots = os.environ.get("MATCHER_SHOTS")
    for width in WIDTHS:
        viewport(driver, width)
        time.sleep(0.05)
        if shots:
            driver.execute_script("window.scrollTo(0, 0)")
            Path(shots).mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(Path(shots) / f"{name}-{width}.png"))
            full = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": {
                "x": 0, "y": 0, "width": width, "scale": 1,
                "height": driver.execute_script("return document.documentElement.scrollHeight")}})
            import base64

            (Path(shots) / f"{name}-{width}-full.png").write_bytes(base64.b64decode(full["data"]))
        assert serious_violations(driver) == [], (name, width)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways at {width} px"
    viewport(driver, 1366)


def fill(driver, values: dict[str, str]) -> None:
    for name, value in values.items():
        box = driver.find_element(By.ID, f"f-{name}")
        if box.tag_name == "select":
            Select(box).select_by_value(value)
        else:
            box.clear()
            box.send_keys(value)


def school_list(driver) -> str:
    return driver.find_element(By.ID, "results").text


# --------------------------------------------------------------------------- the partner intake form


def test_intake_form_adds_a_partner_that_is_suggested_at_once(server, browser):
    base, proc = server
    wait = WebDriverWait(browser, 15)
    before = [r["partner_id"] for r in get_json(base + "/api/schools/S1/recommendations")]
    assert "P100" not in before
    browser.get(base + "/partners/new")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=f-name]").text.startswith("Name")
    check_view(browser, "partner-form")
    fill(browser, {**PANTRY, "partner_type": "nonprofit"})
    browser.find_element(By.CSS_SELECTOR, "#entity-form button[type=submit]").click()
    saved = wait.until(EC.visibility_of_element_located((By.ID, "saved")))
    assert "P100" in saved.text and "/partners/edit" in browser.current_url
    check_view(browser, "partner-saved")
    saved.find_element(By.LINK_TEXT, "See the schools this partner could serve").click()
    wait.until(EC.presence_of_element_located((By.ID, "results-heading")))
    assert "partner=P100" in browser.current_url
    first = get_json(base + "/api/partners/P100/recommendations")[0]
    assert first["school_id"] == "S1"  # the school whose need it meets, first
    assert "S1" in school_list(browser)
    now = [r["partner_id"] for r in get_json(base + "/api/schools/S1/recommendations")]
    assert now[0] == "P100", now  # and S1 sees it first, from the same running server
    browser.get(base + "/?school=S1")
    wait.until(EC.presence_of_element_located((By.ID, "results-heading")))
    assert "P100" in school_list(browser)
    assert proc.poll() is None  # never restarted
    assert console_errors(browser) == []


def test_several_bad_fields_show_every_error_at_once_and_keep_what_was_typed(server, browser):
    base, _ = server
    wait = WebDriverWait(browser, 15)
    browser.get(base + "/partners/new")
    typed = {"partner_id": "P200", "offerings": "Robot building kits", "grades": "K-13", "latitude": "95",
             "capacity": "-2", "service_radius_km": "far"}
    fill(browser, typed)  # and no name, and a latitude without its longitude
    browser.find_element(By.CSS_SELECTOR, "details.group > summary").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=offering_categories][value=science_engineering]").click()
    browser.find_element(By.CSS_SELECTOR, "#entity-form button[type=submit]").click()
    summary = wait.until(EC.visibility_of_element_located((By.ID, "error-summary")))
    bad = {"name", "grades", "latitude", "longitude", "capacity", "service_radius_km"}
    assert len(summary.find_elements(By.CSS_SELECTOR, "li")) == len(bad), summary.text
    assert browser.switch_to.active_element == summary  # focus moves to the list of problems
    for name in bad:
        box = browser.find_element(By.ID, f"f-{name}")
        error = browser.find_element(By.ID, f"f-{name}-error")
        assert error.text, name
        assert box.get_attribute("aria-invalid") == "true", name
        assert f"f-{name}-error" in box.get_attribute("aria-describedby").split(), name
    assert "longitude" in browser.find_element(By.ID, "f-longitude-error").text
    for name, value in typed.items():  # nothing lost
        assert browser.find_element(By.ID, f"f-{name}").get_attribute("value") == value, name
    assert browser.find_element(By.CSS_SELECTOR, "input[name=offering_categories][value=science_engineering]").is_selected()
    with pytest.raises(urllib.error.HTTPError):
        get(base + "/api/partners/P200")  # nothing saved
    check_view(browser, "partner-errors")

    # A summary link takes the keyboard to its field.
    summary.find_element(By.CSS_SELECTOR, "a[href='#f-grades']").click()
    assert browser.switch_to.active_element.get_attribute("id") == "f-grades"

    # Fixed, it saves; the problems go away.
    fill(browser, {"name": "Robot Club", "grades": "6-12", "latitude": "40.01", "longitude": "-75.01",
                   "capacity": "2", "service_radius_km": "15"})
    browser.find_element(By.CSS_SELECTOR, "#entity-form button[type=submit]").click()
    wait.until(EC.visibility_of_element_located((By.ID, "saved")))
    assert get_json(base + "/api/partners/P200")["name"] == "Robot Club"
    assert console_errors(browser) == []


def test_a_taken_id_is_an_error_on_the_id(server, browser):
    base, _ = server
    browser.get(base + "/partners/new")
    fill(browser, {"partner_id": "P1", "name": "Copy", "offerings": "Anything"})
    browser.find_element(By.CSS_SELECTOR, "#entity-form button[type=submit]").click()
    WebDriverWait(browser, 15).until(EC.visibility_of_element_located((By.ID, "error-summary")))
    assert "exists already" in browser.find_element(By.ID, "f-partner_id-error").text


def test_without_javascript_the_server_answers_the_same_way(server, browser):
    base, _ = server
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.get(base + "/partners/new")
        fill(browser, {"partner_id": "P300", "offerings": "Chess club", "latitude": "40", "capacity": "many"})
        submit(browser, "#entity-form")  # a real post: the page comes back from the server
        assert "3 problems to fix" in browser.find_element(By.ID, "error-summary").text
        assert {n for n in ("name", "longitude", "capacity") if browser.find_element(By.ID, f"f-{n}-error").text} == {
            "name", "longitude", "capacity"}
        assert browser.find_element(By.ID, "f-capacity").get_attribute("value") == "many"
        assert browser.find_element(By.ID, "f-offerings").get_attribute("value") == "Chess club"
        fill(browser, {"name": "Chess Club", "longitude": "-75", "capacity": "3"})
        submit(browser, "#entity-form")
        assert "P300 was added" in browser.find_element(By.ID, "saved").text
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    assert get_json(base + "/api/partners/P300")["capacity"] == 3


# --------------------------------------------------------------------------- the school needs form


def test_editing_a_schools_needs_changes_its_list(server, browser):
    base, _ = server
    wait = WebDriverWait(browser, 15)
    before = [r["partner_id"] for r in get_json(base + "/api/schools/S5/recommendations")]
    assert before[0] == "P5"  # classroom coaching
    browser.get(base + "/schools/edit")
    check_view(browser, "school-pick")
    pick = browser.find_element(By.ID, "pick")
    pick.send_keys("Maple")
    pick.submit()  # the only school whose name has it
    needs = wait.until(EC.visibility_of_element_located((By.ID, "f-needs")))
    assert "classroom management" in needs.get_attribute("value")
    assert browser.find_element(By.ID, "f-school_id").get_attribute("readonly") is not None
    check_view(browser, "school-form")
    needs.clear()
    needs.send_keys("Students want hands-on science field trips to a museum.")
    browser.find_element(By.CSS_SELECTOR, "#entity-form button[type=submit]").click()
    saved = wait.until(EC.visibility_of_element_located((By.ID, "saved")))
    saved.find_element(By.LINK_TEXT, "See this school's suggestions").click()
    wait.until(EC.presence_of_element_located((By.ID, "results-heading")))
    assert "school=S5" in browser.current_url
    after = [r["partner_id"] for r in get_json(base + "/api/schools/S5/recommendations")]
    assert after[0] == "P4" and after != before  # the museum now
    assert school_list(browser).index("P4") < school_list(browser).index("P5")
    assert console_errors(browser) == []


def test_add_a_school_form(server, browser):
    base, _ = server
    browser.get(base + "/schools/new")
    assert browser.find_element(By.ID, "f-school_id").get_attribute("readonly") is None
    check_view(browser, "school-new")


# --------------------------------------------------------------------------- the outreach log


def open_record_form(browser) -> None:
    details = browser.find_element(By.ID, "record")
    if details.get_attribute("open") is None:
        details.find_element(By.TAG_NAME, "summary").click()


def record(browser, school: str, partner: str, status: str, note: str) -> None:
    open_record_form(browser)
    for name, value in (("school_id", school), ("partner_id", partner), ("note", note)):
        box = browser.find_element(By.ID, f"r-{name}")
        box.clear()
        box.send_keys(value)
    Select(browser.find_element(By.ID, "r-status")).select_by_value(status)
    submit(browser, "#record-form")
    WebDriverWait(browser, 15).until(EC.visibility_of_element_located((By.ID, "flash")))


def submit(browser, form: str) -> None:
    """Send a form whose success loads another page, and wait until it has."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]").click()
    WebDriverWait(browser, 15).until(EC.staleness_of(page))


def test_outreach_log_record_filter_and_export(server, browser):
    base, _ = server
    wait = WebDriverWait(browser, 15)
    browser.get(base + "/outreach")
    record(browser, "S1", "P1", "contacted", "Called Ana; call back on Friday")
    assert "Recorded “Contacted”" in browser.find_element(By.ID, "flash").text
    record(browser, "S2", "P2", "shortlisted", "")
    record(browser, "S2", "P2", "declined", "=no room this term")  # a note a spreadsheet would run as a formula
    pairs = browser.find_elements(By.CSS_SELECTOR, "ol.pairs > li.pair")
    assert [(p.get_attribute("data-school"), p.get_attribute("data-partner")) for p in pairs] == [("S2", "P2"), ("S1", "P1")]
    history = pairs[0].find_elements(By.CSS_SELECTOR, ".event")
    assert ["Declined" in history[0].text, "Shortlisted" in history[1].text] == [True, True]  # newest first
    assert "by local" in history[0].text and "=no room this term" in history[0].text
    check_view(browser, "outreach")

    # A blank status and an unknown school: both said at once, next to their fields, the rest kept.
    open_record_form(browser)
    record_form = browser.find_element(By.ID, "record-form")
    for name, value in (("school_id", ""), ("partner_id", "P1"), ("note", "keep me")):
        box = browser.find_element(By.ID, f"r-{name}")
        box.clear()
        box.send_keys(value)
    Select(browser.find_element(By.ID, "r-status")).select_by_value("")
    record_form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(EC.visibility_of_element_located((By.ID, "record-summary")))
    assert browser.find_element(By.ID, "r-school_id-error").text and browser.find_element(By.ID, "r-status-error").text
    assert browser.find_element(By.ID, "r-note").get_attribute("value") == "keep me"
    check_view(browser, "outreach-errors")

    # Filter by status: the address holds the filter, so the view can be bookmarked.
    browser.find_element(By.CSS_SELECTOR, ".chips").find_element(By.PARTIAL_LINK_TEXT, "Contacted").click()
    wait.until(EC.url_contains("status=contacted"))
    shown = [p.get_attribute("data-school") for p in browser.find_elements(By.CSS_SELECTOR, "ol.pairs > li.pair")]
    assert shown == ["S1"]
    bookmark = browser.current_url
    browser.get(base + "/outreach")
    browser.get(bookmark)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "ol.pairs > li.pair, .error, .empty")))
    pairs = [p.get_attribute("data-school") for p in browser.find_elements(By.CSS_SELECTOR, "ol.pairs > li.pair")]
    assert pairs == ["S1"], browser.find_element(By.TAG_NAME, "main").text[:500]
    assert browser.find_element(By.CSS_SELECTOR, ".chips a[aria-current=true]").text.startswith("Contacted")

    # By school (part of a name): the status filter stays, the address holds both.
    box = browser.find_element(By.ID, "o-school")
    box.send_keys("oak")
    submit(browser, "form.filters")
    assert "status=contacted" in browser.current_url and "school=oak" in browser.current_url
    assert [p.get_attribute("data-school") for p in browser.find_elements(By.CSS_SELECTOR, "ol.pairs > li.pair")] == ["S1"]
    browser.get(base + "/outreach?school=pine")
    assert [p.get_attribute("data-school") for p in browser.find_elements(By.CSS_SELECTOR, "ol.pairs > li.pair")] == ["S2"]

    # The CSV of the filtered log: one row per event, the pair's status, the note safe for a spreadsheet.
    link = browser.find_element(By.ID, "csv-link").get_attribute("href")
    assert link.startswith(base + "/api/outreach.csv?") and "school=pine" in link
    rows = list(csv.DictReader(io.StringIO(get(link).decode("utf-8"))))
    assert [(r["school_id"], r["partner_id"], r["status"], r["pair_status"]) for r in rows] == [
        ("S2", "P2", "shortlisted", "declined"), ("S2", "P2", "declined", "declined")]
    assert rows[1]["note"] == "'=no room this term" and rows[1]["user"] == "local"
    assert rows[1]["school_name"] == "Pine Middle School"
    everything = list(csv.DictReader(io.StringIO(get(base + "/api/outreach.csv").decode("utf-8"))))
    assert len(everything) == 3 and everything[0]["note"] == "Called Ana; call back on Friday"
    assert console_errors(browser) == []


def test_record_the_next_step_of_a_pair_from_its_card(server, browser):
    base, _ = server
    browser.get(base + "/outreach?status=contacted")
    card = browser.find_element(By.CSS_SELECTOR, "ol.pairs > li.pair")
    card.find_element(By.PARTIAL_LINK_TEXT, "Record the next step").click()
    WebDriverWait(browser, 15).until(EC.visibility_of_element_located((By.ID, "r-status")))
    assert browser.find_element(By.ID, "r-school_id").get_attribute("value") == "S1"
    assert browser.find_element(By.ID, "r-partner_id").get_attribute("value") == "P1"
    Select(browser.find_element(By.ID, "r-status")).select_by_value("partnered")
    browser.find_element(By.ID, "r-note").send_keys("Signed for the spring term")
    submit(browser, "#record-form")
    WebDriverWait(browser, 15).until(EC.visibility_of_element_located((By.ID, "flash")))
    assert "status=contacted" in browser.current_url  # the filters stay
    assert browser.find_elements(By.CSS_SELECTOR, "ol.pairs > li.pair") == []  # no longer "contacted"
    assert "Recorded “Partnered”" in browser.find_element(By.ID, "flash").text
    events = get_json(base + "/api/schools/S1/partners/P1/status")
    assert [e["status"] for e in events] == ["contacted", "partnered"]


# --------------------------------------------------------------------------- roles


def test_a_viewer_sees_the_forms_read_only_and_why(model_file, tmp_path, browser):
    from matcher.accounts import Accounts

    db = tmp_path / "outreach.db"
    token = Accounts(db).add("vi", "viewer")
    with serving(model_file, db, tmp_path / "server.log") as (base, _):
        try:
            browser.get(f"{base}/partners/new?token={token}")  # the session cookie; the token leaves the address
            assert "token" not in browser.current_url
            note = browser.find_element(By.ID, "role-note")
            assert "vi (viewer)" in note.text and "cannot add a partner" in note.text
            assert browser.find_elements(By.ID, "entity-form") == []
            browser.get(base + "/schools/edit?school=S1")
            assert "read-only" in browser.find_element(By.ID, "role-note").text
            assert not browser.find_element(By.ID, "f-needs").is_enabled()
            assert "hungry" in browser.find_element(By.ID, "f-needs").get_attribute("value")
            assert browser.find_elements(By.CSS_SELECTOR, "#entity-form button[type=submit]") == []
            check_view(browser, "school-viewer")
            browser.get(base + "/outreach")
            assert "viewers can read the log" in browser.find_element(By.ID, "record-note").text.lower()
            assert browser.find_elements(By.ID, "record-form") == []
            assert console_errors(browser) == []
        finally:
            browser.delete_all_cookies()
