"""Learning curves: eval loss against the number of training examples, beside a random-rows baseline.

Nested subsets (for each seed, the first n rows of one seeded shuffle, so 50 is inside 100), each trained
from the base model and evaluated on the SAME held-out rows; the base model is the 0-example point. Each
seed draws its own LoRA initialisation and data order, so the interval over seeds covers both. When DATA
is a curate run, the same sizes are also trained on random rows of its raw input. The eval rows are left
out of every arm by content hash, so no arm can train on them (ids differ between the raw input and a
re-read curated.jsonl; content does not).
"""

from __future__ import annotations

import json
import math
import random
import statistics
from dataclasses import dataclass
from pathlib import Path

from schemas.train_config import TrainConfig
from train.errors import NoTrainingRowsError
from train.data import Encoded, encode_all, raw_conversations
from train.heldout import without
from train.loop import evaluate, init_lora, pick_device, train_lora, use_bf16
from train.recipe import Prepared, check_output, lora_model, make_output, prepare


@dataclass
class Point:
    arm: str
    size: int
    seed: int
    eval_loss: float
    steps: int
    tokens_per_s: float


def _t95(k: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, k - 1)) if k > 1 else float("nan")


def summarise(points: list[Point]) -> list[dict]:
    """Mean eval loss, perplexity and a 95% t-interval over seeds, per arm and size (``ci95`` is ``None``
    for a point of one seed: one run says nothing about its spread)."""
    out = []
    for arm in sorted({p.arm for p in points}):
        for size in sorted({p.size for p in points if p.arm == arm}):
            losses = [p.eval_loss for p in points if p.arm == arm and p.size == size]
            mean = statistics.fmean(losses)
            half = _t95(len(losses)) * statistics.stdev(losses) / math.sqrt(len(losses)) if len(losses) > 1 else None
            out.append({"arm": arm, "size": size, "seeds": len(losses), "eval_loss": mean, "ci95": half,
                        "perplexity": math.exp(mean)})
    return out


def fit_power_law(sizes: list[int], losses: list[float], min_sizes: int = 4) -> tuple[dict | None, str]:
    """Fit loss(n) = a * n^-b + c on n > 0: (fit, note). The fit holds each parameter's standard error
    (``a_se``, ``b_se``, ``c_se``, from the fit's covariance); it is ``None``, with a note saying why, when
    there are fewer than ``min_sizes`` sizes or the fit does not converge."""
    import warnings

    import numpy as np
    from scipy.optimize import OptimizeWarning, curve_fit

    pts = [(n, y) for n, y in zip(sizes, losses) if n > 0]
    if len(pts) < max(min_sizes, 4):
        return None, (f"no power-law fit: it needs at least {max(min_sizes, 4)} sizes (three parameters and one "
                      f"degree of freedom for its uncertainty), this curve has {len(pts)}")
    n, y = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            # Bounded: a loss floor c >= 0 and an exponent in [0.05, 2], else few points fit a degenerate line.
            (a, b, c), cov = curve_fit(lambda x, a, b, c: a * np.power(x, -b) + c, n, y,
                                       p0=(max(y[0] - y[-1], 1e-3) * n[0] ** 0.5, 0.5, y[-1] * 0.9),
                                       bounds=([0.0, 0.05, 0.0], [np.inf, 2.0, np.inf]), maxfev=20000)
    except (RuntimeError, ValueError):
        return None, "no power-law fit: it did not converge"
    se = [float(v) if np.isfinite(v) else None for v in np.sqrt(np.abs(np.diag(cov)))]
    fit = {"a": float(a), "b": float(b), "c": float(c), "a_se": se[0], "b_se": se[1], "c_se": se[2]}
    if any(v is None for v in se):
        return fit, "power-law fit without an uncertainty estimate (the covariance could not be estimated)"
    return fit, f"power-law fit on {len(pts)} sizes"


def predict(fit: dict, n: float) -> float:
    return fit["a"] * n ** -fit["b"] + fit["c"]


def knee(base: float, sizes: list[int], losses: list[float], share: float = 0.95) -> int | None:
    """Fewest examples (linear interpolation between measured sizes) reaching ``share`` of the gain the
    largest size achieved over the base model."""
    gain = base - losses[-1]
    if gain <= 0:
        return None
    target = base - share * gain
    prev_n, prev_y = 0, base
    for n, y in zip(sizes, losses):
        if y <= target:
            return int(round(prev_n + (n - prev_n) * (prev_y - target) / max(prev_y - y, 1e-12)))
        prev_n, prev_y = n, y
    return sizes[-1]


def run_curve(data: str | Path, out: Path, cfg: TrainConfig, eval_file: str | Path | None = None,
              say=print) -> dict:
    """Train every (arm, size, seed) point and write ``curve.json``, ``curve.png`` and ``curve.md``."""
    check_output(out, data)
    make_output(out)
    numeric = [int(s) for s in cfg.curve_sizes if s != "all"]
    # Without "all", a random pool of 2x the largest size (rows over max_length are dropped) is enough.
    pool = None if "all" in cfg.curve_sizes or not numeric else 2 * max(numeric) + 100
    prep = prepare(data, cfg, eval_file, pool=pool)
    tok, device = prep.tokenizer, pick_device()
    bf16 = use_bf16(cfg, device)
    if prep.evals is None or not prep.evals.examples:
        raise NoTrainingRowsError(f"{data}: too few rows to hold out an eval set for a curve; pass --eval FILE")
    pad, evals = tok.pad_token_id, prep.evals.examples
    arms = build_arms(prep, data, cfg, pool)
    largest = min(len(examples) for examples in arms.values())
    sizes = sorted({largest if s == "all" else min(int(s), largest) for s in cfg.curve_sizes})
    model, _, _ = lora_model(prep.model_dir, cfg, device)
    with model.disable_adapter():
        base = evaluate(model, evals, pad, device, bf16, cfg.batch_size)
    say(f"base model: eval loss {base:.4f} on {len(evals)} held-out rows")
    points: list[Point] = []
    for arm, examples in arms.items():
        for seed in range(cfg.seed, cfg.seed + cfg.curve_seeds):
            order = list(range(len(examples)))
            random.Random(seed).shuffle(order)
            for size in sizes:
                init_lora(model, seed)  # every point starts from the base model, with this seed's LoRA init
                run_cfg = cfg.model_copy(update={"seed": seed})  # ... and this seed's data order and dropout
                res = train_lora(model, pad, [examples[i] for i in order[:size]], None, run_cfg, device)
                loss = evaluate(model, evals, pad, device, bf16, cfg.batch_size)  # evaluated once, here
                points.append(Point(arm, size, seed, loss, res.steps, res.tokens_per_s))
                say(f"{arm:>15} n={size:<5} seed={seed} eval loss {loss:.4f} ({res.steps} steps, "
                    f"{res.tokens_per_s:,.0f} tokens/s)")
    return write_curve(out, base, points, prep.data_info, cfg)


def build_arms(prep: Prepared, data: str | Path, cfg: TrainConfig, pool: int | None) -> dict[str, list[Encoded]]:
    """The training rows of each arm: the curated rows, and (when DATA is a curate run) random rows of its
    raw input; every eval row, matched by content, is left out of both."""
    arms = {"curated": prep.train.examples}
    run_dir = Path(data)
    if cfg.curve_baseline and (run_dir / "annotated.parquet").is_file():
        raw, removed = without(raw_conversations(run_dir), prep.eval_keys)
        prep.data_info["raw_eval_overlap_removed"] = removed
        if pool is not None and len(raw) > pool:
            raw = random.Random(cfg.seed).sample(raw, pool)
        arms["random raw rows"] = encode_all(prep.tokenizer, raw, cfg.max_length, cfg.truncate).examples
    return arms


def write_curve(out: Path, base: float, points: list[Point], data_info: dict, cfg: TrainConfig) -> dict:
    summary = summarise(points)
    curated = [s for s in summary if s["arm"] == "curated"]
    sizes, losses = [s["size"] for s in curated], [s["eval_loss"] for s in curated]
    fit, note = fit_power_law(sizes, losses, cfg.curve_fit_min_sizes)
    result = {
        "base_eval_loss": base, "base_perplexity": math.exp(base), "summary": summary,
        "points": [p.__dict__ for p in points], "power_law": fit, "power_law_note": note,
        "examples_for_95pct_gain": knee(base, sizes, losses),
        "predicted_loss_at_2x": predict(fit, 2 * sizes[-1]) if fit else None,
        "data": data_info, "config": cfg.model_dump(mode="json"),
    }
    (out / "curve.json").write_text(json.dumps(result, indent=2))
    _plot(out / "curve.png", base, summary, fit)
    (out / "curve.md").write_text(report_markdown(result))
    return result


def _plot(path: Path, base: float, summary: list[dict], fit: dict | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for arm, color in (("curated", "#1f6fb2"), ("random raw rows", "#c0392b")):
        rows = [s for s in summary if s["arm"] == arm]
        if rows:
            ax.plot([0] + [r["size"] for r in rows], [base] + [r["eval_loss"] for r in rows], marker="o",
                    color=color, label=arm)
            ranged = [r for r in rows if r["ci95"] is not None]  # a one-seed point gets no bar
            if ranged:
                ax.errorbar([r["size"] for r in ranged], [r["eval_loss"] for r in ranged],
                            yerr=[r["ci95"] for r in ranged], fmt="none", capsize=3, color=color)
    if fit:
        xs = np.linspace(max(1, min(s["size"] for s in summary)), 2 * max(s["size"] for s in summary), 100)
        ax.plot(xs, predict(fit, xs), "--", color="#1f6fb2", alpha=0.5, label="power-law fit")
    ax.set_xlabel("training examples")
    ax.set_ylabel("held-out eval loss (mean; 95% CI over seeds where > 1)")
    ax.set_title("Learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report_markdown(result: dict) -> str:
    lines = ["# Learning curve", "", f"Base model (0 examples): eval loss {result['base_eval_loss']:.4f} "
             f"(perplexity {result['base_perplexity']:.2f}).", "",
             "| arm | examples | seeds | eval loss | 95% CI | perplexity |", "|---|---|---|---|---|---|"]
    for s in result["summary"]:
        ci = f"±{s['ci95']:.4f}" if s["ci95"] is not None else "n/a (one seed)"
        lines.append(f"| {s['arm']} | {s['size']} | {s['seeds']} | {s['eval_loss']:.4f} | {ci} | "
                     f"{s['perplexity']:.2f} |")
    lines.append("")
    if result["examples_for_95pct_gain"] is not None:
        lines.append(f"The curve flattens around {result['examples_for_95pct_gain']} examples: that many give 95% "
                     "of the gain over the base model that the largest size gives.")
    else:
        lines.append("Training did not improve on the base model: no flattening point.")
    f = result["power_law"]
    if f:
        def pm(name: str) -> str:
            return f"{f[name]:.3f}" + (f" ± {f[name + '_se']:.3f}" if f.get(name + "_se") is not None else "")

        lines.append(f"Power-law fit (± one standard error): loss(n) = ({pm('a')}) * n^-({pm('b')}) + ({pm('c')}); "
                     f"it predicts {result['predicted_loss_at_2x']:.4f} for twice the largest size, an "
                     "extrapolation as uncertain as those errors say.")
    else:
        lines.append(result.get("power_law_note") or "No power-law fit.")
    lines += ["", "![learning curve](curve.png)", ""]
    return "\n".join(lines)


def rerender(out: Path) -> dict:
    """Recompute the summary, fit, plot and report of a finished curve from its ``curve.json``."""
    saved = json.loads((out / "curve.json").read_text())
    points = [Point(**p) for p in saved["points"]]
    return write_curve(out, saved["base_eval_loss"], points, saved["data"], TrainConfig(**saved["config"]))


if __name__ == "__main__":  # python -m train.curve RUN_DIR: re-plot a finished curve without retraining
    import sys

    print(report_markdown(rerender(Path(sys.argv[1]))))
