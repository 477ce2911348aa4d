"""An output folder is the run's own: resume only what this very run started, leave a finished run as it
is, start afresh only when asked, never write into a curate run, and fail in one line."""

import json

import pytest
from typer.testing import CliRunner

from sieve.cli import app
from tests.test_train import SAMPLE, cfg_for, tiny  # noqa: F401  (module fixture)
from tests.test_train_data import make_run
from train.errors import CheckpointMismatchError, TrainUsageError
from train.recipe import run_train

runner = CliRunner()


def quick(tiny, **kw):  # noqa: F811
    return cfg_for(tiny, **{"max_steps": 4, "save_every": 2, "eval_every": 2, "eval_size": 8, "max_eval_rows": 8,
                            **kw})


def train(tiny, out, data=SAMPLE, overwrite=False, **kw):  # noqa: F811
    return run_train(data, out, quick(tiny, **kw), say=lambda *_: None, overwrite=overwrite)


def test_a_checkpoint_of_other_data_or_settings_is_not_resumed(tiny, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    train(tiny, out)
    (out / "manifest.json").unlink()  # as a kill after the last checkpoint leaves it
    with pytest.raises(CheckpointMismatchError, match=r"lr 0\.0002 -> 0\.001.*--overwrite"):
        train(tiny, out, lr=1e-3)
    other = tmp_path / "other.jsonl"
    other.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[::2]))
    with pytest.raises(CheckpointMismatchError, match="training data"):
        train(tiny, out, data=other)
    man = train(tiny, out, lr=1e-3, overwrite=True)  # afresh, in the same folder
    assert man["result"]["resumed_from"] is None and man["result"]["steps"] == 4 and man["config"]["lr"] == 1e-3
    assert json.loads((out / "manifest.json").read_text())["config"]["lr"] == 1e-3


def test_rerunning_a_finished_run_leaves_its_manifest(tiny, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    first = train(tiny, out)
    before = (out / "manifest.json").read_bytes()
    assert train(tiny, out) == first
    assert (out / "manifest.json").read_bytes() == before
    assert first["result"]["tokens_per_s"] > 0 and first["result"]["base_eval_loss"] is not None
    with pytest.raises(CheckpointMismatchError, match="finished.*--overwrite"):
        train(tiny, out, lr=1e-3)


def test_checkpoints_load_with_weights_only(tiny, tmp_path):  # noqa: F811
    import torch

    out = tmp_path / "run"
    train(tiny, out)
    (ckpt,) = sorted((out / "checkpoints").glob("step-*"))[-1:]
    tensors = torch.load(ckpt / "state.pt", weights_only=True)
    assert {"adapter", "optimizer", "torch_rng"} <= set(tensors)
    meta = json.loads((ckpt / "state.json").read_text())
    assert meta["state"]["step"] == 4 and meta["fingerprint"]["settings"]["lr"] == 2e-4


def test_training_into_the_curate_run_folder_is_refused(tiny, tmp_path):  # noqa: F811
    from train.data import load_conversations

    rows, _ = load_conversations(SAMPLE)
    run = make_run(tmp_path / "run", rows[:40])
    manifest = (run / "manifest.json").read_bytes()
    for data in (run, SAMPLE):
        with pytest.raises(TrainUsageError, match="curate run folder.*manifest"):
            train(tiny, run, data=data)
    res = runner.invoke(app, ["train", str(run), "-o", str(run), "--model", str(tiny)])
    assert res.exit_code == 2 and "curate run folder" in res.output and "Traceback" not in res.output
    assert (run / "manifest.json").read_bytes() == manifest and not (run / "adapter").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "manifest.json").write_text('{"tool": "my experiment tracker"}')
    with pytest.raises(TrainUsageError, match="whose manifest.json another tool wrote \\('my experiment tracker'\\)"):
        train(tiny, mine)


def test_files_sieve_train_did_not_write_are_never_replaced_or_removed(tiny, tmp_path):  # noqa: F811
    """A folder holding a user's own adapter/, merged/ or metrics.jsonl is refused, with --overwrite too,
    and left as it was; unrelated files beside a run are kept; a run's folder is not a curve's."""
    from train.curve import run_curve

    user = tmp_path / "mine"
    (user / "adapter").mkdir(parents=True)
    (user / "adapter" / "weights.bin").write_text("precious")
    (user / "metrics.jsonl").write_text('{"mine": 1}\n')
    for overwrite in (False, True):
        with pytest.raises(TrainUsageError, match=r"holds adapter, metrics\.jsonl, which sieve train did not write"):
            train(tiny, user, overwrite=overwrite)
    assert (user / "adapter" / "weights.bin").read_text() == "precious" and (user / "metrics.jsonl").exists()
    assert sorted(p.name for p in user.rglob("*")) == ["adapter", "metrics.jsonl", "weights.bin"]
    (user / "points.jsonl").write_text('{"mine": 1}\n')
    with pytest.raises(TrainUsageError, match="holds points.jsonl, which sieve train did not write"):
        run_curve(SAMPLE, user, quick(tiny), say=lambda *_: None)
    res = runner.invoke(app, ["train", str(SAMPLE), "-o", str(user), "--model", str(tiny), "--overwrite"])
    assert res.exit_code == 2 and "nothing was changed" in res.output and "Traceback" not in res.output

    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    train(tiny, run)
    train(tiny, run, lr=1e-3, overwrite=True)  # its own outputs: replaced; the notes stay
    assert (run / "notes.txt").read_text() == "mine"
    with pytest.raises(TrainUsageError, match="holds a sieve train run; a learning curve needs a folder of its own"):
        run_curve(SAMPLE, run, quick(tiny), say=lambda *_: None)


@pytest.mark.parametrize("model", ["./no-such-model", "no-such-model", "EMPTY_DIR"])
def test_a_missing_model_is_one_line(tmp_path, model):
    model = str(tmp_path) if model == "EMPTY_DIR" else model
    res = runner.invoke(app, ["train", str(SAMPLE), "-o", str(tmp_path / "out"), "--model", model])
    assert res.exit_code == 2, res.output
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and ("no-such-model" in lines[0] or "config.json" in lines[0]), res.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_output_that_is_a_file_is_one_line(tiny, tmp_path):  # noqa: F811
    target = tmp_path / "out"
    target.write_text("not a folder")
    res = runner.invoke(app, ["train", str(SAMPLE), "-o", str(target), "--model", str(tiny)])
    assert res.exit_code == 2 and "must be a folder" in res.output, res.output
    assert len([x for x in res.output.splitlines() if x.strip()]) == 1


def test_generate_with_a_folder_that_is_no_adapter_is_one_line(tmp_path):
    res = runner.invoke(app, ["generate", "Hi", "-a", str(tmp_path)])
    assert res.exit_code == 2 and "adapter_config.json" in res.output, res.output
    assert len([x for x in res.output.splitlines() if x.strip()]) == 1
    (tmp_path / "adapter_config.json").write_text('{"base_model_name_or_path": "x"}')  # weights gone
    for args, says in ((["Hi", "-a", str(tmp_path)], "weights are missing"), ([" ", "-a", str(tmp_path)], "PROMPT is empty"),
                       (["Hi", "--max-new-tokens", "0"], "--max-new-tokens")):
        res = runner.invoke(app, ["generate", *args])
        assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output, res.output


@pytest.mark.parametrize("args, says", [
    (["--curve", ","], "expected sizes like"),
    (["--curve", "auto"], "add --budget-minutes"),
    (["--curve", "8", "--max-steps", "1"], "--max-steps: a single-run option"),
    (["--curve", "8", "--merge", "--qlora"], "--qlora, --merge: single-run options"),
    (["--curve", "8", "-c", "MAX_STEPS_TOML"], "max_steps: single-run settings"),
])
def test_curve_flags_that_cannot_work_are_refused_before_any_work(tiny, tmp_path, args, says):  # noqa: F811
    out = tmp_path / "curve"
    (tmp_path / "steps.toml").write_text("max_steps = 3\n")
    args = [str(tmp_path / "steps.toml") if a == "MAX_STEPS_TOML" else a for a in args]
    res = runner.invoke(app, ["train", str(SAMPLE), "-o", str(out), "--model", str(tiny), *args])
    assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output, res.output
    assert not out.exists()


def test_rows_train_cannot_read_are_named_and_counted_never_silently_dropped(tiny, tmp_path):  # noqa: F811
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:12]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(lines[:3] + ['{"instruction": "broken", ', '{"foo": 1}'] + lines[3:]) + "\n",
                     encoding="utf-8")
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", str(mixed), "-o", str(out), "--model", str(tiny), "--max-steps", "1"])
    assert res.exit_code == 3, res.output
    assert f"2 row(s) or file problem(s) of {mixed} could not be read" in res.output
    assert f"{mixed}:4: read.json_syntax" in res.output.replace("\n", "")
    data = json.loads((out / "manifest.json").read_text())["data"]
    assert data["unreadable"] == 2 and data["rows"] == 12
    res = runner.invoke(app, ["train", str(mixed), "-o", str(out), "--model", str(tiny), "--max-steps", "1"])
    assert res.exit_code == 3 and "could not be read" in res.output and "nothing to do" in res.output  # a re-run
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    res = runner.invoke(app, ["train", str(SAMPLE), "-o", str(tmp_path / "e"), "--model", str(tiny), "--eval", str(empty)])
    assert res.exit_code == 2 and "no eval rows in it" in res.output and "read.empty_file" in res.output, res.output


def test_an_ifd_arm_on_a_run_without_scores_is_refused_before_any_work(tiny, tmp_path):  # noqa: F811
    from train.data import load_conversations

    rows, _ = load_conversations(SAMPLE)
    run = make_run(tmp_path / "run", rows[:40])
    out = tmp_path / "curve"
    res = runner.invoke(app, ["train", str(run), "-o", str(out), "--model", str(tiny), "--curve", "8", "--arm", "ifd"])
    assert res.exit_code == 2 and "(--arm ifd): the run has no IFD scores" in res.output, res.output
    assert not out.exists()  # the folder the command made is gone with its failure
