"""The training loop and the learning curve's statistics: token-normalised accumulation, early stopping
that restores the best adapter, seeded LoRA initialisation, gradient clipping from the config, intervals
only where there are seeds to make one, and a power-law fit only where it can carry an uncertainty."""

import math

import pytest

from schemas.train_config import TrainConfig
from tests.test_train import SAMPLE, cfg_for, tiny, tok  # noqa: F401  (module fixtures)
from train.curve_fit import fit_power_law
from train.curve_words import shape_words
from train.stats import t_interval
from train.data import collate, encode_all, load_conversations


@pytest.fixture(scope="module")
def examples(tok):  # noqa: F811
    rows, _ = load_conversations(SAMPLE)
    return encode_all(tok, rows[:40], 256, truncate=True).examples


def lora(tiny, **kw):  # noqa: F811
    from train.recipe import lora_model

    model, _, _ = lora_model(str(tiny), cfg_for(tiny, **kw), "cpu")
    return model


def lora_weights(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def test_accumulated_loss_is_normalised_by_all_its_tokens(tiny, examples):  # noqa: F811
    """Two micro-batches of very different answer lengths give the gradient of one batch of both."""
    import torch

    from train.loop import accumulate

    short, long_ = sorted(examples[:10], key=lambda e: sum(lab != -100 for lab in e.labels))[::9]
    model = lora(tiny)
    model.eval()  # no dropout: the two passes must see the same function
    torch.nn.init.normal_(next(p for n, p in model.named_parameters() if "lora_B" in n))  # a non-zero gradient for A

    def grads(micro_batches):
        model.zero_grad()
        loss, tokens = accumulate(model, micro_batches, "cpu", False)
        return loss, tokens, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    l1, n1, g1 = grads([collate([short], 0), collate([long_], 0)])
    l2, n2, g2 = grads([collate([short, long_], 0)])
    assert n1 == n2 and math.isclose(l1, l2, rel_tol=1e-5)
    assert g1 and all(torch.allclose(g1[k], g2[k], atol=1e-6, rtol=1e-4) for k in g1)


def test_early_stopping_restores_the_best_adapter(tiny, examples):  # noqa: F811
    from train.loop import evaluate, train_lora

    cfg = cfg_for(tiny, lr=0.5, max_grad_norm=None, eval_every=1, early_stopping_patience=1,
                  early_stopping_min_delta=0.0, max_steps=16)
    model = lora(tiny)
    evals = []
    res = train_lora(model, 0, examples[4:], examples[:4], cfg, "cpu",
                     hook=lambda e, p: evals.append(p["eval_loss"]) if e == "eval" else None)
    assert res.stopped_early and res.restored_best and evals[-1] > res.best_eval_loss
    assert res.eval_loss == res.best_eval_loss == min(evals)
    assert math.isclose(evaluate(model, examples[:4], 0, "cpu", False, 4), res.best_eval_loss, rel_tol=1e-5)


def test_patience_counts_progress_but_the_lowest_loss_is_restored():
    """A loss lower by less than min_delta is not progress (patience runs out), yet it is the best."""
    from train.loop import track_eval

    cfg = TrainConfig(early_stopping_patience=2, early_stopping_min_delta=0.01)
    state = {"step": 0, "best": None, "best_step": None, "progress_ref": None, "bad_evals": 0, "last_eval": None}
    stops = []
    for step, loss in enumerate([2.0, 1.995, 1.999], start=1):
        state["step"] = step
        stops.append(track_eval(state, loss, cfg))
    assert stops == [False, False, True] and state["best"] == 1.995 and state["best_step"] == 2


def test_each_seed_draws_its_own_lora_initialisation(tiny):  # noqa: F811
    import torch

    from train.loop import init_lora

    model = lora(tiny)
    draws = []
    for seed in (1, 2, 1):
        init_lora(model, seed)
        draws.append(lora_weights(model))
    a = [k for k in draws[0] if "lora_A" in k]
    assert a and all(torch.equal(draws[0][k], draws[2][k]) for k in draws[0])  # reproducible
    assert not any(torch.equal(draws[0][k], draws[1][k]) for k in a)  # and seed-dependent
    assert all(not draws[1][k].any() for k in draws[1] if "lora_B" in k)  # the adapter starts as the base
    fresh = {seed: lora_weights(lora(tiny, seed=seed)) for seed in (1, 2)}  # sieve train: cfg.seed draws it
    assert all(torch.equal(fresh[1][k], draws[0][k]) for k in a) and not torch.equal(fresh[2][a[0]], fresh[1][a[0]])


def test_gradient_clipping_comes_from_the_config(tiny, examples):  # noqa: F811
    """A clip so small that Adam's epsilon swamps the gradient leaves the adapter where it started."""
    from train.loop import train_lora

    moved = {}
    for clip in (1e-9, None):
        model = lora(tiny)
        start = lora_weights(model)
        train_lora(model, 0, examples, None, cfg_for(tiny, max_grad_norm=clip, max_steps=2), "cpu")
        moved[clip] = max(float((w - start[n]).abs().max()) for n, w in lora_weights(model).items())
    assert moved[1e-9] * 10 < moved[None], moved


def test_a_one_seed_point_shows_no_interval():
    assert t_interval([2.0]) is None and t_interval([1.8, 1.7]) > 0


def test_the_power_law_fit_needs_four_sizes_and_reports_its_uncertainty():
    fit, note = fit_power_law([10, 20, 40], [2.6, 2.2, 2.0])
    assert fit is None and "at least 4 sizes" in note
    sizes = [10, 20, 40, 80, 160]
    noisy = [2.0 * n ** -0.5 + 1.0 + d for n, d in zip(sizes, (0.01, -0.01, 0.008, -0.006, 0.004))]
    fit, note = fit_power_law(sizes, noisy)
    assert fit and abs(fit["b"] - 0.5) < 0.2 and all(fit[k] is not None and fit[k] > 0 for k in ("a_se", "b_se", "c_se"))
    md = "\n".join(shape_words({"eval_set": "e", "examples_for_95pct_gain": 40, "power_law": fit, "note": note,
                                "predicted_loss_at_2x": 1.1, "largest": 160}))
    assert f"± {fit['b_se']:.3f}" in md and "at 320 examples" in md
