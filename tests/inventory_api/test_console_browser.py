"""The web console in a real browser: Debian's chromium driven by Selenium (Debian's
chromium-driver, nothing downloaded) against a real ``apicensus serve`` on data from the real
analyzer. Sign in, browse every page, filter (search as you type), open an endpoint, acknowledge
a finding and a threat event, import a spec, sign out; a viewer is refused the admin page; forms without the CSRF
token are refused (httpx against the same server). A screenshot of each page is kept in the
test's tmp directory (its path is printed: ``pytest -s``)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inventory_api.conftest import SAMPLE_PCAPS, analyze, serving

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the dev extra installs it
    webdriver = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None or webdriver is None,
    reason="needs chromium, chromium-driver (apt-get install -y chromium chromium-driver; .ci/run does) "
    "and selenium (dev extra)",
)
DATA = Path(__file__).parent / "data"
PAGES = ("overview", "catalog", "findings", "actors", "pii", "specs", "changes", "settings")


@pytest.fixture(scope="module")
def served(pg_url: str, keys: dict[str, str]) -> Iterator[str]:
    analyze(pg_url, *SAMPLE_PCAPS)
    with serving(pg_url) as (base, _proc):
        yield base


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("console-screenshots")
    print(f"\nconsole screenshots: {path}")
    return path


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1366,1000", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    browser.set_page_load_timeout(20)
    try:
        yield browser
    finally:
        browser.quit()


def _sign_in(driver: Any, base: str, key: str) -> None:
    driver.get(f"{base}/ui/")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.ID, "signin").click()
    WebDriverWait(driver, 10).until(ec.url_contains("/ui/overview"))


def _shot(driver: Any, shots: Path, name: str) -> None:
    target = shots / f"{name}.png"
    assert driver.save_screenshot(str(target))
    assert target.stat().st_size > 5000, f"{name}: blank screenshot?"


def test_console_in_chromium(driver: Any, served: str, keys: dict[str, str], shots: Path) -> None:
    wait = WebDriverWait(driver, 10, ignored_exceptions=[StaleElementReferenceException])
    driver.get(f"{served}/ui/overview")  # anonymous: the sign-in form
    assert driver.current_url.endswith("/ui/") and driver.find_element(By.ID, "key").get_attribute("type") == "password"
    _shot(driver, shots, "00-signin")
    _sign_in(driver, served, keys["admin"])
    assert driver.get_cookie("apc_session")["httpOnly"] is True
    for i, name in enumerate(PAGES, start=1):
        driver.get(f"{served}/ui/{name}")
        assert driver.find_element(By.TAG_NAME, "h1").text, name
        assert "Internal Server Error" not in driver.page_source
        _shot(driver, shots, f"{i:02d}-{name}")
    # The overview's charts are painted (inline SVG with bars).
    driver.get(f"{served}/ui/overview")
    assert driver.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")

    # Search as you type: the results change without submitting the form.
    driver.get(f"{served}/ui/catalog")
    before = len(driver.find_elements(By.CSS_SELECTOR, "#catalog-table tbody tr"))
    driver.find_element(By.ID, "q").send_keys("invoice")

    def narrowed(d: Any) -> bool:
        paths = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#catalog-table td.path")]
        return bool(paths) and all("invoice" in p.lower() for p in paths) and len(paths) < before

    wait.until(narrowed)
    assert "q=invoice" in driver.current_url  # the address follows the filters
    _shot(driver, shots, "10-catalog-filtered")
    # The form works without JavaScript too: method filter submitted.
    driver.get(f"{served}/ui/catalog?method=GET&sort=-hits")
    methods = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "#catalog-table td.method")}
    assert methods == {"GET"}
    driver.find_element(By.CSS_SELECTOR, "#catalog-table td.path a").click()
    wait.until(ec.url_contains("/ui/endpoints/"))
    assert driver.find_element(By.ID, "verdicts") and driver.find_elements(By.CSS_SELECTOR, "svg.chart")
    _shot(driver, shots, "11-endpoint")

    # Acknowledge the first open finding.
    driver.get(f"{served}/ui/findings")
    row = driver.find_element(By.CSS_SELECTOR, "#queue tbody tr[data-finding]")
    finding = row.get_attribute("data-finding")
    assert "open" in row.find_element(By.CSS_SELECTOR, "td.state").text
    row.find_element(By.CSS_SELECTOR, "input[name=assignee]").send_keys("alice")
    row.find_element(By.CSS_SELECTOR, "button.set-state").click()  # the proposed next state: acknowledged
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.flash")))
    state = driver.find_element(By.CSS_SELECTOR, f'tr[data-finding="{finding}"] td.state').text
    assert state == "acknowledged"
    _shot(driver, shots, "12-finding-acknowledged")

    # Acknowledge a threat event (the detection engine's) with the same workflow, open its page.
    row = driver.find_element(By.CSS_SELECTOR, '#events tbody tr[data-finding^="event:"]')
    event = row.get_attribute("data-finding")
    assert "open" in row.find_element(By.CSS_SELECTOR, "td.state").text
    row.find_element(By.CSS_SELECTOR, "input[name=assignee]").send_keys("bob")
    row.find_element(By.CSS_SELECTOR, "input[name=comment]").send_keys("seen by the SOC")
    row.find_element(By.CSS_SELECTOR, "button.set-state").click()
    wait.until(ec.staleness_of(row))  # this page has a flash already (the finding's): wait for the next
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.flash")))
    row = driver.find_element(By.CSS_SELECTOR, f'#events tr[data-finding="{event}"]')
    assert row.find_element(By.CSS_SELECTOR, "td.state").text == "acknowledged" and "bob" in row.text
    row.find_element(By.CSS_SELECTOR, "td a").click()
    wait.until(ec.url_contains("/ui/events/"))
    assert driver.find_element(By.ID, "finding-state").text == "acknowledged"
    assert "seen by the SOC" in driver.find_element(By.ID, "history").text
    _shot(driver, shots, "12b-event-acknowledged")

    # Import a spec by upload, open its diff against traffic.
    driver.get(f"{served}/ui/specs")
    driver.find_element(By.ID, "spec-file").send_keys(str(DATA / "shop-1.yaml"))
    driver.find_element(By.ID, "import-spec").click()
    result = wait.until(ec.presence_of_element_located((By.ID, "import-result"))).text
    assert "Imported" in result and "matched to observed traffic" in result
    driver.find_elements(By.CSS_SELECTOR, "#specs td a")[-1].click()
    wait.until(ec.presence_of_element_located((By.ID, "spec-operations")))
    assert "/v1/orders" in driver.page_source
    _shot(driver, shots, "13-spec-diff")

    driver.find_element(By.ID, "signout").click()
    wait.until(ec.presence_of_element_located((By.ID, "key")))
    assert driver.get_cookie("apc_session") is None
    driver.get(f"{served}/ui/findings")
    assert driver.current_url.endswith("/ui/")  # signed out: back to the sign-in form

    # A viewer: reading works, the admin page is refused.
    _sign_in(driver, served, keys["viewer"])
    assert not driver.find_elements(By.CSS_SELECTOR, 'a[href="/ui/settings"]')
    driver.get(f"{served}/ui/settings")
    assert "Not allowed" in driver.find_element(By.TAG_NAME, "h1").text
    _shot(driver, shots, "14-viewer-refused")


def test_forms_without_csrf_token_are_refused(served: str, keys: dict[str, str]) -> None:
    with httpx.Client(base_url=served, follow_redirects=False, timeout=10) as client:
        form = client.get("/ui/")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        assert client.post("/ui/signin", data={"key": keys["admin"]}).status_code == 403
        assert client.post("/ui/signin", data={"csrf": token, "key": keys["admin"]}).status_code == 303
        assert client.get("/ui/settings").status_code == 200
        for path, data in (("/ui/settings/keys", {"role": "admin"}), ("/ui/findings/state", {"state": "resolved"}),
                           ("/ui/signout", {})):
            refused = client.post(path, data=data)
            assert refused.status_code == 403 and "CSRF" in refused.text, path
        assert client.get("/ui/overview").status_code == 200  # still signed in: sign-out was refused
    with httpx.Client(base_url=served, follow_redirects=False, timeout=10) as viewer:
        token = re.search(r'name="csrf" value="([^"]+)"', viewer.get("/ui/").text).group(1)  # type: ignore[union-attr]
        viewer.post("/ui/signin", data={"csrf": token, "key": keys["viewer"]})
        assert viewer.get("/ui/settings").status_code == 403
        assert viewer.get("/ui/overview").status_code == 200
