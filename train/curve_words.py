"""``curve.md``: the learning curve in words. Tables of every metric, then the primary comparisons as
sentences that claim a difference only when the 95% interval excludes zero, then the exploratory ones."""

from __future__ import annotations

METRIC_WORDS = {"fit": "reference fit on {}", "margin": "{} margin", "flagged": "sampled answers flagged"}


def metric_words(metric: str) -> str:
    kind, _, name = metric.partition(":")
    return METRIC_WORDS.get(kind, metric).format(name)


def _num(value, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ci(m: dict | None) -> str:
    if not m:
        return "n/a"
    return f"{m['mean']:.4f}" + (f" ± {m['ci95']:.4f}" if m.get("ci95") is not None else "")


def sentence(c: dict) -> str:
    """One primary comparison in words."""
    what = metric_words(c["metric"])
    numbers = f"{c['diff']:+.4f} (95% interval {c['low']:+.4f} to {c['high']:+.4f}; curated minus {c['other']})"
    if c["favours"] == "curated":
        return f"- **curated beats {c['other']} at {c['size']} examples** on {what}: {numbers}."
    if c["favours"] == c["other"]:
        return f"- **{c['other']} beats curated at {c['size']} examples** on {what}: {numbers}."
    return f"- The data does not show a difference between curated and {c['other']} at {c['size']} examples on {what}: {numbers}."


def report_markdown(result: dict) -> str:
    plan, summary = result["plan"], result["summary"]
    metrics = list(dict.fromkeys(k for row in summary for k in row["metrics"]))
    lines = ["# Learning curve", "",
             f"Model `{plan['model']}`; eval sets: " + ", ".join(f"`{n}` ({plan['eval_sources'].get(n, '')})"
                                                               for n in plan["eval_sets"]) + ".",
             "Defect classes measured: " + (", ".join(f"{n.split(':', 1)[1]} ({plan['eval_sources'][n]})"
                                                       for n in plan["defect_sets"]) or "none") + ".",
             f"Sampled answers per point: {plan['generation_prompts']} prompts at temperature "
             f"{plan['settings']['curve']['temperature']}, checked by curate's rules (answers that hit the "
             f"{plan['settings']['curve']['max_new_tokens']}-token cap are counted apart).", ""]
    lines += ["| arm | examples | seeds | trained tokens | answer tokens/row | " + " | ".join(metric_words(m) for m in metrics)
              + " | answers capped | answer tokens |",
              "|" + "---|" * (7 + len(metrics))]
    for row in summary:
        gen = row.get("generation") or {}
        lines.append(f"| {row['arm']} | {row['size']} | {row['seeds']} | {row['trained_tokens']:,.0f} | "
                     f"{_num(row['mean_answer_tokens'], 1)} | "
                     + " | ".join(_ci(row["metrics"].get(m)) for m in metrics)
                     + f" | {_num(gen.get('capped'), 3)} | {_num(gen.get('answer_tokens'), 1)} |")
    lines += ["", "Means over seeds ± half a 95% t-interval. Reference fit: loss per assistant token of the reference "
              "answers (lower is better). Margin: loss of the defect continuation minus the reference's, per prompt "
              "(higher is better: the model finds the defect less likely).", ""]
    lines += ["## Primary comparisons", "",
              "Named before the run: curated against each baseline at the largest size, on reference fit and on "
              "the refusal margin. Paired by eval row and seed; 95% percentile bootstrap over both.", ""]
    primary = [c for c in result["comparisons"] if c["primary"]]
    lines += [sentence(c) for c in primary] or ["- none (the run has no baseline arms, or no trained points yet)"]
    lines += ["", "## Shape of the curated curve", ""] + shape_words(result.get("shape") or {})
    lines += ["", "## Length and loss", ""]
    for name, r in result["length_correlation"].items():
        lines.append(f"- `{name}`: Pearson r between a point's mean training-answer length and its reference loss = "
                     f"{_num(r['all_points'], 2)} over {r['points']} trained points ({_num(r['largest_size'], 2)} at the "
                     f"largest size, {r['largest_points']} points). Near -1: loss is tracking answer length, not quality.")
    lines += ["", "## Exploratory comparisons", "",
              "Every other size, arm and metric; p-values adjusted with Holm's method over all of them (the "
              "family is large, so an unadjusted 95% interval would exclude zero by chance in about 1 of 20).", "",
              "| size | curated vs | metric | difference | 95% interval | p (Holm) |", "|---|---|---|---|---|---|"]
    for c in (c for c in result["comparisons"] if not c["primary"]):
        lines.append(f"| {c['size']} | {c['other']} | {metric_words(c['metric'])} | {c['diff']:+.4f} | "
                     f"{c['low']:+.4f} to {c['high']:+.4f} | {c['p_holm']:.3f} |")
    reasons = _reason_table(summary)
    if reasons:
        lines += ["", "## Sampled answers flagged, per reason (share of answers)", ""] + reasons
    notes = plan.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += ["", "![learning curve](curve.png)", ""]
    return "\n".join(lines)


def shape_words(shape: dict) -> list[str]:
    """Where the curated curve flattens, and its power-law fit with each parameter's standard error."""
    lines = []
    if shape.get("examples_for_95pct_gain") is not None:
        lines.append(f"- On `{shape['eval_set']}`, {shape['examples_for_95pct_gain']} examples give 95% of the gain "
                     "over the base model that the largest size gives.")
    elif "examples_for_95pct_gain" in shape:
        lines.append(f"- On `{shape['eval_set']}`, training did not improve on the base model: no flattening point.")
    f = shape.get("power_law")
    if f:
        def pm(name: str) -> str:
            return f"{f[name]:.3f}" + (f" ± {f[name + '_se']:.3f}" if f.get(name + "_se") is not None else "")

        lines.append(f"- Power-law fit (± one standard error): loss(n) = ({pm('a')}) * n^-({pm('b')}) + ({pm('c')}); it "
                     f"predicts {shape['predicted_loss_at_2x']:.4f} at {2 * shape['largest']} examples, an extrapolation "
                     "as uncertain as those errors say.")
    elif shape.get("note"):
        lines.append(f"- {shape['note'][0].upper() + shape['note'][1:]}.")
    return lines


def _reason_table(summary: list[dict]) -> list[str]:
    codes = sorted({c for r in summary for c in (r.get("generation") or {}).get("per_reason", {})})
    if not codes:
        return []
    out = ["| arm | examples | " + " | ".join(codes) + " |", "|---|---|" + "---|" * len(codes)]
    for r in summary:
        per = (r.get("generation") or {}).get("per_reason", {})
        out.append(f"| {r['arm']} | {r['size']} | " + " | ".join(f"{per.get(c, 0):.3f}" for c in codes) + " |")
    return out
