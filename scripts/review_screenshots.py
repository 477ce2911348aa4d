"""Screenshots of each review page for docs/review.md (Playwright + Debian's Chromium), on the sample run
with a few reviewers' decisions. Not part of the repo's tests: run by hand, from the project root, with
Debian's Chromium installed (see ../shared/BROWSER-TESTING.md): python scripts/review_screenshots.py"""
import io, os, re, subprocess, sys, tempfile, time, urllib.request, shutil
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from PIL import Image
from playwright.sync_api import sync_playwright, expect
from curate.outputs import write_outputs
from curate.pipeline import run_curate
from schemas.config import CurateConfig
from review_app import queue
from review_app.decisions import Action, decide
from review_app.importer import import_run
from review_app.store import connect, get_row

DOCS = ROOT / "docs"
tmp = Path(tempfile.mkdtemp(prefix="sieve-shots-"))
write_outputs(run_curate([ROOT / "examples" / "alpaca_sample.jsonl"], CurateConfig()), tmp / "run")
db = tmp / "review.sqlite"
con = connect(db)
import_run(con, tmp / "run", 0.3)
# A small team's morning: single decisions spread over time, a bulk action, overlaps for agreement.
rows = queue.list_rows(con, queue.Filters(verdicts=("review", "keep")), limit=120)
t0 = time.time() - 3 * 3600
for k, who in enumerate(["ada", "bob", "eve"]):
    for j, r in enumerate(rows[k * 30:(k + 1) * 30]):
        r = get_row(con, r["id"])
        kind = "reject" if (j + k) % 4 == 0 else "accept"
        try:
            decide(con, Action(r["id"], r["version"], f"s-{who}", who, kind, reason="low quality"))
        except Exception:
            decide(con, Action(r["id"], r["version"], f"s-{who}", who, "reject", reason="wrong or misleading answer"))
for i, r in enumerate(rows[:30]):  # bob second-reviews ada's rows: disagrees on every third
    r = get_row(con, r["id"])
    ada_rejected = r["status"] == "rejected" or con.execute(
        "SELECT 1 FROM decisions WHERE row_id = ? AND reviewer = 'ada' AND action = 'reject'", (r["id"],)).fetchone()
    kind = ("accept" if ada_rejected else "reject") if i % 3 == 0 else ("reject" if ada_rejected else "accept")
    try:
        decide(con, Action(r["id"], r["version"], "s-bob", "bob", kind, reason="duplicate"))
    except Exception:
        pass
for k, who in enumerate(["ada", "bob", "eve"]):  # spread their decision times: 20-90 s apart, one lunch break
    seqs = [s for (s,) in con.execute("SELECT seq FROM decisions WHERE reviewer = ? ORDER BY seq", (who,))]
    t = t0 + k * 600
    for i, s in enumerate(seqs):
        t += 20 + (i * 37 + k * 11) % 70 + (3600 if i == 15 else 0)
        con.execute("UPDATE decisions SET at = ? WHERE seq = ?", (t, s))
con.close()
port = 8613
proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "review_app" / "app.py"), "--server.headless", "true",
  "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
  env={**os.environ, "SIEVE_REVIEW_DB": str(db)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
url = f"http://127.0.0.1:{port}"
for _ in range(120):
    try:
        if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok": break
    except OSError: time.sleep(0.5)

def idle(page):
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=30000)
    time.sleep(1.0)

def save(page, name, full=False):
    png = page.screenshot(full_page=full)
    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    img.save(DOCS / f"review-{name}.png", optimize=True)
    print(name, (DOCS / f"review-{name}.png").stat().st_size // 1024, "KB")

try:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"))
        page = b.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.get_by_label("Reviewer name").fill("ada"); page.get_by_label("Reviewer name").press("Enter")
        expect(page.get_by_text(re.compile(r"^row \d+ of "))).to_be_visible(timeout=30000)
        idle(page); save(page, "queue")
        side = page.locator('[data-testid="stSidebar"]')
        for name in ("Disputes", "Table", "Progress", "Stats"):
            side.get_by_text(name, exact=True).click()
            idle(page)
            if name == "Table":
                grid = page.locator('[data-testid="stDataFrame"]').first
                for i in (0, 1, 3):
                    box = grid.bounding_box()
                    page.mouse.click(box["x"] + 34, box["y"] + 35 * (i + 1) + 17); idle(page)
                page.set_viewport_size({"width": 1280, "height": 1180})
                page.get_by_role("button", name="Accept 3 picked rows").click(); idle(page)
                page.mouse.move(5, 5); idle(page)
                save(page, name.lower())
                page.set_viewport_size({"width": 1280, "height": 800})
                continue
            save(page, name.lower())
        side.get_by_text("Queue", exact=True).click(); idle(page)
        page.mouse.click(1250, 780); page.keyboard.press("h"); idle(page); save(page, "keys")
        b.close()
finally:
    proc.terminate()
