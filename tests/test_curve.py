"""Learning curves on a tiny real model: arms kept apart from eval rows, token matching, defect margins,
every output written, a render without a model, and a resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from schemas.train_config import TrainConfig
from tests.conftest import ROOT
from tests.tiny_model import build_tiny_model
from train.data import load_conversations

SAMPLE = ROOT / "examples" / "alpaca_sample.jsonl"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from train.defects import packaged_refusals

    rows, _ = load_conversations(SAMPLE)
    texts = [m["content"] for r in rows for m in r["messages"]] + packaged_refusals()
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), texts)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from curate.outputs import write_outputs
    from curate.pipeline import run_curate
    from schemas.config import CurateConfig

    out = tmp_path_factory.mktemp("curve-run") / "run"
    write_outputs(run_curate([SAMPLE], CurateConfig()), out)
    return out


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def sample_rows(start, stop):
    lines = SAMPLE.read_text().splitlines()[start:stop]
    return [json.loads(line) for line in lines]


def cfg_for(tiny, **curve) -> TrainConfig:
    return TrainConfig(model=str(tiny), batch_size=4, epochs=1, max_length=256, precision="fp32", max_eval_rows=20,
                       lr=3e-3, curve={"sizes": [8, 16], "seeds": 2, "generation_prompts": 4, "max_new_tokens": 12,
                                       "defect_prompts": 10, "bootstrap": 200, **curve})


def test_no_arm_ever_trains_on_an_eval_row_or_an_eval_prompt(tiny, run, tmp_path):
    from train.curve_setup import prepare_curve
    from train.heldout import content_key
    from train.evalset import user_prompt

    evals = sample_rows(0, 20)
    evals[5]["output"] = "Another answer to the same prompt."  # the prompt alone must keep its rows out too
    eval_file = write_jsonl(tmp_path / "eval.jsonl", evals)
    inputs = prepare_curve(run, cfg_for(tiny), [eval_file])
    assert set(inputs.arms) == {"curated", "random", "longest"}
    held = {content_key(r["messages"]) for r in load_conversations(eval_file)[0]}
    held |= {content_key(user_prompt(r["messages"])) for r in load_conversations(eval_file)[0]}
    for arm in inputs.arms.values():
        for seed in (0, 1):
            arm.take(seed, rows=10_000)
        for row in arm.rows:
            assert content_key(row["messages"]) not in held and content_key(user_prompt(row["messages"])) not in held
    assert inputs.info["eval_overlap_removed"] >= 19 and inputs.info["raw_eval_overlap_removed"] >= 20


def test_token_matching_gives_equal_token_totals_within_one_row(tiny, run):
    from train.arms import trained_tokens
    from train.curve import _examples
    from train.curve_setup import prepare_curve

    cfg = cfg_for(tiny, match="tokens")
    inputs = prepare_curve(run, cfg, [])
    for size in (8, 16):
        target = sum(trained_tokens(e) for e in inputs.arms["curated"].take(0, rows=size))
        for arm in ("random", "longest"):
            got = _examples(inputs, cfg, arm, size, 0)
            total = sum(trained_tokens(e) for e in got)
            assert target <= total < target + max(trained_tokens(e) for e in got)
    longest = _examples(inputs, cfg, "longest", 16, 0)
    assert len(longest) < 16  # the longest answers reach the same tokens with fewer rows


def test_a_curve_measures_every_metric_and_renders_without_a_model(tiny, run, tmp_path):
    from sieve.commands.curve import render_command
    from train.curve import run_curve

    out = tmp_path / "curve"
    evals = [write_jsonl(tmp_path / "a.jsonl", sample_rows(0, 20)), write_jsonl(tmp_path / "b.jsonl", sample_rows(20, 40))]
    result = run_curve(run, out, cfg_for(tiny), evals, say=lambda *_: None)
    points = [json.loads(line) for line in (out / "points.jsonl").read_text().splitlines()]
    assert len(points) == 1 + 2 * 2 * 3  # the base model, then sizes x seeds x arms
    assert {(p["arm"], p["size"]) for p in points} >= {("base", 0), ("curated", 16), ("random", 8), ("longest", 16)}
    trained = [p for p in points if p["arm"] != "base"]
    assert all(set(p["losses"]) >= {"a", "b", "defect:refusal"} for p in points)
    assert all(len(p["losses"]["a"]) == 20 and p["generation"]["answers"] == 4 for p in points)
    assert all(p["rows"] == p["size"] and p["mean_answer_tokens"] > 0 for p in trained)
    primary = [c for c in result["comparisons"] if c["primary"]]
    assert {(c["other"], c["metric"]) for c in primary} == {(o, m) for o in ("random", "longest")
                                                             for m in ("fit:a", "fit:b", "margin:refusal")}
    assert all(c["size"] == 16 and c["low"] <= c["diff"] <= c["high"] for c in primary)
    assert all(c["p_holm"] is not None for c in result["comparisons"] if not c["primary"])
    assert set(result["length_correlation"]) == {"a", "b"}
    md = (out / "curve.md").read_text()
    assert "## Primary comparisons" in md and "at 16 examples" in md and "Pearson r" in md
    for name in ("curve.json", "curve.png", "curve.md"):
        (out / name).unlink()
    assert render_command(out) == 0 and json.loads((out / "curve.json").read_text())["summary"] == result["summary"]


def test_the_refusal_margin_shrinks_when_every_training_row_is_a_refusal(tiny, tmp_path):
    from train.curve import run_curve
    from train.defects import packaged_refusals

    refusals = packaged_refusals()
    normal = sample_rows(60, 100)
    refused = [{**r, "output": refusals[i % len(refusals)]} for i, r in enumerate(normal)]
    evals = write_jsonl(tmp_path / "eval.jsonl", sample_rows(0, 20))
    cfg = cfg_for(tiny, sizes=[32], seeds=1, generation_prompts=0)
    # a random tiny model learns through every linear layer, not through q and v alone
    cfg = cfg.model_copy(update={"epochs": 3.0, "lr": 1e-2,
                                 "lora": cfg.lora.model_copy(update={"target_modules": "all-linear"})})
    margin = {}
    for name, rows in (("refused", refused), ("normal", normal)):
        data = write_jsonl(tmp_path / f"{name}.jsonl", rows)
        result = run_curve(data, tmp_path / name, cfg, [evals], say=lambda *_: None)
        margin |= {(name, r["arm"]): r["metrics"]["margin:refusal"]["mean"] for r in result["summary"]}
    assert margin[("refused", "base")] == pytest.approx(margin[("normal", "base")])
    # trained on refusals, the model finds a refusal far likelier than the reference answer than before ...
    assert margin[("refused", "curated")] < margin[("refused", "base")] - 0.1, margin
    # ... and than the same rows with their real answers teach it to
    assert margin[("refused", "curated")] < margin[("normal", "curated")] - 0.1, margin


@pytest.mark.slow
def test_an_interrupted_curve_resumes_from_its_finished_points(tiny, run, tmp_path):
    out = tmp_path / "curve"
    conf = tmp_path / "c.toml"
    conf.write_text(f'model = "{tiny}"\nprecision = "fp32"\nbatch_size = 4\nepochs = 1\nmax_length = 256\n'
                    "max_eval_rows = 20\n[curve]\nsizes = [8, 16]\nseeds = 2\ngeneration_prompts = 2\n"
                    "max_new_tokens = 8\nbootstrap = 200\n")
    cmd = [sys.executable, "-m", "sieve.cli", "train", str(run), "-o", str(out), "--config", str(conf), "--curve", "8,16"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    points = out / "points.jsonl"
    deadline = time.time() + 180
    while time.time() < deadline and (not points.is_file() or len(points.read_text().splitlines()) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(points.read_text().splitlines())
    assert 3 <= before < 13, "the kill came too late to test a resume"
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{before - 1} of 12 points already done" in again.stderr
    lines = [json.loads(line) for line in points.read_text().splitlines()]
    assert len({(p["arm"], p["size"], p["seed"]) for p in lines}) == len(lines) == 13


def test_a_time_budget_plans_the_curve_or_warns_that_it_will_not_fit(tiny, run, tmp_path):
    from train.curve import run_curve

    said = []
    cfg = cfg_for(tiny, sizes=[8], seeds=1, generation_prompts=0, budget_minutes=0.001)
    run_curve(run, tmp_path / "given", cfg, say=said.append)
    # sizes given: estimated and warned, the budget shown as given (it read "the 0-minute budget")
    assert any("WARNING: more than the 0.001-minute budget" in line for line in said), said
    said.clear()
    result = run_curve(run, tmp_path / "planned", cfg, say=said.append, plan_sizes=True)
    plan = json.loads((tmp_path / "planned" / "curve_plan.json").read_text())
    assert plan["planned"] == {"sizes": [25], "seeds": 2} and any(line.startswith("plan:") for line in said)
    assert {r["size"] for r in result["summary"]} == {0, 25}
    said.clear()
    run_curve(run, tmp_path / "planned", cfg, say=said.append, plan_sizes=True)  # a re-run keeps its plan
    assert "resuming the planned curve: sizes [25], 2 seeds" in said and "6 of 6 points already done" in said


def test_a_select_strategy_is_an_arm_ordered_as_sieve_select_orders_it(tiny, run, tmp_path):
    import polars as pl

    from train.curve_setup import prepare_curve
    from train.heldout import content_key

    eval_file = write_jsonl(tmp_path / "eval.jsonl", sample_rows(0, 20))
    inputs = prepare_curve(run, cfg_for(tiny, arms=["quality"]), [eval_file])
    arm = inputs.arms["quality"]
    taken = arm.take(0, rows=30)
    assert len(taken) == 30 and arm.take(1, rows=30) == taken  # one order for every seed
    quality = dict(pl.read_parquet(run / "annotated.parquet", columns=["id", "quality"]).iter_rows())
    scores = [quality[e.row_id] for e in taken]
    assert scores == sorted(scores, reverse=True)
    held = {content_key(r["messages"]) for r in load_conversations(eval_file)[0]}
    assert not held & {content_key(r["messages"]) for r in arm.rows}


def test_a_row_that_continues_or_wraps_an_eval_exchange_is_left_out():
    from train.arms import eval_keys, held_out

    q, a = {"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "Seven."}
    keys = eval_keys([[q, a]])
    rows = [{"id": "continues", "messages": [q, a, {"role": "user", "content": "Another?"},
                                            {"role": "assistant", "content": "Eleven."}]},
            {"id": "system", "messages": [{"role": "system", "content": "Be brief."}, q, a]},
            {"id": "asks", "messages": [q, {"role": "assistant", "content": "Two."}]},
            {"id": "other", "messages": [{"role": "user", "content": "Name a colour."}, a]}]
    kept, dropped = held_out(rows, keys)
    assert [r["id"] for r in kept] == ["other"] and dropped == 3


def test_a_point_line_cut_by_a_kill_does_not_swallow_the_next(tmp_path):
    from train.curve import _append, finished_points

    (tmp_path / "points.jsonl").write_text('{"arm": "base", "size": 0, "seed": 0}\n{"arm": "cur')
    _append(tmp_path, {"arm": "curated", "size": 8, "seed": 0})
    assert set(finished_points(tmp_path)) == {("base", 0, 0), ("curated", 8, 0)}
