"""Model signals (issue 11, part 1): perplexity and IFD with training's template and masking, cached by
content hash and model, the model.ifd_high code; mechanics on a tiny random model, one smoke test with
the shipped SmolLM2 on real AlpacaEval rows."""

import json
import random

import pytest

from curate.model_signals import score_frame
from curate.pipeline import curate_frame, run_curate
from schemas.config import CurateConfig, ModelSignalsConfig
from tests.conftest import DATA, rows_at, write_jsonl
from tests.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, alpaca_frame):
    texts = [m["content"] for msgs in alpaca_frame.head(200)["messages"].to_list() for m in msgs]
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), texts)


def _cfg(tiny, tmp_path, **kw) -> ModelSignalsConfig:
    return ModelSignalsConfig(enabled=True, model=str(tiny), cache_dir=tmp_path, **kw)


def test_scores_every_row_and_a_rerun_comes_from_the_cache(alpaca_frame, tiny, tmp_path):
    rows = rows_at(alpaca_frame, list(range(1, 21)))
    first, stats = score_frame(rows, _cfg(tiny, tmp_path))
    assert stats.scored == 20 and first.height == 20 and first["ifd"].null_count() == 0
    assert (first["ppl_response"] > 1).all()
    loss_ratio = (first["ppl_response"].log() / first["ppl_response_alone"].log())
    assert (loss_ratio - first["ifd"]).abs().max() < 1e-9
    again, stats = score_frame(rows, _cfg(tiny, tmp_path))
    assert stats.scored == 0 and stats.tokens == 0 and again.equals(first)
    grown, stats = score_frame(rows_at(alpaca_frame, list(range(1, 26))), _cfg(tiny, tmp_path))
    assert stats.scored == 5  # only the new rows
    _, stats = score_frame(rows, _cfg(tiny, tmp_path, max_length=400))
    assert stats.scored == 20  # another length is another score


def test_another_checkpoint_of_the_same_shape_is_another_cache(alpaca_frame, tiny, tmp_path):
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    other = tmp_path / "other"
    shutil.copytree(tiny, other)
    model = AutoModelForCausalLM.from_pretrained(other)
    with torch.no_grad():
        model.lm_head.weight.mul_(1.5)  # same files, same sizes, other weights
    model.save_pretrained(other)
    rows = rows_at(alpaca_frame, [1, 2, 3])
    first, _ = score_frame(rows, _cfg(tiny, tmp_path / "c"))
    second, stats = score_frame(rows, ModelSignalsConfig(enabled=True, model=str(other), cache_dir=tmp_path / "c"))
    assert stats.scored == 3 and not second.equals(first)


def test_a_longer_response_budget_is_another_cache_entry(alpaca_frame, tiny, tmp_path):
    rows = rows_at(alpaca_frame, [3])
    score_frame(rows, _cfg(tiny, tmp_path))
    _, stats = score_frame(rows, _cfg(tiny, tmp_path, max_response_tokens=16))
    assert stats.scored == 1


def test_ifd_high_is_a_reason_only_for_expected_model_languages(alpaca_frame, tiny, tmp_path):
    rows = rows_at(alpaca_frame, list(range(1, 11)))
    cfg = CurateConfig.model_validate({"model_signals": {"enabled": True, "model": str(tiny), "cache_dir": str(tmp_path),
                                                         "max_ifd": 0.01}})
    out = curate_frame(rows, cfg)
    en = out["lang_response"] == "en"
    assert (out.filter(en)["reasons"].list.contains("model.ifd_high")).all()
    cfg.model_signals.languages = ["fr"]
    out = curate_frame(rows, cfg)
    assert not out.filter(en)["reasons"].list.contains("model.ifd_high").any()
    assert out.filter(out["lang_response"].is_null())["reasons"].list.contains("model.ifd_high").all()
    cfg.model_signals.max_ifd = None
    assert not curate_frame(rows, cfg)["reasons"].list.contains("model.ifd_high").any()


def test_a_missing_model_is_one_line_with_exit_2(tmp_path):
    from sieve.cli import run

    f = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Hi", "input": "", "output": "Hello there."}])
    assert run(["curate", str(f), "-o", str(tmp_path / "run"), "--model-signals", "--model", str(tmp_path / "no")]) == 2


@pytest.mark.slow
def test_smollm2_ifd_separates_real_answers_from_constant_and_shuffled_ones(tmp_path):
    """The shipped model on real AlpacaEval rows: GPT-4's answers vs NullModel's constant text and the
    same answers given to other prompts."""
    n = 12
    gpt4 = json.loads((DATA / "alpaca_eval" / "outputs" / "gpt4_1106_preview.json").read_text())[:n]
    null = json.loads((DATA / "alpaca_eval" / "outputs" / "NullModel.json").read_text())[:n]
    answers = [r["output"] for r in gpt4]
    random.Random(0).shuffle(answers)
    sets = {"gpt4": gpt4, "null": null, "shuffled": [dict(r, output=a) for r, a in zip(gpt4, answers)]}
    cfg = CurateConfig.model_validate({"model_signals": {"enabled": True, "cache_dir": str(tmp_path),
                                                         "max_response_tokens": 96}})
    ifd = {}
    for name, rows in sets.items():
        f = write_jsonl(tmp_path / f"{name}.jsonl", [{"instruction": r["instruction"], "input": "",
                                                     "output": r["output"]} for r in rows])
        ifd[name] = run_curate([f], cfg).frame["ifd"]
    assert (ifd["gpt4"] < 1).mean() >= 0.9
    assert (ifd["null"] >= 0.98).mean() >= 0.7 and (ifd["shuffled"] >= 0.98).mean() >= 0.7
    assert ifd["gpt4"].median() < min(ifd["null"].median(), ifd["shuffled"].median())
