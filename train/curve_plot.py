"""``curve.png``: one panel per metric (reference fit per eval file, margin per defect class, sampled
answers flagged, their length), each against training examples, and reference fit against trained
assistant tokens (the second x-axis: an arm with longer answers trains on more tokens per example)."""

from __future__ import annotations

import math
from pathlib import Path

COLORS = {"curated": "#1f6fb2", "random": "#c0392b", "longest": "#e67e22", "quality": "#27ae60", "ifd": "#8e44ad",
          "diverse": "#16a085", "deita": "#7f8c8d"}
TITLES = {"fit": "reference fit: loss on {} (lower is better)", "margin": "{} margin: defect loss - reference (higher is better)"}


def _panels(plan: dict) -> list[tuple[str, str, str]]:
    """(key, title, x axis) of every panel."""
    out = [(f"fit:{n}", TITLES["fit"].format(n), "examples") for n in plan["eval_sets"]]
    out += [(f"margin:{n.split(':', 1)[1]}", TITLES["margin"].format(n.split(":", 1)[1]), "examples")
            for n in plan["defect_sets"]]
    if plan.get("generation_prompts"):
        out += [("flagged", "sampled answers flagged by curate rules (share)", "examples"),
                ("answer_tokens", "sampled answer length (tokens)", "examples")]
    out.append((f"fit:{plan['eval_sets'][0]}", f"reference fit on {plan['eval_sets'][0]} vs trained tokens", "tokens"))
    return out


def _value(row: dict, key: str) -> tuple[float | None, float | None]:
    if key == "answer_tokens":
        gen = row.get("generation")
        return (gen["answer_tokens"], None) if gen else (None, None)
    m = row["metrics"].get(key)
    return (m["mean"], m["ci95"]) if m else (None, None)


def plot_curve(path: Path, plan: dict, summary: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(plan)
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), dpi=90, squeeze=False)
    base = next((r for r in summary if r["arm"] == "base"), None)
    arms = [a for a in dict.fromkeys(r["arm"] for r in summary) if a != "base"]
    for ax, (key, title, xaxis) in zip(axes.flat, panels):
        for arm in arms:
            pts = sorted((r for r in summary if r["arm"] == arm), key=lambda r: r["size"])
            xs, ys, errs = [], [], []
            if base is not None and _value(base, key)[0] is not None:
                xs.append(0)
                ys.append(_value(base, key)[0])
                errs.append(0.0)
            for r in pts:
                y, ci = _value(r, key)
                if y is None:
                    continue
                xs.append(r["trained_tokens"] if xaxis == "tokens" else r["size"])
                ys.append(y)
                errs.append(ci or 0.0)
            if len(xs) > (1 if base is not None else 0):
                ax.errorbar(xs, ys, yerr=errs, marker="o", ms=3, capsize=3, label=arm, color=COLORS.get(arm))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("trained assistant tokens" if xaxis == "tokens" else "training examples", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.45 / (3.6 * rows)),
                   ncol=len(labels), fontsize=9, frameon=False)
    fig.suptitle("Learning curve (mean over seeds, 95% interval; 0 examples = the base model)", y=0.995, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / (3.6 * rows)))
    fig.savefig(path)
    plt.close(fig)
