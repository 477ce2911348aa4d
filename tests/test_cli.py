"""The command line: help, version, exit codes, and every command the README shows."""

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sieve.cli import app
from tests.conftest import ALPACA, ROOT, ZH

runner = CliRunner()


def test_help_lists_every_command_with_an_example():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("ingest", "inspect", "curate", "review", "train", "generate"):
        assert cmd in res.output
        sub = runner.invoke(app, [cmd, "--help"])
        assert sub.exit_code == 0 and "Example" in sub.output


def test_help_does_not_import_torch_or_streamlit():
    code = ("import sys; from typer.testing import CliRunner; from sieve.cli import app; "
            "CliRunner().invoke(app, ['--help']); "
            "print(sorted(m for m in ('torch', 'streamlit', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and re.match(r"sieve \d+\.\d+\.\d+", res.output)


def test_ingest_exit_codes(tmp_path):
    ok = runner.invoke(app, ["ingest", str(ROOT / "examples" / "alpaca_sample.jsonl"), "-o", str(tmp_path / "a.parquet")])
    assert ok.exit_code == 0 and "284 rows" in ok.output
    partial = runner.invoke(app, ["ingest", str(ZH), "-o", str(tmp_path / "zh.parquet")])
    assert partial.exit_code == 3
    assert "alpaca_data-9407-12345-中文-未完成.json:14006:6" in partial.output
    q = [json.loads(x) for x in (tmp_path / "zh.quarantine.jsonl").read_text().splitlines()]
    assert len(q) == 1 and q[0]["line"] == 14006
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    nothing = runner.invoke(app, ["ingest", str(bad), "-o", str(tmp_path / "b.parquet")])
    assert nothing.exit_code == 4
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "c.parquet")])
    assert missing.exit_code == 1 and "nope.jsonl" in missing.output


def test_bad_column_map_and_bad_config_are_usage_errors(tmp_path):
    res = runner.invoke(app, ["inspect", str(ALPACA), "--column-map", "oops"])
    assert res.exit_code == 2 and "SRC=DST" in res.output
    cfg = tmp_path / "c.toml"
    cfg.write_text("[dedup]\nthreshold = 7\n")
    res = runner.invoke(app, ["curate", "--explain", "--config", str(cfg)])
    assert res.exit_code == 2 and "dedup.threshold" in res.output


def test_explain_lists_every_rule():
    from curate.rules import RULES

    res = runner.invoke(app, ["curate", "--explain"])
    assert res.exit_code == 0
    for rule in RULES:
        assert rule.code in res.output


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S)
    return [ln.strip() for b in blocks for ln in b.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def test_readme_shows_the_two_setup_commands():
    cmds = _readme_commands()
    assert "bash scripts/demo.sh" in cmds and "bash scripts/test.sh" in cmds


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path):
    """Runs each command of the README's code blocks, in a copy-safe way: outputs go to tmp_path.

    ``bash scripts/test.sh`` is the command that runs this very test, so it is the one not re-run here.
    """
    import os
    from pathlib import Path

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    ran = 0
    for cmd in _readme_commands():
        if cmd == "bash scripts/test.sh":
            continue
        cmd = cmd.replace("runs/", f"{tmp_path}/runs/")
        if cmd.startswith("sieve review ") and " export " not in cmd:
            cmd += " --import-only"  # the same command, without serving the app forever
        proc = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
        assert proc.returncode in (0, 3), f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        ran += 1
    assert ran >= 3


def test_signal_docs_list_every_column_and_rule():
    from curate.rules import RULES
    from curate.signals import SIGNAL_COLUMNS

    text = (ROOT / "docs" / "signals.md").read_text()
    assert [k for k in SIGNAL_COLUMNS if f"`{k}`" not in text] == []
    assert [r.code for r in RULES if f"`{r.code}`" not in text] == []
