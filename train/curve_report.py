"""A learning curve's report, rendered from its ``curve_plan.json`` and ``points.jsonl`` alone (so
``sieve curve render`` redraws it without a model): ``curve.json``, ``curve.png`` and ``curve.md``.

Primary comparisons are named before any run: curated against each baseline (random, longest) at the
largest size, on the reference fit of every eval file and on the refusal margin. Only their 95% interval
decides a sentence such as "curated beats random at 200 examples". Every other comparison (other sizes,
other arms, other defect classes, sampled-answer defect rates) is exploratory, with Holm-adjusted p-values.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from train.curve_plot import plot_curve
from train.stats import Comparison, holm, paired_bootstrap, pearson, t_interval

PRIMARY_BASELINES = ("random", "longest")


def load(out: Path) -> tuple[dict, list[dict]]:
    from train.curve import finished_points

    plan = json.loads((out / "curve_plan.json").read_text())
    return plan, list(finished_points(out).values())


def metric_rows(plan: dict, point: dict) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Per metric: (per-row values, row weights, which direction is better) for one point."""
    out = {}
    tokens = plan["eval_tokens"]
    for name in plan["eval_sets"]:
        tok = np.asarray(tokens[name], float)
        out[f"fit:{name}"] = (np.asarray(point["losses"][name]) / np.maximum(tok, 1), tok, "lower")
    ref = plan["eval_sets"][0]
    ref_loss = np.asarray(point["losses"][ref]) / np.maximum(np.asarray(tokens[ref], float), 1)
    for name in plan["defect_sets"]:
        idx = plan["defect_ref_index"][name]
        own = np.asarray(point["losses"][name]) / np.maximum(np.asarray(tokens[name], float), 1)
        out[f"margin:{name.split(':', 1)[1]}"] = (own - ref_loss[idx], np.ones(len(idx)), "higher")
    gen = point.get("generation")
    if gen and gen.get("flagged_rows"):
        rows = np.asarray(gen["flagged_rows"], float)
        out["flagged"] = (rows, np.ones(len(rows)), "lower")
    return out


def point_value(values: np.ndarray, weights: np.ndarray) -> float:
    return float((values * weights).sum() / max(weights.sum(), 1e-12))


def summarise(plan: dict, points: list[dict]) -> list[dict]:
    """Mean over seeds of every metric per (arm, size), with 95% t-intervals."""
    rows = []
    for arm, size in sorted({(p["arm"], p["size"]) for p in points}, key=lambda k: (k[1], k[0])):
        group = [p for p in points if p["arm"] == arm and p["size"] == size]
        metrics = {}
        for p in group:
            for name, (v, w, _) in metric_rows(plan, p).items():
                metrics.setdefault(name, []).append(point_value(v, w))
        gen = [p["generation"] for p in group if p.get("generation")]
        row = {"arm": arm, "size": size, "seeds": len(group),
               "rows": statistics.fmean(p["rows"] for p in group),
               "trained_tokens": statistics.fmean(p["trained_tokens"] for p in group),
               "mean_answer_tokens": (statistics.fmean(p["mean_answer_tokens"] for p in group)
                                      if group[0].get("mean_answer_tokens") is not None else None),
               "metrics": {k: {"mean": statistics.fmean(v), "ci95": t_interval(v)} for k, v in metrics.items()}}
        if gen:
            row["generation"] = {"capped": statistics.fmean(g["capped"] for g in gen),
                                 "answer_tokens": statistics.fmean(g["mean_tokens"] for g in gen),
                                 "per_reason": _mean_reasons(gen)}
        rows.append(row)
    return rows


def _mean_reasons(gens: list[dict]) -> dict[str, float]:
    codes = sorted({c for g in gens for c in g["per_reason"]})
    return {c: statistics.fmean(g["per_reason"].get(c, 0.0) for g in gens) for c in codes}


def compare(plan: dict, points: list[dict], resamples: int = 2000) -> list[Comparison]:
    """Every arm against ``curated`` at every size and metric, paired by eval row and seed index."""
    by_key = {(p["arm"], p["size"], p["seed"]): p for p in points}
    sizes = sorted({p["size"] for p in points if p["arm"] != "base"})
    arms = sorted({p["arm"] for p in points} - {"base", "curated"})
    largest = sizes[-1] if sizes else None
    found: list[Comparison] = []
    for size in sizes:
        for arm in arms:
            seeds = sorted(s for (a, n, s) in by_key if a == arm and n == size and ("curated", size, s) in by_key)
            if not seeds:
                continue
            mine = [metric_rows(plan, by_key[("curated", size, s)]) for s in seeds]
            theirs = [metric_rows(plan, by_key[(arm, size, s)]) for s in seeds]
            for metric in mine[0]:
                if any(metric not in t or len(t[metric][0]) != len(mine[0][metric][0]) for t in theirs + mine):
                    continue
                a = np.stack([m[metric][0] for m in mine])
                b = np.stack([t[metric][0] for t in theirs])
                diff, low, high, p = paired_bootstrap(a, b, mine[0][metric][1], resamples)
                primary = (size == largest and arm in PRIMARY_BASELINES
                           and (metric.startswith("fit:") or metric == "margin:refusal"))
                found.append(Comparison(metric, size, "curated", arm, diff, low, high, p, mine[0][metric][2], primary))
    exploratory = [c for c in found if not c.primary]
    for c, adjusted in zip(exploratory, holm([c.p for c in exploratory])):
        c.p_holm = adjusted
    return found


def length_correlation(plan: dict, points: list[dict]) -> dict[str, dict]:
    """Per eval set: Pearson r of a point's mean training-answer length with its reference loss, over all
    trained points and over the points of the largest size."""
    trained = [p for p in points if p["arm"] != "base" and p.get("mean_answer_tokens") is not None]
    out = {}
    if not trained:
        return out
    largest = max(p["size"] for p in trained)
    for name in plan["eval_sets"]:
        def loss(p):
            return sum(p["losses"][name]) / max(sum(plan["eval_tokens"][name]), 1)
        at = [p for p in trained if p["size"] == largest]
        out[name] = {"all_points": pearson([p["mean_answer_tokens"] for p in trained], [loss(p) for p in trained]),
                     "points": len(trained), "largest_size": pearson([p["mean_answer_tokens"] for p in at],
                                                                      [loss(p) for p in at]), "largest_points": len(at)}
    return out


def curve_shape(plan: dict, summary: list[dict], min_sizes: int = 4) -> dict:
    """The curated arm's reference fit on the first eval set: where it flattens and a power-law fit."""
    from train.curve_fit import fit_power_law, knee, predict

    key = f"fit:{plan['eval_sets'][0]}"
    base = next((r["metrics"][key]["mean"] for r in summary if r["arm"] == "base" and key in r["metrics"]), None)
    rows = sorted((r for r in summary if r["arm"] == "curated" and key in r["metrics"]), key=lambda r: r["size"])
    sizes, losses = [r["size"] for r in rows], [r["metrics"][key]["mean"] for r in rows]
    if base is None or not rows:
        return {"eval_set": plan["eval_sets"][0], "power_law": None, "note": "no curated points yet"}
    fit, note = fit_power_law(sizes, losses, min_sizes)
    return {"eval_set": plan["eval_sets"][0], "examples_for_95pct_gain": knee(base, sizes, losses),
            "power_law": fit, "note": note, "predicted_loss_at_2x": predict(fit, 2 * sizes[-1]) if fit else None,
            "largest": sizes[-1]}


def write_curve(out: Path, resamples: int = 2000, fit_min_sizes: int = 4) -> dict:
    """Render ``curve.json``, ``curve.png`` and ``curve.md`` from the folder's plan and points
    (``resamples``: bootstrap resamples per comparison)."""
    from train.curve_words import report_markdown

    plan, points = load(out)
    summary = summarise(plan, points)
    comparisons = compare(plan, points, resamples)
    result = {"plan": {k: v for k, v in plan.items() if k not in ("eval_tokens", "defect_ref_index")},
              "summary": summary, "shape": curve_shape(plan, summary, fit_min_sizes), "comparisons": [c.__dict__ | {"favours": c.favours} for c in comparisons],
              "length_correlation": length_correlation(plan, points),
              "points": [_brief_point(p) for p in points]}
    _write(out / "curve.json", json.dumps(result, indent=1))
    plot_curve(out / "curve.png", plan, summary)
    _write(out / "curve.md", report_markdown(result))
    return result


def _brief_point(point: dict) -> dict:
    """A point without its per-row losses and answer texts (those stay in points.jsonl)."""
    gen = point.get("generation")
    brief = {k: v for k, v in point.items() if k not in ("losses", "generation")}
    if gen:
        brief["generation"] = {k: v for k, v in gen.items() if k not in ("texts", "reasons", "flagged_rows")}
    return brief


def _write(path: Path, text: str) -> None:
    from curate.atomic import atomic_write_text

    atomic_write_text(path, text)
