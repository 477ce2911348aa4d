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


def test_batched_losses_match_one_sequence_at_a_time(alpaca_frame, tiny, tmp_path):
    """Length-sorted batches, several at once on the CPU's cores, the LM head a few positions at a time:
    the same mean losses as the plain Hugging Face loss of each sequence alone (fp32)."""
    import torch

    from curate.model_signals import _encode, load_scorer, mean_losses

    cfg = _cfg(tiny, tmp_path, precision="fp32", batch_tokens=128)
    model, tok, device, _ = load_scorer(cfg, str(tiny))
    seqs = [_encode(tok, msgs, cfg.max_length) for msgs in alpaca_frame.head(24)["messages"].to_list()]
    seqs.append((seqs[0][0], [-100] * len(seqs[0][0])))  # nothing labelled: nan
    got = mean_losses(model, seqs, tok.pad_token_id, device, cfg.batch_tokens)
    with torch.no_grad():
        alone = [float(model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss)
                 for ids, labels in seqs[:-1]]
    assert max(abs(a - b) for a, b in zip(got, alone)) < 1e-5 and got[-1] != got[-1]


def test_token_losses_in_blocks_are_cross_entropy():
    import torch

    from curate.model_signals import token_losses

    torch.manual_seed(0)
    head, hidden, target = torch.nn.Linear(16, 50, bias=False), torch.randn(37, 16), torch.randint(0, 50, (37,))
    with torch.no_grad():
        want = torch.nn.functional.cross_entropy(head(hidden), target, reduction="none")
        for block, sub in ((1, 1), (5, 2), (16, 5), (64, 64), (None, None)):
            assert torch.allclose(token_losses(head, hidden, target, block, sub), want, atol=1e-6)


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
    # a fresh score cache; the converted model is the default cache's (converting the GGUF again costs ~30 s)
    models = ModelSignalsConfig().cache_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    (tmp_path / "models").symlink_to(models, target_is_directory=True)
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
