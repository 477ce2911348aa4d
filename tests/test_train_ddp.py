"""sieve train under torchrun: two CPU processes (gloo) train the adapter one process trains with the same
global batch, write one set of outputs, resume from their own checkpoint, and fail in one line.

How close is close enough: the two processes see the micro-batches the one-process run accumulates,
padded alike. The one-process gradient a + b and the all_reduce sum b + a are the same single float32
addition. So the adapters are expected to agree bit for bit on one CPU, and on this machine they do.
The tolerance (1e-4 of the distance the adapter moved in training) leaves room only for BLAS kernels
that block differently at another thread count (the children run with OMP_NUM_THREADS=1). Float32
rounding through 8 Adam steps is far below it. A run with another global batch is about as far away as
the whole update, some 10^4 times the tolerance, and the test checks that it is, so the tolerance can
fail a wrong run.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sieve.cli import app
from tests.conftest import ROOT
from tests.test_train import SAMPLE, tiny  # noqa: F401  (module fixture)

TOLERANCE = 1e-4  # of the update's norm; see the module docstring


def write_config(folder: Path, model: Path, grad_accum: int, dropout: float = 0.0) -> Path:
    """3-row micro-batches: the 31 rows make 11 of them, so with 2 per step the last step of each epoch
    has one, and rank 1 gets none in it. max_steps 8 crosses into the second epoch."""
    path = folder / f"ga{grad_accum}-dropout{dropout}.toml"
    path.write_text(f'model = "{model}"\nprecision = "fp32"\nbatch_size = 3\ngrad_accum = {grad_accum}\n'
                    "max_steps = 8\nlr = 0.01\neval_every = 4\nsave_every = 4\neval_size = 16\nmax_eval_rows = 16\n"
                    f"max_length = 256\nrestore_best = false\n[lora]\nlora_dropout = {dropout}\n")
    return path


def sieve_train(out: Path, config: Path, processes: int = 1) -> subprocess.CompletedProcess:
    """The documented commands: ``python -m sieve train`` and ``torchrun --standalone ... -m sieve train``."""
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] if processes > 1 else []
    cmd = [sys.executable, *launch, "-m", "sieve", "train", str(SAMPLE), "-o", str(out), "--config", str(config)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def adapter(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(out / "adapter" / "adapter_model.safetensors")


def distance(a: dict, b: dict) -> float:
    assert a.keys() == b.keys() and a
    return float(sum(((a[k] - b[k]).double() ** 2).sum() for k in a) ** 0.5)


def files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*"))


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tiny, tmp_path_factory):  # noqa: F811
    """One process with grad_accum 2, two processes with grad_accum 1 (the same global batch of 6 rows),
    and one process with grad_accum 1 (half that batch), each from the same seed."""
    tmp = tmp_path_factory.mktemp("ddp")
    done = {"one": sieve_train(tmp / "one", write_config(tmp, tiny, 2)),
            "two": sieve_train(tmp / "two", write_config(tmp, tiny, 1), processes=2),
            "half": sieve_train(tmp / "half", write_config(tmp, tiny, 1))}
    for name, proc in done.items():
        assert proc.returncode == 0, f"{name}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return tmp, done


@pytest.mark.slow
def test_two_processes_train_the_adapter_of_one_with_the_same_global_batch(runs, tiny):  # noqa: F811
    from peft import get_peft_model_state_dict

    from schemas.train_config import load_train_config
    from train.recipe import lora_model

    tmp, _ = runs
    model, _, _ = lora_model(str(tiny), load_train_config(tmp / "ga1-dropout0.0.toml"), "cpu")
    start = {k: v.detach() for k, v in get_peft_model_state_dict(model).items()}
    one, two, half = (adapter(tmp / name) for name in ("one", "two", "half"))
    moved = distance(one, start)
    assert moved > 0.1, moved  # it trained: lr 0.01 moves the adapter well away from its start
    assert distance(two, one) <= TOLERANCE * moved, (distance(two, one), moved)
    assert distance(half, one) > 100 * TOLERANCE * moved  # another global batch lands far outside the tolerance
    m1, m2 = (json.loads((tmp / name / "manifest.json").read_text()) for name in ("one", "two"))
    assert m2["distributed"] == {"world_size": 2, "backend": "gloo"} and m1["distributed"]["world_size"] == 1
    assert (m2["result"]["steps"], m2["result"]["tokens"]) == (m1["result"]["steps"], m1["result"]["tokens"]) == (
        8, m1["result"]["tokens"])
    # the same losses, step by step: each rank normalised by the tokens of the whole step, not its own share
    losses = [[(e["event"], e["step"], e.get("loss", e.get("eval_loss"))) for e in events(tmp / n)] for n in ("one", "two")]
    assert [x[:2] for x in losses[0]] == [x[:2] for x in losses[1]]
    assert all(abs(a[2] - b[2]) <= 1e-5 * abs(a[2]) for a, b in zip(*losses)), losses


@pytest.mark.slow
def test_only_rank_0_writes_and_prints(runs):
    tmp, done = runs
    assert files(tmp / "two") == files(tmp / "one")  # the same files, no rank-suffixed copies, no leftovers
    assert [e["event"] for e in events(tmp / "two")].count("step") == 8  # not 16: one writer
    for line in ("data: 31 training rows", "trained 8 steps", "adapter: "):
        assert done["two"].stdout.count(line) == 1, done["two"].stdout + done["two"].stderr
    assert "x 2 processes (gloo)" in done["two"].stdout
    for noise in ("Loading weights: 100%", "FutureWarning"):  # transformers' lines: once, as from one process
        assert done["two"].stderr.count(noise) == done["one"].stderr.count(noise), done["two"].stderr


@pytest.mark.slow
def test_a_two_process_run_resumes_from_its_own_checkpoint(tiny, tmp_path):  # noqa: F811
    """With dropout on, a resumed run ends where an uninterrupted one does only if each rank gets its own
    dropout RNG back from the checkpoint."""
    import torch

    config = write_config(tmp_path, tiny, 1, dropout=0.1)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    first = sieve_train(whole, config, processes=2)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    shutil.copytree(whole, cut)
    for later in ("manifest.json", "adapter", "checkpoints/step-0000008"):  # as a kill after step 4 leaves it
        shutil.rmtree(cut / later) if (cut / later).is_dir() else (cut / later).unlink()
    again = sieve_train(cut, config, processes=2)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    assert again.stderr.count("resuming from the checkpoint at step 4") == 1, again.stderr
    assert json.loads((cut / "manifest.json").read_text())["result"]["resumed_from"] == 4
    resumed, uninterrupted = adapter(cut), adapter(whole)
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)  # to the bit: same steps, same RNG


@pytest.mark.slow
def test_an_error_under_torchrun_is_one_line_from_rank_0(tiny, tmp_path):  # noqa: F811
    """Rank 0 fails to create -o (a file is in the way); rank 1 stops with it instead of waiting."""
    (tmp_path / "file").write_text("")
    res = sieve_train(tmp_path / "file" / "out", write_config(tmp_path, tiny, 1), processes=2)
    assert res.returncode != 0
    said = res.stdout + res.stderr
    assert said.count("cannot write there") == 1 and "rank 1" not in said and "MainRankError" not in said, said


def test_a_one_process_checkpoint_is_not_resumed_by_two_processes(tiny):  # noqa: F811
    from schemas.train_config import TrainConfig
    from train.checkpoint import differences, fingerprint

    cfg = TrainConfig(model=str(tiny))
    one, two = fingerprint(None, [], None, cfg), fingerprint(None, [], None, cfg, world_size=2)
    assert "world_size" not in one["settings"]  # one-process fingerprints stay as they were
    assert differences(one, two) == ["world_size 1 -> 2"] and differences(two, one) == ["world_size 2 -> 1"]
    assert differences(one, fingerprint(None, [], None, cfg, world_size=1)) == []


def test_a_learning_curve_under_torchrun_is_refused_in_one_line(tiny, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    res = CliRunner().invoke(app, ["train", str(SAMPLE), "-o", str(tmp_path / "c"), "--model", str(tiny),
                                   "--curve", "8,16"])
    assert res.exit_code == 2 and "run it without torchrun" in res.output, res.output  # not N writers of -o
    assert not (tmp_path / "c").exists()
