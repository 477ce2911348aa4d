"""``sieve review`` as the command runs it (sieve.commands.review): import notes, an option that cannot
apply to an existing store, another run refused with the flag that carries decisions over, export."""

import json
import shutil

import pytest
import typer

from review_app.decisions import Action, decide
from review_app.store import connect, get_row
from sieve.commands.review import run_export, run_review
from tests.test_review_store import run_dir  # noqa: F401 - the shared curate-run fixture


@pytest.fixture
def run(run_dir, tmp_path):  # noqa: F811
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    return copy


def review(run, **kw):
    return run_review(run, None, "127.0.0.1", 8501, kw.pop("double", 0.0), True, **kw)


def test_import_then_a_share_that_cannot_apply(run, capsys):
    assert review(run) == 0
    assert "284 new rows" in capsys.readouterr().out
    with pytest.raises(typer.Exit) as exc:
        review(run, double=0.5)
    assert exc.value.exit_code == 2
    assert "--double-review 0.5 cannot apply" in capsys.readouterr().err


def test_a_recurated_folder_names_carry_over_and_carries_decisions(run, capsys):
    review(run)
    con = connect(run / "review.sqlite")
    (row_id,) = con.execute("SELECT id FROM rows WHERE verdict = 'review' LIMIT 1").fetchone()
    decide(con, Action(row_id, 0, "s", "ada", "reject", reason="low quality"))
    man = json.loads((run / "manifest.json").read_text())
    man["run_id"] = "a-new-run"
    (run / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(typer.Exit) as exc:
        review(run)
    err = capsys.readouterr().err
    assert exc.value.exit_code == 2 and "--carry-over" in err and "a-new-run" in err
    with pytest.raises(typer.Exit):  # exporting for this folder refuses the stale store too
        run_export(run / "review.sqlite", run / "approved.jsonl", run)
    assert review(run, carry_over=True) == 0
    assert "1 decisions carried over" in capsys.readouterr().out
    assert get_row(connect(run / "review.sqlite"), row_id)["status"] == "rejected"
    assert run_export(run / "review.sqlite", run / "approved.jsonl", run) == 0


def test_a_bad_review_config_names_the_field(run, tmp_path, capsys):
    (tmp_path / "r.toml").write_text("lease_seconds = 10\nheartbeat_seconds = 8\n")
    with pytest.raises(typer.Exit) as exc:
        review(run, config=tmp_path / "r.toml")
    assert exc.value.exit_code == 2 and "heartbeat_seconds" in capsys.readouterr().err
    (tmp_path / "r.toml").write_text("lease_secs = 10\n")
    with pytest.raises(typer.Exit):
        review(run, config=tmp_path / "r.toml")
    assert "lease_secs" in capsys.readouterr().err


def test_guidelines_must_be_a_readable_file(run, tmp_path, capsys):
    with pytest.raises(typer.Exit) as exc:
        review(run, guidelines=tmp_path / "missing.md")
    err = capsys.readouterr().err
    assert exc.value.exit_code == 2 and err.count("\n") == 1
    assert "--guidelines" in err and "missing.md: no such guidelines file" in err
    (tmp_path / "latin1.md").write_bytes("Règles".encode("latin-1"))
    with pytest.raises(typer.Exit):
        review(run, guidelines=tmp_path / "latin1.md")
    assert "cannot read the guidelines file" in capsys.readouterr().err
    (tmp_path / "guide.md").write_text("# Rules\n\nReject answers that invent facts.\n")
    assert review(run, guidelines=tmp_path / "guide.md") == 0


def test_the_review_sub_app_opens_a_folder_named_export_and_exports(run_dir, tmp_path, monkeypatch):  # noqa: F811
    from typer.testing import CliRunner

    from sieve.commands.review import review_cli

    runner = CliRunner()
    shutil.copytree(run_dir, tmp_path / "export")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(review_cli, ["export", "--import-only"])  # a run folder called `export`
    assert res.exit_code == 0, res.output
    assert (tmp_path / "export" / "review.sqlite").is_file()
    res = runner.invoke(review_cli, ["export", "export/review.sqlite", "-o", "approved.jsonl", "--run", "export"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "approved.jsonl").read_text().count("\n") > 200
    assert runner.invoke(review_cli, ["--help"]).exit_code == 0
    res = runner.invoke(review_cli, ["export", "--import-only", "--double-review", "0.3"])
    assert res.exit_code == 2 and "cannot apply" in res.output


def add_reviewer_cli(target):
    from typer.testing import CliRunner

    from sieve.commands.review import review_cli

    res = CliRunner().invoke(review_cli, ["add-reviewer", "bob", str(target), "--password-stdin"], input="pw12345678\n")
    assert res.exit_code == 0, res.output


def test_a_store_add_reviewer_made_is_not_exported_as_an_empty_run(run, capsys):
    """add-reviewer before any import: export refuses the store (no run in it) instead of writing 0 rows,
    with or without --run; once `sieve review` imports the run, the same store exports its kept rows."""
    add_reviewer_cli(run)
    db = run / "review.sqlite"
    for run_dir in (None, run):
        with pytest.raises(typer.Exit) as exc:
            run_export(db, run / "approved.jsonl", run_dir)
        err = capsys.readouterr().err
        assert exc.value.exit_code == 1 and err.count("\n") == 1
        assert f"{db}: the review store holds no curate run" in err
        assert "--import-only" in err and not (run / "approved.jsonl").exists()
    assert review(run) == 0
    assert run_export(db, run / "approved.jsonl", run) == 0
    kept = (run / "curated.jsonl").read_text().count("\n")
    assert (run / "approved.jsonl").read_text().count("\n") == kept > 0


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_export_to_a_folder_or_under_a_file_is_a_usage_error_naming_it(run, capsys, where):
    review(run)
    capsys.readouterr()
    (run / "plain.txt").write_text("not a folder")
    target = run if where == "folder" else run / "plain.txt" / "approved.jsonl"
    with pytest.raises(typer.Exit) as exc:
        run_export(run / "review.sqlite", target)
    err = capsys.readouterr().err
    assert exc.value.exit_code == 2 and err.count("\n") == 1 and f"-o {target}" in err
    assert "unexpected" not in err


def test_a_db_that_is_a_folder_or_not_a_store_is_one_line(run, tmp_path, capsys):
    """--db names a folder or sits in a missing one: a usage error naming it; a file that is not a review
    store: one line naming it (exit 1, as a corrupt store), never "unexpected ... please report it"."""
    for db in (tmp_path, tmp_path / "missing" / "review.sqlite"):
        with pytest.raises(typer.Exit) as exc:
            run_review(run, db, "127.0.0.1", 8501, 0.0, True)
        err = capsys.readouterr().err
        assert exc.value.exit_code == 2 and err.count("\n") == 1 and f"--db {db}" in err
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    for call in (lambda: run_review(run, junk, "127.0.0.1", 8501, 0.0, True),
                 lambda: run_export(junk, tmp_path / "approved.jsonl")):
        with pytest.raises(typer.Exit) as exc:
            call()
        err = capsys.readouterr().err
        assert exc.value.exit_code == 1 and err.count("\n") == 1 and f"{junk}: not a readable review store" in err
