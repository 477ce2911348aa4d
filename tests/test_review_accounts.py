"""Reviewer accounts: argon2id hashes (never the password), add, remove and reset through the CLI, and
the app's sign-in with accounts: the decision's reviewer is the account, a removed account or a reset
password signs the session out, and without accounts the zero-setup sign-in stays."""

import logging
import shutil

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from review_app.accounts import add_reviewer, has_accounts, remove_reviewer, reset_password, reviewer_names, verify
from review_app.errors import AccountError
from review_app.store import connect
from sieve.commands.review import review_cli, run_review
from tests.test_review_app import APP, button, db, start  # noqa: F401 - the app fixture and helpers
from tests.test_review_store import run_dir  # noqa: F401 - the shared curate-run fixture

runner = CliRunner()
PASSWORD = "correct horse battery"


def stored_hashes(path) -> list[str]:
    return [r[0] for r in connect(path).execute("SELECT password_hash FROM reviewers")]


def test_a_password_is_stored_as_an_argon2id_hash_only(tmp_path):
    con = connect(tmp_path / "s.sqlite")
    assert not has_accounts(con)
    assert add_reviewer(con, "  Ada ", PASSWORD) == "Ada"
    [digest] = stored_hashes(tmp_path / "s.sqlite")
    assert digest.startswith("$argon2id$") and PASSWORD not in digest
    assert verify(con, "Ada", PASSWORD)[0] == "Ada"
    assert verify(con, "ada", PASSWORD)[0] == "Ada"  # the stored spelling signs in
    assert verify(con, "Ada", "wrong horse battery") is None
    assert verify(con, "Nobody", PASSWORD) is None


def test_names_and_passwords_that_cannot_be_used(tmp_path):
    con = connect(tmp_path / "s.sqlite")
    add_reviewer(con, "Ada", PASSWORD)
    with pytest.raises(AccountError, match="already has an account: use reset-password"):
        add_reviewer(con, "ADA", PASSWORD)
    with pytest.raises(AccountError, match="8 to 1024 characters"):
        add_reviewer(con, "Bob", "short")
    with pytest.raises(AccountError, match="1 to 64 characters"):
        add_reviewer(con, "   ", PASSWORD)
    with pytest.raises(AccountError, match="control characters"):
        add_reviewer(con, "Bob\x1b[31m", PASSWORD)
    with pytest.raises(AccountError, match=r"no reviewer account 'Eve' in this store \(accounts: Ada\)"):
        remove_reviewer(con, "Eve")


def test_add_reset_remove_through_the_cli(run_dir, tmp_path, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    res = runner.invoke(review_cli, ["add-reviewer", "ada", str(run)], input=f"{PASSWORD}\n{PASSWORD}\n")
    printed = [res.output]
    assert res.exit_code == 0, res.output
    assert "added reviewer ada in" in res.output and "1 account;" in res.output
    res = runner.invoke(review_cli, ["add-reviewer", "bob", str(run / "review.sqlite"), "--password-stdin"],
                        input="bobs password 1\n")
    assert res.exit_code == 0, res.output
    con = connect(run / "review.sqlite")
    assert reviewer_names(con) == ["ada", "bob"] and verify(con, "bob", "bobs password 1")
    res = runner.invoke(review_cli, ["reset-password", "bob", str(run), "--password-stdin"], input="new password 2\n")
    assert res.exit_code == 0 and "new password for bob" in res.output
    printed.append(res.output)
    assert verify(con, "bob", "new password 2") and not verify(con, "bob", "bobs password 1")
    res = runner.invoke(review_cli, ["remove-reviewer", "bob", str(run)])
    assert res.exit_code == 0 and reviewer_names(con) == ["ada"]
    res = runner.invoke(review_cli, ["remove-reviewer", "bob", str(run)])
    assert res.exit_code == 2 and "no reviewer account 'bob'" in res.output
    res = runner.invoke(review_cli, ["add-reviewer", "eve", str(tmp_path)], input="x\n")
    assert res.exit_code == 2 and "neither a review store nor" in res.output
    for secret in (PASSWORD, "bobs password 1", "new password 2"):  # never printed or logged in clear
        assert all(secret not in text for text in printed) and secret not in caplog.text
        assert secret not in (run / "review.sqlite").read_bytes().decode("latin-1")


def test_accounts_open_the_app_beyond_this_machine(run_dir, tmp_path, monkeypatch, capsys):  # noqa: F811
    import typer

    monkeypatch.delenv("SIEVE_REVIEW_PASSWORD", raising=False)
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    with pytest.raises(typer.Exit):
        run_review(run, None, "0.0.0.0", 8501, 0.0, True)
    assert "add reviewer accounts (sieve review add-reviewer) or set SIEVE_REVIEW_PASSWORD" in capsys.readouterr().err
    add_reviewer(connect(run / "review.sqlite"), "ada", PASSWORD)
    assert run_review(run, None, "0.0.0.0", 8501, 0.0, True) == 0


def sign_in(name: str, password: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input(password)
    button(at, "Sign in").click().run()
    assert not at.exception
    return at


def test_with_accounts_the_reviewer_is_the_signed_in_account(db, monkeypatch, tmp_path):  # noqa: F811
    (tmp_path / "fast.toml").write_text("password_delay_s = 0.0\npassword_delay_max_s = 0.0\n")
    monkeypatch.setenv("SIEVE_REVIEW_CONFIG", str(tmp_path / "fast.toml"))  # no growing wait between tries here
    con = connect(db)
    add_reviewer(con, "Ada", PASSWORD)
    monkeypatch.setenv("SIEVE_REVIEW_PASSWORD", "shared-secret")  # accounts replace the shared password
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert any("your password" in i.value for i in at.info)
    at = sign_in("Linus", PASSWORD)  # a name without an account cannot sign in, whatever password
    assert at.error[0].value == "Wrong name or password." and "who" not in at.session_state
    at = sign_in("Ada", "shared-secret")
    assert at.error[0].value == "Wrong name or password."
    at = sign_in("ada", PASSWORD)
    assert at.session_state["who"] == "Ada"
    button(at, "Accept").click().run()
    assert at.success[0].value == "accepted by Ada"
    assert [r[0] for r in con.execute("SELECT reviewer FROM decisions")] == ["Ada"]


def test_a_reset_password_or_removed_account_signs_the_session_out(db):  # noqa: F811
    con = connect(db)
    add_reviewer(con, "Ada", PASSWORD)
    at = sign_in("Ada", PASSWORD)
    reset_password(con, "Ada", "another password")
    at.run()
    assert at.warning[0].value == "Your account was removed or its password was reset: sign in again."
    assert [b.label for b in at.button] == ["Sign in"]
    at = sign_in("Ada", "another password")
    remove_reviewer(con, "Ada")
    add_reviewer(con, "Bob", PASSWORD)  # still a store with accounts
    at.run()
    assert [b.label for b in at.button] == ["Sign in"]


def test_without_accounts_the_zero_setup_sign_in_stays(db):  # noqa: F811
    at = start("Linus")  # a name only, on a loopback address
    assert at.session_state["who"] == "Linus" and at.session_state["account"] is None
