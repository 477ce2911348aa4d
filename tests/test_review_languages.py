"""Languages and scripts in review: the scripts of literal texts, a real small run of Chinese and
English Alpaca rows (with real rows in Japanese, Korean and with a Greek letter) filtered by script in
the queue and in the app, scripts filled in for a store made before they were kept, and the run's
language mix on the Progress page."""

import json
import sqlite3
import unicodedata

import pytest
from streamlit.testing.v1 import AppTest

from curate.outputs import write_outputs
from curate.pipeline import run_curate
from review_app import queue
from review_app.importer import import_run
from review_app.languages import SCRIPT_BITS, SCRIPTS, language_mix_lines, masks, script_names
from review_app.migrations import LATEST, MIGRATIONS
from review_app.store import connect
from schemas.config import CurateConfig
from tests.conftest import ALPACA, ZH
from tests.test_review_app import APP, button

ZH_FILE = "alpaca_data-0-3252-中文-已完成.json"
# Real alpaca_52k lines: plain English, a Greek "π" in a formula (29), a Japanese answer (3165), a
# Korean phrase in the prompt (44087).
EN_LINES = [1, 2, 3, 4, 5, 6, 29, 3165, 44087]
ALL = queue.Filters(verdicts=())


def oracle(text: str) -> set[str]:
    """The scripts of ``text`` by Unicode character names: an independent check of the regexes."""
    found = set()
    for ch in text:
        if not unicodedata.category(ch).startswith("L"):
            continue
        name = unicodedata.name(ch, "")
        for prefix, script in (("LATIN", "Latin"), ("CJK UNIFIED", "Han"), ("CJK COMPATIBILITY IDEOGRAPH", "Han"),
                               ("HIRAGANA", "Kana"), ("KATAKANA", "Kana"), ("HALFWIDTH KATAKANA", "Kana"),
                               ("HANGUL", "Hangul"), ("CYRILLIC", "Cyrillic"), ("ARABIC", "Arabic")):
            if name.startswith(prefix):
                found.add(script)
                break
        else:
            found.add("Other")
    return found


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """A curate run of 12 Chinese rows and 9 English ones, each file in its own folder."""
    root = tmp_path_factory.mktemp("mixed")
    (root / "in" / "zh").mkdir(parents=True)
    (root / "in" / "en").mkdir()
    rows = json.loads((ZH / ZH_FILE).read_text(encoding="utf-8"))[:12]
    (root / "in" / "zh" / ZH_FILE).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = ALPACA.read_text(encoding="utf-8").splitlines()
    (root / "in" / "en" / ALPACA.name).write_text("".join(lines[n - 1] + "\n" for n in EN_LINES), encoding="utf-8")
    run = root / "run"
    write_outputs(run_curate([root / "in" / "zh", root / "in" / "en"], CurateConfig()), run)
    return run


@pytest.fixture
def mixed(mixed_run, tmp_path):
    c = connect(tmp_path / "review.sqlite")
    import_run(c, mixed_run)
    return c


def stored_scripts(con) -> dict[str, set[str]]:
    """Each row's stored scripts, and what the oracle finds in its messages, keyed by row source."""
    out = {}
    for r in con.execute("SELECT source, scripts, messages FROM rows"):
        text = "\n".join(m["content"] for m in json.loads(r["messages"]))
        out[r["source"]] = (set(script_names(r["scripts"])), oracle(text))
    return out


def test_scripts_of_literal_texts():
    texts = {"café au lait": {"Latin"}, "中文": {"Han"}, "東京は日本の首都です": {"Han", "Kana"},
             "カタカナ": {"Kana"}, "서울": {"Hangul"}, "Привет, мир": {"Cyrillic"}, "مرحبا بالعالم": {"Arabic"},
             "שלום": {"Other"}, "A = πr²": {"Latin", "Other"}, "12 + 3 = 15。！": set(), "": set()}
    assert [set(script_names(m)) for m in masks(list(texts))] == list(texts.values())
    assert list(SCRIPTS) == ["Latin", "Han", "Kana", "Hangul", "Cyrillic", "Arabic", "Other"]  # stored bit order


def test_each_row_stores_the_scripts_of_its_prompt_and_response(mixed):
    rows = stored_scripts(mixed)
    assert len(rows) == 21
    assert all(got == want for got, want in rows.values()), {k: v for k, v in rows.items() if v[0] != v[1]}
    assert rows[f"en/{ALPACA.name}:8"][0] == {"Latin", "Han", "Kana"}  # line 3165, a Japanese answer
    assert rows[f"en/{ALPACA.name}:9"][0] == {"Latin", "Hangul"}  # line 44087
    assert rows[f"en/{ALPACA.name}:7"][0] == {"Latin", "Other"}  # line 29: "π"
    assert all("Han" in got for src, (got, _) in rows.items() if src.startswith("zh/"))


def test_the_script_filter_selects_and_leases_only_matching_rows(mixed):
    rows = stored_scripts(mixed)
    for script in SCRIPTS:
        want = {src for src, (got, _) in rows.items() if script in got}
        flt = queue.Filters(verdicts=(), script=script)
        assert {r["source"] for r in queue.list_rows(mixed, flt, limit=100)} == want, script
        assert queue.count(mixed, flt) == len(want)
    assert queue.count(mixed, queue.Filters(verdicts=(), script="Cyrillic")) == 0
    han = queue.Filters(verdicts=(), script="Han")
    leased = []
    while (row := queue.claim_next(mixed, f"s-{len(leased)}", "ada", han, 60.0)) is not None:
        leased.append(row["source"])  # each claim in a new session: the previous one keeps its lease
    assert sorted(leased) == sorted(src for src, (got, _) in rows.items() if "Han" in got)
    with pytest.raises(ValueError, match="not one of Latin, Han"):
        queue.Filters(script="Greek")


def test_a_store_made_before_scripts_were_kept_gets_them(mixed_run, tmp_path):
    # A store as the previous release left it: schema version 3, the run's rows imported without scripts.
    old = sqlite3.connect(tmp_path / "v3.sqlite", isolation_level=None)
    for number, migration in enumerate(MIGRATIONS[:3], 1):
        migration(old)
        old.execute(f"PRAGMA user_version = {number}")
    new = connect(tmp_path / "current.sqlite")
    import_run(new, mixed_run)
    cols = [r[1] for r in old.execute("PRAGMA table_info(rows)")]
    old.executemany(f"INSERT INTO rows ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    new.execute(f"SELECT {', '.join(cols)} FROM rows").fetchall())
    old.close()
    migrated = connect(tmp_path / "v3.sqlite")
    assert migrated.execute("PRAGMA user_version").fetchone()[0] == LATEST
    rows = stored_scripts(migrated)
    assert len(rows) == 21 and all(got == want for got, want in rows.values())
    assert queue.count(migrated, queue.Filters(verdicts=(), script="Hangul")) == 1


def test_the_language_mix_names_files_relative_and_marks_the_expected(mixed_run):
    man = json.loads((mixed_run / "manifest.json").read_text(encoding="utf-8"))
    lines = language_mix_lines(man)
    assert lines[0].startswith(f"en/{ALPACA.name}: en* ") and lines[1].startswith(f"zh/{ZH_FILE}: zh* ")
    for line, (file, shares) in zip(lines, man["languages"].items()):  # as the run recorded them, marked
        for lang, share in shares.items():
            mark = "*" if lang in man["expected_languages"][file] else ""
            assert f" {lang}{mark} {share:.1%}" in f" {line}", (line, lang)
    assert "at least 10%" in lines[2]
    assert not any(str(mixed_run.parent) in line for line in lines)
    pinned = {**man, "config": {"signals": {"languages": ["zh"]}}, "expected_languages":
              {f: ["zh"] for f in man["languages"]}}
    assert "zh* 0.0%" in language_mix_lines(pinned)[0] and "pinned" in language_mix_lines(pinned)[2]
    assert "no language mix" in language_mix_lines({"inputs": []})[0]


@pytest.fixture
def mixed_db(mixed_run, tmp_path, monkeypatch):
    path = tmp_path / "review.sqlite"
    import_run(connect(path), mixed_run)
    monkeypatch.setenv("SIEVE_REVIEW_DB", str(path))
    monkeypatch.delenv("SIEVE_REVIEW_PASSWORD", raising=False)
    monkeypatch.delenv("SIEVE_REVIEW_CONFIG", raising=False)
    from streamlit import config as st_config

    st_config.set_option("server.address", "127.0.0.1")
    return path


def test_the_app_filters_by_script_and_shows_the_language_mix(mixed_db):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="signin_name").input("Linus")
    button(at, "Sign in").click().run()
    at.multiselect(key="f_verdict").set_value(["review", "keep", "drop"]).run()
    at.selectbox(key="f_script").select("Kana").run()
    assert not at.exception
    assert any(t.value.startswith("row 1 of 1 in this queue · en/") for t in at.text)
    assert any("彼女は優秀な教師です。" in t.value for t in at.text)
    at.selectbox(key="f_script").select("Han").run()
    con = connect(mixed_db)
    han = {r[0] for r in con.execute("SELECT id FROM rows WHERE scripts & ?", (SCRIPT_BITS["Han"],))}
    seen = []
    while at.session_state["row_id"] is not None and len(seen) <= len(han):
        seen.append(at.session_state["row_id"])
        assert any("scripts Latin, Han" in t.value or "scripts Han" in t.value for t in at.text)
        button(at, "Accept").click().run()
    assert len(seen) == len(han) == 13 and set(seen) == han  # 12 Chinese rows and the Japanese answer
    assert any(s.value == "Nothing left in this queue." for s in at.success)
    at.sidebar.radio(key="page").set_value("Progress").run()
    assert not at.exception
    (mix,) = [t.value for t in at.text if f"zh/{ZH_FILE}: zh* " in t.value]
    assert f"en/{ALPACA.name}: en* " in mix
    assert str(mixed_db.parent.parent) not in mix
