"""The review store's large-run machinery on a few thousand real rows: the column-wise import against the
per-row definitions it replaces (messages, content hash), chunks, re-import and a grown run, the
full-text index (found by words, user text never FTS syntax, kept in step by fixes, undos, carry-over
and migration). Speed is measured in bench/review_bench.py --scale, never asserted here."""

import json
import re
import shutil
import unicodedata

import polars as pl
import pytest

from curate.outputs import write_outputs
from curate.pipeline import run_curate
from review_app import queue, search
from review_app.decisions import Action, decide, undo_last
from review_app.import_rows import CHUNK, messages_json, store_rows
from review_app.importer import import_run
from review_app.migrations import LATEST, content_hash
from review_app.store import connect, get_row, shown_messages
from schemas.config import CurateConfig
from tests.conftest import ALPACA, write_jsonl
from tests.test_review_store import first_release_store, run_dir  # noqa: F401 - shared fixture

N = 3_000
HOSTILE = ['"', '""', "AND", "OR", "NOT", "*", "-", "^", "(", ")", "NEAR(", "a:b", "imported:water", "water AND",
           '"water', 'water" OR "fire', "-water", "water*", "+", "{imported fixed}: water", "\\", "'", "%", "_", "​"]
ALL = queue.Filters(verdicts=(), statuses=())


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run3k")
    with open(ALPACA, encoding="utf-8") as fh:
        rows = [json.loads(next(fh)) for _ in range(N)]
    src = write_jsonl(out / "alpaca_3k.jsonl", rows)
    write_outputs(run_curate([src], CurateConfig()), out / "run")
    return out / "run"


@pytest.fixture
def con(big_run, tmp_path):
    c = connect(tmp_path / "review.sqlite")
    import_run(c, big_run)
    return c


def tokens(text: str) -> list[str]:
    """Words as the index's unicode61 tokenizer cuts them (letters and digits; case and accents folded)."""
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(ch))
    return re.findall(r"[^\W_]+", bare)


def holds(text: str, query: str) -> bool:
    """Reference for a search through the index: the query's words in order, the last one a prefix when
    the query ends in a letter or digit."""
    want, have = tokens(query), tokens(text)
    prefix = query[-1:].isalnum()
    for i in range(len(have) - len(want) + 1):
        head, last = have[i:i + len(want)], want[-1]
        if head[:-1] == want[:-1] and (head[-1].startswith(last) if prefix else head[-1] == last):
            return True
    return False


def texts(c) -> dict[str, str]:
    rows = c.execute("SELECT id, messages, fixed_messages FROM rows").fetchall()
    return {r[0]: "\n".join(m["content"] or "" for m in json.loads(r[1]) + json.loads(r[2] or "[]")) for r in rows}


def found(c, text: str) -> set[str]:
    return {r["id"] for r in queue.list_rows(c, queue.Filters(verdicts=(), statuses=(), search=text), limit=N)}


def test_import_stores_what_the_per_row_definitions_give(big_run, con):
    frame = pl.read_parquet(big_run / "annotated.parquet")
    assert con.execute("SELECT COUNT(*) FROM rows").fetchone()[0] == frame.height == N
    assert dict(con.execute("SELECT verdict, COUNT(*) FROM rows GROUP BY verdict").fetchall()) == \
        dict(frame["verdict"].value_counts().iter_rows())
    stored = {r["id"]: r for r in con.execute("SELECT id, messages, content_hash, reasons, source FROM rows")}
    for row in frame.select("id", "messages", "reasons", "source_line").iter_rows(named=True):
        s = stored[row["id"]]
        assert json.loads(s["messages"]) == row["messages"]
        assert s["content_hash"] == content_hash(row["messages"])
        assert s["reasons"].split("\x1f") == (row["reasons"] or [""])
        assert s["source"] == f"alpaca_3k.jsonl:{row['source_line']}"


def test_chunks_change_nothing(big_run):
    man = json.loads((big_run / "manifest.json").read_text())
    whole = [r for chunk in store_rows(big_run, man, 0.5, chunk=CHUNK) for r in chunk]
    small = list(store_rows(big_run, man, 0.5, chunk=701))
    assert len(small) == -(-N // 701) and [r for chunk in small for r in chunk] == whole


@pytest.mark.parametrize("content", [
    'quote " backslash \\ slash / tab \t newline \n return \r', "".join(chr(i) for i in range(0x20)) + "\x7f",
    "accents é ü, CJK 光合作用, emoji 🙂, line sep \u2028 para \u2029, nbsp \xa0", "", None])
def test_messages_json_is_what_json_dumps_writes(content):
    msgs = [{"role": "user", "content": content}, {"role": "assistant", "content": "ok"}]
    frame = pl.DataFrame({"m": [msgs]}, schema={"m": pl.List(pl.Struct({"role": pl.String, "content": pl.String}))})
    shown, canon = frame.select(messages_json(pl.col("m"), ("role", "content")),
                                messages_json(pl.col("m"), ("content", "role")).alias("c")).row(0)
    assert shown == json.dumps(msgs, ensure_ascii=False)
    assert canon == json.dumps(msgs, ensure_ascii=False, sort_keys=True)  # content_hash's text, byte for byte


def test_reimport_is_idempotent_and_keeps_decisions(big_run, con):
    rows = queue.list_rows(con, queue.Filters(), limit=2)
    decide(con, Action(rows[0]["id"], rows[0]["version"], "s-ada", "ada", "accept"))
    decide(con, Action(rows[1]["id"], rows[1]["version"], "s-ada", "ada", "reject", reason="low quality"))
    before = found(con, "water")
    again = import_run(con, big_run)
    assert (again.added, again.kept) == (0, N)
    assert [get_row(con, r["id"])["status"] for r in rows] == ["accepted", "rejected"]
    assert found(con, "water") == before  # no row indexed twice, none lost


def test_a_grown_run_adds_only_its_new_rows_and_indexes_them(big_run, tmp_path):
    part = tmp_path / "part"
    shutil.copytree(big_run, part)
    pl.read_parquet(big_run / "annotated.parquet").head(2_000).write_parquet(part / "annotated.parquet")
    c = connect(tmp_path / "grown.sqlite")
    import_run(c, part)  # the same run id: the first 2,000 rows of it
    first = queue.list_rows(c, ALL, limit=1)[0]
    decide(c, Action(first["id"], first["version"], "s-ada", "ada", "reject", reason="low quality"))
    res = import_run(c, big_run)
    assert (res.added, res.kept) == (N - 2_000, 2_000)
    assert get_row(c, first["id"])["status"] == "rejected"
    assert found(c, "water") == {i for i, t in texts(c).items() if holds(t, "water")}


def test_a_first_import_beside_an_open_reader_stays_in_wal_mode(big_run, tmp_path):
    db = tmp_path / "shared.sqlite"
    reader = connect(db)  # the app, open on the empty store: the import cannot leave WAL mode
    res = import_run(connect(db), big_run)
    assert res.added == N == reader.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert found(reader, "water") == {i for i, t in texts(reader).items() if holds(t, "water")}


@pytest.mark.parametrize("query", ["water", "Water", "photosynth", "machine learning", "learning machine",
                                   "the", "C++", "3.5", "café"])
def test_search_finds_rows_by_their_words(con, query):
    want = {i for i, t in texts(con).items() if holds(t, query)}
    assert search.uses_index(query)
    assert found(con, query) == want
    assert queue.count(con, queue.Filters(verdicts=(), statuses=(), search=query)) == len(want)


def test_words_in_order_and_accents_folded(con):
    assert found(con, "machine learning") != found(con, "learning machine")
    assert found(con, "cafe") == found(con, "café")


@pytest.mark.parametrize("text", HOSTILE)
def test_user_text_is_never_fts_syntax(con, text):
    got = found(con, text)  # never an FTS5 syntax error
    shown = texts(con)
    if search.uses_index(text):
        assert got == {i for i, t in shown.items() if holds(t, text)}
    else:  # punctuation alone: a substring of the text, quotes included
        assert got == {i for i, t in shown.items() if text.lower() in t.lower()}, text
    queue.claim_next(con, "s-ada", "ada", queue.Filters(search=text), 90.0)  # the queue's own query, too


def fix(c, row: dict, answer: str) -> dict:
    msgs = [{"role": "user", "content": shown_messages(row)[0]["content"]}, {"role": "assistant", "content": answer}]
    return decide(c, Action(row["id"], row["version"], "s-ada", "ada", "fix", fixed=msgs))


def test_a_fix_and_its_undo_update_the_index(con):
    row = queue.list_rows(con, queue.Filters(), limit=1)[0]
    assert found(con, "zorbulent") == set()
    row = fix(con, row, "A zorbulent answer.")
    assert found(con, "zorbulent") == {row["id"]}
    row = fix(con, row, "A quixotical answer.")  # the first fix's words leave the index
    assert (found(con, "zorbulent"), found(con, "quixotical")) == (set(), {row["id"]})
    undo_last(con, "s-ada", "ada")
    assert (found(con, "zorbulent"), found(con, "quixotical")) == ({row["id"]}, set())
    con.execute("INSERT INTO rows_fts(rows_fts, rank) VALUES ('integrity-check', 0)")  # raises when out of step


def test_text_in_a_script_without_spaces_is_searched_as_a_substring(con):
    row = queue.list_rows(con, queue.Filters(), limit=1)[0]
    row = fix(con, row, "光合作用是植物利用光能的过程。")
    assert not search.uses_index("光合作用")
    assert found(con, "光合作用") == {row["id"]}


def test_carry_over_leaves_no_stale_index_entry(big_run, tmp_path):
    second = tmp_path / "second"
    shutil.copytree(big_run, second)
    man = json.loads((second / "manifest.json").read_text())
    man["run_id"] = "another"
    (second / "manifest.json").write_text(json.dumps(man))
    c = connect(tmp_path / "carry.sqlite")
    import_run(c, big_run)
    row = fix(c, queue.list_rows(c, queue.Filters(), limit=1)[0], "A zorbulent answer.")
    res = import_run(c, second, carry_over=True)
    assert res.carried == 1 and res.retired == N
    assert found(c, "zorbulent") == {row["id"]}  # the carried fix, on the new row
    assert found(c, "water") == {i for i, t in texts(c).items() if holds(t, "water")}


def test_an_older_store_gets_the_index_and_the_queue_index(run_dir, tmp_path):  # noqa: F811
    ids = first_release_store(tmp_path / "old.sqlite", run_dir)
    c = connect(tmp_path / "old.sqlite")
    assert c.execute("PRAGMA user_version").fetchone()[0] == LATEST
    word = tokens(get_row(c, ids[2])["messages"][-1]["content"])[-1]
    assert ids[2] in found(c, word)
    names = {r[0] for r in c.execute("SELECT name FROM sqlite_master")}
    assert {"rows_fts", "rows_next", "rows_fts_insert", "rows_fts_update"} <= names and "rows_queue" not in names


@pytest.mark.parametrize("flt", [queue.Filters(), queue.Filters(reason="format.truncated"), queue.Filters(lang="de"),
                                 queue.Filters(script="Han", quality_max=0.5)])
def test_the_next_row_is_found_from_the_queue_index_alone(con, flt):
    where, args = flt.where()
    plan = " ".join(r[3] for r in con.execute(
        f"EXPLAIN QUERY PLAN SELECT id FROM rows WHERE {where} AND (lease_owner IS NULL OR lease_until < 0) "
        "ORDER BY quality, row_idx LIMIT 1", args))
    assert "COVERING INDEX rows_next" in plan, plan

