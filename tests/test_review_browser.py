"""A real browser (Debian's Chromium driven by Playwright) against the running review app: sign in,
accept one row, fix another, reject a third; the store then holds all three decisions. Saves a
screenshot for the README."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from review_app.store import connect, history, import_run
from tests.conftest import ROOT
from tests.test_review_store import run_dir  # noqa: F401 - the shared curate-run fixture

CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium (scripts/test.sh installs it)")]
SHOT = ROOT / "docs" / "review-app.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(run_dir, tmp_path_factory):  # noqa: F811
    db = tmp_path_factory.mktemp("browser") / "review.sqlite"
    import_run(connect(db), run_dir)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "review_app" / "app.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        env={**os.environ, "SIEVE_REVIEW_DB": str(db)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        assert proc.poll() is None, "streamlit exited"
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    yield url, db
    proc.terminate()
    proc.wait(10)


def test_accept_and_fix_in_a_real_browser(served):
    from playwright.sync_api import expect, sync_playwright

    url, db = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_label("Reviewer name").fill("Ada")
        page.get_by_label("Reviewer name").press("Enter")
        page.get_by_role("button", name="Accept").click()
        expect(page.get_by_text("accepted by Ada")).to_be_visible(timeout=30_000)
        box = page.get_by_label("output")
        for _ in range(5):  # the expander re-renders with the next row; open it once it has settled
            page.get_by_text("Fix in place").click()
            try:
                expect(box).to_be_visible(timeout=3_000)
                break
            except AssertionError:
                continue
        box.fill("A corrected answer, written by a person.")
        page.get_by_role("button", name="Save fix").click()
        expect(page.get_by_text("fixed by Ada")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Reject").click()  # with the default picked reason
        expect(page.get_by_text("rejected by Ada")).to_be_visible(timeout=30_000)
        SHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOT), full_page=False)
        browser.close()
    con = connect(db)
    rows = con.execute("SELECT row_id, action, reviewer FROM decisions ORDER BY seq").fetchall()
    assert [(r["action"], r["reviewer"]) for r in rows] == [("accept", "Ada"), ("fix", "Ada"), ("reject", "Ada")]
    fix = history(con, rows[1]["row_id"])[0]
    assert "A corrected answer, written by a person." in fix["after"]
