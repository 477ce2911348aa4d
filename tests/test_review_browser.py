"""A real browser (Debian's Chromium driven by Playwright) against the running review app: one reviewer
accepts, fixes and rejects; then the races of issue 9 with two reviewers (two browser contexts, so two
sessions): a lapsed lease, one name in two tabs, both fixing one row, Skip, and Undo of a fix. The
store is checked after every step: conflict shown, nothing lost, nothing misplaced. Saves a
screenshot for the README. A reloaded or closed tab frees its row at once. A bulk action on rows ticked in
the Table page, one of them changed meanwhile, and its undo."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from review_app.importer import import_run
from review_app.store import connect, get_row, history
from tests.conftest import ROOT
from tests.test_review_store import run_dir  # noqa: F401 - the shared curate-run fixture

CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium (scripts/test.sh installs it)")]
SHOT = ROOT / "docs" / "review-app.png"
WAIT = 30_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(run_dir, tmp, config: str):
    db = tmp / "review.sqlite"
    import_run(connect(db), run_dir)
    (tmp / "review.toml").write_text(config)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "review_app" / "app.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        env={**os.environ, "SIEVE_REVIEW_DB": str(db), "SIEVE_REVIEW_CONFIG": str(tmp / "review.toml")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        assert proc.poll() is None, "streamlit exited"
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    return proc, url, db


@pytest.fixture(scope="module")
def served(run_dir, tmp_path_factory):  # noqa: F811
    # A long heartbeat, so that a lease the test lets lapse (by the clock in the store) is not renewed
    # behind its back: the same as a laptop that slept past its lease.
    proc, url, db = _serve(run_dir, tmp_path_factory.mktemp("browser"), "lease_seconds = 600\nheartbeat_seconds = 300\n")
    yield url, db
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


def open_as(browser, url: str, name: str):
    """A new browser context (its own Streamlit session), signed in as ``name``."""
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url)
    sign_in(page, name)
    expect(page.get_by_text(re.compile(r"^row \d+ of "))).to_be_visible(timeout=WAIT)
    return page


def sign_in(page, name: str) -> None:
    """Type the name and press Enter (which submits the sign-in form) once the page's first run has
    finished: a key pressed while a script run is still going is lost (seen after a reload)."""
    page.get_by_label("Reviewer name").wait_for(timeout=WAIT)  # the run that draws the form has started
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=WAIT)
    page.get_by_label("Reviewer name").fill(name)
    page.get_by_label("Reviewer name").press("Enter")


def shown(page, con) -> dict:
    """The row on the page's screen, looked up in the store by the source named in its title."""
    from playwright.sync_api import expect

    title = page.get_by_text(re.compile(r"^row \d+ of "))
    expect(title).to_be_visible(timeout=WAIT)
    source = title.inner_text().rsplit(" · ", 1)[1].strip()
    (row_id,) = con.execute("SELECT id FROM rows WHERE source = ?", (source,)).fetchone()
    return get_row(con, row_id)


def see(page, text: str) -> None:
    """Wait for ``text``, then for the rerun that shows it to finish (a click on a half-drawn page may
    hit a button of the previous row: Streamlit drops it, which is safe but would stall the test)."""
    from playwright.sync_api import expect

    expect(page.get_by_text(text).first).to_be_visible(timeout=WAIT)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=WAIT)


def open_fix(page):
    """Open the fix form (a rerun: it shows the row as the store has it now); return its output box."""
    from playwright.sync_api import expect

    box = page.get_by_label("output")
    for _ in range(5):  # the expander re-renders with each row; open it once it has settled
        if not box.is_visible():
            page.get_by_text("Fix in place").click()
        try:
            expect(box).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            continue
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=WAIT)
    return box


def fill_fix(page, text: str, save: bool = True) -> None:
    from playwright.sync_api import expect

    open_fix(page).fill(text)
    page.get_by_role("button", name="Preview fix").click()  # the diff first, then the save
    if not save:
        return
    save = page.get_by_role("button", name="Save fix")
    expect(save).to_be_visible(timeout=WAIT)
    save.click()


def decisions(con):
    return [(r["action"], r["reviewer"], r["undone"]) for r in con.execute("SELECT * FROM decisions ORDER BY seq")]


def test_one_reviewer_accepts_fixes_rejects(served, browser):
    url, db = served
    con = connect(db)
    page = open_as(browser, url, "Ada")
    row = shown(page, con)
    page.get_by_role("button", name="Accept").click()
    see(page, "accepted by Ada")
    assert get_row(con, row["id"])["status"] == "accepted"
    row = shown(page, con)
    fill_fix(page, "A corrected answer, written by a person.")
    see(page, "fixed by Ada")
    assert get_row(con, row["id"])["fixed_messages"][-1]["content"] == "A corrected answer, written by a person."
    row = shown(page, con)
    page.get_by_role("button", name="Reject").click()  # with the default picked reason
    see(page, "rejected by Ada")
    assert get_row(con, row["id"])["status"] == "rejected"
    SHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOT), full_page=False)
    assert str(ROOT) not in page.content()  # no absolute path of this machine on screen
    page.context.close()


def focus(page, locator, tabs: int = 80) -> None:
    """Tab through the page until ``locator`` has the focus, as a reviewer without a mouse would."""
    for _ in range(tabs):
        if locator.evaluate("e => e === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError("Tab never reached the element")


def idle(page) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=WAIT)


def press_until(page, key: str, shows, tries: int = 3) -> None:
    """Press ``key`` until ``shows`` is visible: a key that lands while the page is still mounting the
    rerun's widgets can be lost (only for keys that are harmless to press twice)."""
    from playwright.sync_api import expect

    for _ in range(tries):
        idle(page)
        page.keyboard.press(key)
        try:
            expect(shows).to_be_visible(timeout=5_000)
            return
        except AssertionError:
            continue
    expect(shows).to_be_visible(timeout=WAIT)


def test_a_keyboard_only_pass_on_real_rows(served, browser):
    """No mouse from sign-in on: ? for the keys, 2 to reject with the second reason, f to open the fix,
    Tab into the answer, Ctrl+Enter to preview its diff, Ctrl+S to save it."""
    from playwright.sync_api import expect

    url, db = served
    con = connect(db)
    page = open_as(browser, url, "Kim")
    row = shown(page, con)
    page.wait_for_function("() => window.sieveHelpKey === true", timeout=WAIT)  # the ? listener is in
    press_until(page, "?", page.get_by_text("reject: low quality"))
    page.keyboard.press("Escape")
    expect(page.get_by_text("reject: low quality")).to_be_hidden(timeout=WAIT)
    idle(page)
    page.keyboard.press("2")
    see(page, "rejected by Kim")
    assert [(d["action"], d["reason"]) for d in history(con, row["id"])] == [("reject", "low quality")]
    row = shown(page, con)
    idle(page)
    box = page.get_by_label("output")
    press_until(page, "f", box)
    focus(page, box)
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("An answer typed without a mouse.")
    page.keyboard.press("Control+Enter")  # submits the fix form: the preview
    see(page, "Your fix, before it is saved")
    expect(page.get_by_text("+An answer typed without a mouse.")).to_be_visible(timeout=WAIT)
    assert history(con, row["id"]) == []
    page.keyboard.press("Control+S")
    see(page, "fixed by Kim")
    assert get_row(con, row["id"])["fixed_messages"][-1]["content"] == "An answer typed without a mouse."
    page.context.close()


def test_races_between_two_reviewers(served, browser):
    from playwright.sync_api import expect

    url, db = served
    con = connect(db)
    n0 = len(decisions(con))

    # One name in two tabs: two sessions, two different rows; each Accept lands on its own row.
    tab1, tab2 = open_as(browser, url, "Ada"), open_as(browser, url, "Ada")
    r1, r2 = shown(tab1, con), shown(tab2, con)
    assert r1["id"] != r2["id"]
    tab2.get_by_role("button", name="Accept").click()
    see(tab2, "accepted by Ada")
    assert get_row(con, r2["id"])["status"] == "accepted" and get_row(con, r1["id"])["status"] == "pending"
    tab2.context.close()

    # A lapsed lease: Bob gets Ada's row and rejects it; Ada's Accept on her old screen is a conflict
    # that shows Bob's change, writes nothing, and Redo applies hers on the version now shown.
    con.execute("UPDATE rows SET lease_until = 0 WHERE id = ?", (r1["id"],))
    bob = open_as(browser, url, "Bob")
    assert shown(bob, con)["id"] == r1["id"]
    bob.get_by_role("button", name="Reject").click()
    see(bob, "rejected by Bob")
    tab1.get_by_role("button", name="Accept").click()
    see(tab1, "Not saved: this row changed since your screen showed it.")
    see(tab1, "Their change: Bob reject")
    assert get_row(con, r1["id"])["status"] == "rejected"
    assert [d["reviewer"] for d in history(con, r1["id"])] == ["Bob"]
    tab1.get_by_role("button", name="Redo mine on the row as shown below").click()
    see(tab1, "accepted by Ada")
    assert [(d["reviewer"], d["action"]) for d in history(con, r1["id"])] == [("Bob", "reject"), ("Ada", "accept")]

    # Both fix one row: the second save is a conflict; Drop keeps Bob's text under Bob's name.
    r3, bobs = shown(tab1, con), shown(bob, con)
    open_fix(tab1)  # Ada opens the form first (a rerun: it shows the row as stored and renews her lease)
    bob.reload()  # a reload is a new session: sign in afresh; the old session's row is freed at once
    sign_in(bob, "Bob")
    assert shown(bob, con)["id"] == bobs["id"]
    # The sign-in's rerun must finish first: a key pressed while it runs (or while the name box still has
    # the focus) is lost, and the row would never be skipped.
    bob.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=WAIT)
    con.execute("UPDATE rows SET lease_until = 0 WHERE id = ?", (r3["id"],))  # Ada's lease lapses (after her rerun)
    for _ in range(3):  # past his own row, to the one whose lease lapsed (a key lost to a rerun is pressed again)
        bob.locator("body").press("n")
        try:
            expect(bob.get_by_text("skipped").first).to_be_visible(timeout=5_000)
            break
        except AssertionError:
            continue
    see(bob, "skipped")
    assert shown(bob, con)["id"] == r3["id"]
    fill_fix(bob, "Bob's answer.")
    see(bob, "fixed by Bob")
    fill_fix(tab1, "Ada's answer.", save=False)  # her preview of the old version is the conflict
    see(tab1, "Not saved: this row changed since your screen showed it.")
    tab1.get_by_role("button", name="Drop mine").click()
    see(tab1, "dropped your change")
    fixes = [d for d in history(con, r3["id"]) if d["action"] == "fix"]
    assert [d["reviewer"] for d in fixes] == ["Bob"] and "Bob's answer." in fixes[0]["after"]
    assert "Ada's answer." not in str(con.execute("SELECT group_concat(fixed_messages) FROM rows").fetchone()[0])

    # Skip (key N) shows a row not seen in this pass; Undo of a fix restores the row exactly, on screen.
    before = shown(tab1, con)
    tab1.locator("body").press("n")
    see(tab1, "skipped")
    after = shown(tab1, con)
    assert after["id"] != before["id"] and get_row(con, before["id"])["status"] == "pending"
    fill_fix(tab1, "A fix to take back.")
    see(tab1, "fixed by Ada")
    tab1.get_by_role("button", name="Undo last").click()
    see(tab1, "undid your last decision")
    assert shown(tab1, con)["id"] == after["id"]
    back = get_row(con, after["id"])
    assert (back["status"], back["fixed_messages"], back["fixed_metadata"]) == ("pending", None, None)
    tab1.get_by_role("button", name="Accept").click()
    see(tab1, "accepted by Ada")
    assert get_row(con, after["id"])["status"] == "accepted" and get_row(con, after["id"])["fixed_messages"] is None
    # Every entry in the store is one a screen showed, on the row it showed
    assert decisions(con)[n0:] == [("accept", "Ada", 0), ("reject", "Bob", 0), ("accept", "Ada", 0), ("fix", "Bob", 0),
                                   ("fix", "Ada", 1), ("undo", "Ada", 0), ("accept", "Ada", 0)]
    bob.context.close()
    tab1.context.close()


def test_a_reloaded_or_closed_tab_frees_its_row_at_once(served, browser):
    # Leases of 600 s here: only the app seeing the tab go can free the row within the test.
    url, db = served
    con = connect(db)
    ada = open_as(browser, url, "Ada")
    held = shown(ada, con)
    ada.reload()  # a reload is a new session that signs in afresh; the old one's row is freed at once
    sign_in(ada, "Ada")
    assert shown(ada, con)["id"] == held["id"]
    ada.context.close()  # a closed tab: the next reviewer gets its row straight away
    bob = open_as(browser, url, "Bob")
    assert shown(bob, con)["id"] == held["id"]
    assert get_row(con, held["id"])["lease_reviewer"] == "Bob"
    bob.context.close()


def test_an_open_row_keeps_its_lease_and_a_closed_tab_frees_it(run_dir, browser, tmp_path):  # noqa: F811
    proc, url, db = _serve(run_dir, tmp_path, "lease_seconds = 3\nheartbeat_seconds = 1\n")
    try:
        con = connect(db)
        ada = open_as(browser, url, "Ada")
        held = shown(ada, con)
        time.sleep(5)  # longer than the lease: only the heartbeat keeps it
        bob = open_as(browser, url, "Bob")
        assert shown(bob, con)["id"] != held["id"]
        ada.context.close()  # the tab goes: its row is freed at once (see the test below for a long lease)
        cy = open_as(browser, url, "Cy")
        assert shown(cy, con)["id"] == held["id"]
        bob.context.close()
        cy.context.close()
    finally:
        proc.terminate()
        proc.wait(10)


def tick(page, grid, row: int) -> None:
    """Tick the pick box of the grid's ``row`` (the grid is drawn on a canvas: click where the box is,
    below the header, in the first column), then wait for the rerun it starts."""
    box = grid.bounding_box()
    idle(page)
    page.mouse.click(box["x"] + 34, box["y"] + GRID_ROW * (row + 1) + GRID_ROW / 2)
    idle(page)


GRID_ROW = 35  # Streamlit's grid: header and rows 35 px high


def test_a_bulk_action_on_picked_rows_and_its_undo(run_dir, browser, tmp_path):  # noqa: F811
    """Tick three rows in the Table page; one of them changes meanwhile (another reviewer); Accept
    changes the other two, says one was left alone, and Undo this bulk action takes back exactly those."""
    from playwright.sync_api import expect

    from review_app import queue
    from review_app.decisions import Action, decide

    proc, url, db = _serve(run_dir, tmp_path, "")
    try:
        con = connect(db)
        page = open_as(browser, url, "Dee")
        page.locator('[data-testid="stSidebar"]').get_by_text("Table", exact=True).click()
        see(page, "Pick every row on this page")
        first3 = queue.list_rows(con, queue.Filters(), limit=3)
        grid = page.locator('[data-testid="stDataFrame"]').first
        for i in range(3):
            tick(page, grid, i)
            expect(page.get_by_role("button", name=f"Accept {i + 1} picked row")).to_be_visible(timeout=WAIT)
        theirs = first3[2]
        decide(con, Action(theirs["id"], theirs["version"], "s-other", "Olu", "reject", reason="duplicate"))
        page.get_by_role("button", name="Accept 3 picked rows").click()
        see(page, "accepted 2 of 3 rows; left alone: 1 changed since the table showed them (version conflict)")
        assert [get_row(con, r["id"])["status"] for r in first3] == ["accepted", "accepted", "rejected"]
        page.get_by_role("button", name="Undo this bulk action").click()
        see(page, "undid that bulk action: 2 rows as they were before it")
        see(page, "undone by Dee")
        assert [get_row(con, r["id"])["status"] for r in first3] == ["pending", "pending", "rejected"]
        assert [(d["reviewer"], d["action"], d["undone"]) for d in history(con, first3[0]["id"])] == [
            ("Dee", "accept", 1), ("Dee", "undo", 0)]
        page.context.close()
    finally:
        proc.terminate()
        proc.wait(10)
