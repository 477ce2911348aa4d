"""``sieve select`` (issue 11, part 3): every strategy on a real small run, budgets in rows and tokens,
the manifest, and the same seed giving the same selection."""

import json

import pytest

from curate.outputs import write_outputs
from curate.pipeline import run_curate
from curate.selection import Budget, SelectError, select, write_selection
from schemas.config import CurateConfig
from tests.conftest import ALPACA, write_jsonl
from tests.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """120 real Alpaca rows curated with model signals from a tiny model, and that model's tokenizer."""
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("sel")
    rows = [json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines()[:120]]
    tiny = build_tiny_model(root / "tiny", [r["instruction"] + r["output"] for r in rows])
    cfg = CurateConfig.model_validate({"model_signals": {"enabled": True, "model": str(tiny),
                                                         "cache_dir": str(root / "cache")}})
    write_outputs(run_curate([write_jsonl(root / "in.jsonl", rows)], cfg), root / "run")
    return root / "run", AutoTokenizer.from_pretrained(tiny)


def test_budget_parsing():
    assert Budget.parse("500") == Budget(rows=500) and Budget.parse("50k-tokens") == Budget(tokens=50_000)
    assert Budget.parse("2m tokens") == Budget(tokens=2_000_000)
    for bad in ("lots", "1.5", "0"):
        with pytest.raises(SelectError, match="--budget"):
            Budget.parse(bad)


@pytest.mark.parametrize("strategy", ["random", "quality", "ifd", "longest", "diverse", "deita"])
def test_every_strategy_respects_its_budget_and_is_reproducible(run, strategy):
    run_dir, tok = run
    sel = select(run_dir, strategy, Budget(rows=20), seed=3, tokenizer=tok, max_length=160)
    again = select(run_dir, strategy, Budget(rows=20), seed=3, tokenizer=tok, max_length=160)
    assert 0 < len(sel.rows) <= 20 and [r["id"] for r in sel.rows] == [r["id"] for r in again.rows]
    assert len({r["id"] for r in sel.rows}) == len(sel.rows)  # never the same row twice
    assert all(r["tokens"] <= 160 for r in sel.rows)  # training would drop longer rows
    kept = {json.loads(line)["sieve"]["id"] for line in (run_dir / "curated.jsonl").read_text().splitlines()}
    assert {r["id"] for r in sel.rows} <= kept  # only rows the run kept
    if strategy == "random":
        other = select(run_dir, strategy, Budget(rows=20), seed=4, tokenizer=tok)
        assert [r["id"] for r in other.rows] != [r["id"] for r in sel.rows]


def test_orders_follow_their_scores(run):
    import polars as pl

    run_dir, tok = run
    ann = pl.read_parquet(run_dir / "annotated.parquet").select("id", "quality", "ifd", "response_chars")
    score = {r["id"]: r for r in ann.iter_rows(named=True)}
    q = [score[r["id"]]["quality"] for r in select(run_dir, "quality", Budget(rows=30), tokenizer=tok).rows]
    assert q == sorted(q, reverse=True)
    ifd = [score[r["id"]]["ifd"] for r in select(run_dir, "ifd", Budget(rows=30), tokenizer=tok).rows]
    assert ifd == sorted(ifd, reverse=True) and max(ifd) < 1
    long = select(run_dir, "longest", Budget(rows=30), max_length=200, tokenizer=tok)
    assert all(r["tokens"] <= 200 for r in long.rows)
    chars = [score[r["id"]]["response_chars"] for r in long.rows]
    assert chars == sorted(chars, reverse=True)


def test_diverse_never_repeats_rows_that_embed_alike(run):
    from curate.selection import _by_embedding

    import polars as pl

    frame = pl.DataFrame({"row_idx": list(range(12)), "messages": [[{"role": "user", "content": "same"}]] * 12})
    order = _by_embedding(frame, list(range(12)), "diverse", Budget(rows=8), 0.9, None, run[0].parent / "nowhere")
    assert sorted(order) == list(range(12)) and len(set(order[:8])) == 8


def test_token_budget_and_manifest(run, tmp_path):
    run_dir, tok = run
    sel = select(run_dir, "random", Budget(tokens=3000), seed=1, tokenizer=tok)
    assert 0 < sel.tokens <= 3000
    man = write_selection(sel, tmp_path / "out", run_dir)
    lines = (tmp_path / "out" / "selected.jsonl").read_text().splitlines()
    assert man["selected"] == len(lines) == len(man["ids"]) and man["tokens"] == sel.tokens
    assert [json.loads(x)["sieve"]["id"] for x in lines] == man["ids"]
    assert man["strategy"] == "random" and man["seed"] == 1 and man["budget"] == {"rows": None, "tokens": 3000}


def test_an_empty_run_with_semantic_dedup_exits_4_and_selects_nothing(tmp_path):
    from sieve.cli import run as sieve

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert sieve(["curate", str(empty), "-o", str(tmp_path / "run"), "--semantic"]) == 4
    assert sieve(["select", str(tmp_path / "run"), "--budget", "5", "--strategy", "diverse",
                  "-o", str(tmp_path / "sel")]) == 0
    assert (tmp_path / "sel" / "selected.jsonl").read_text() == ""
    assert json.loads((tmp_path / "sel" / "manifest.json").read_text())["selected"] == 0


def test_a_store_add_reviewer_made_does_not_empty_the_pool(run, tmp_path):
    """`sieve review add-reviewer RUN` makes RUN/review.sqlite without importing the run: the pool stays
    the run's kept rows, and the same seed selects the same rows as before."""
    import shutil

    from review_app.accounts import add_reviewer
    from review_app.store import connect

    run_dir, tok = run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = select(copy, "quality", Budget(rows=20), tokenizer=tok)
    add_reviewer(connect(copy / "review.sqlite"), "bob", "pw12345678")
    after = select(copy, "quality", Budget(rows=20), tokenizer=tok)
    assert after.pool == before.pool > 20 and [r["id"] for r in after.rows] == [r["id"] for r in before.rows]


def test_an_output_that_is_a_file_is_a_usage_error_naming_it(run, tmp_path, capsys):
    """-o names an existing file: exit 2 and one line naming it, before any work (as sieve curate does)."""
    from sieve.cli import run as sieve

    taken = tmp_path / "taken"
    taken.write_text("mine")
    assert sieve(["select", str(run[0]), "--budget", "5", "-o", str(taken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"-o {taken}: is a file" in err and taken.read_text() == "mine"
    from curate.errors import OutputError

    with pytest.raises(OutputError, match=f"-o {taken}: is a file"):  # the library says it too
        write_selection(select(run[0], "random", Budget(rows=2), tokenizer=run[1]), taken, run[0])
    fresh = tmp_path / "fresh"  # a selection that fails leaves no folder it made
    assert sieve(["select", str(run[0]), "--budget", "5", "--strategy", "nope", "-o", str(fresh)]) == 2
    assert not fresh.exists()
