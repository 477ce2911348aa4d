"""Learning curves that can tell "curation paid" from noise and from answer length.

Every arm (the curated rows, the random and longest baselines, any ``sieve select`` strategy) is trained at
the same sizes with the same seeds from the same base model, and every point is measured on the same rows:

- reference fit: the loss of each ``--eval`` file's reference answers (kept per row);
- defect propensity: the loss of defect continuations (refusals, canned answers, cut-off answers,
  placeholders, wrong-language answers: the rows curate rejected) as answers to held-out prompts, minus
  the reference answer's loss (a shrinking margin means the model learned the defect);
- sampled answers to held-out prompts, checked by curate's own rules.

Each finished point is appended to ``points.jsonl`` at once, so an interrupted curve resumes where it
stopped; ``curve.json``, ``curve.png`` and ``curve.md`` (paired comparisons in words) are rendered from
the points by :mod:`train.curve_report`, again after every size.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from schemas.train_config import TrainConfig
from train.arms import trained_tokens
from train.curve_plan import LADDER, Costs, describe, pick_sizes_and_seeds
from train.curve_setup import CurveInputs, prepare_curve
from train.errors import CheckpointMismatchError, NoTrainingRowsError
from train.evalset import row_losses
from train.loop import init_lora, pick_device, train_lora, use_bf16
from train.recipe import CURVE_FILES, check_output, lora_model, make_output
# curve settings that only choose which points run, not what a point measures: a resumed curve may change them
NOT_FINGERPRINTED = ("sizes", "seeds", "arms", "budget_minutes", "bootstrap", "fit_min_sizes", "baselines")
Hook = Callable[[str, dict], None]


def _settings(cfg: TrainConfig) -> dict:
    data = cfg.model_dump(mode="json")
    data["curve"] = {k: v for k, v in data["curve"].items() if k not in NOT_FINGERPRINTED}
    for key in ("cache_dir", "merge", "save_every", "preflight_rows"):
        data.pop(key, None)
    return data


def _plan_file(out: Path, inputs: CurveInputs, cfg: TrainConfig, overwrite: bool) -> dict:
    """Write (or check) ``curve_plan.json``: what every point of this curve is measured on. A folder that
    holds a curve made with other data, evals or settings is refused unless ``overwrite``."""
    from train.checkpoint import _model_hash

    plan = {"tool": "sieve train --curve", "model": inputs.model_dir, "model_hash": _model_hash(inputs.model_dir),
            "fingerprint": inputs.info["fingerprint"], "settings": _settings(cfg),
            "eval_tokens": {s.name: s.tokens for s in inputs.evals + inputs.defects},
            "eval_sources": {s.name: s.source for s in inputs.evals + inputs.defects},
            "defect_ref_index": {s.name: s.ref_index for s in inputs.defects},
            "eval_sets": [s.name for s in inputs.evals], "defect_sets": [s.name for s in inputs.defects],
            "generation_prompts": len(inputs.prompts), "languages": inputs.languages,
            "data": {k: v for k, v in inputs.info.items() if k != "fingerprint"}, "notes": inputs.notes}
    path = out / "curve_plan.json"
    if overwrite:
        for name in CURVE_FILES:
            (out / name).unlink(missing_ok=True)
    elif path.is_file():
        old = json.loads(path.read_text())
        diffs = [k for k in ("model_hash", "fingerprint", "settings") if old.get(k) != plan[k]]
        if diffs:
            raise CheckpointMismatchError(
                f"{out}: holds a curve made with other {', '.join(diffs)}; pass --overwrite to start afresh, "
                "or choose another -o")
        if old.get("planned"):
            plan["planned"] = old["planned"]  # a budget's plan is kept, so a resumed curve finishes the same one
    _write_json(path, plan)
    return plan


def _write_json(path: Path, data: dict) -> None:
    from curate.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1))


def finished_points(out: Path) -> dict[tuple[str, int, int], dict]:
    """The points already in ``points.jsonl`` (a line cut by a kill is ignored)."""
    done = {}
    path = out / "points.jsonl"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                p = json.loads(line)
            except ValueError:
                continue
            done[(p["arm"], p["size"], p["seed"])] = p
    return done


def _append(out: Path, point: dict) -> None:
    """Append one point; a line cut by a kill is cut off first, so it cannot swallow this one."""
    path = out / "points.jsonl"
    if path.is_file() and path.stat().st_size:
        data = path.read_bytes()
        if not data.endswith(b"\n"):
            with open(path, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(point) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def measure(model, inputs: CurveInputs, cfg: TrainConfig, device: str, bf16: bool, seed: int) -> dict:
    """Every metric of one point: per-row losses of each eval and defect set, and sampled answers. With
    ``bf16`` a bf16 copy of the model does it all (:func:`train.sampling.bf16_copy`: ~1.3x autocast's speed
    for losses, 4x for decoding), the same way at every point, base model included."""
    from train.sampling import bf16_copy, check_answers, sample_answers, summarise_answers

    if bf16:
        model, bf16 = bf16_copy(model), False
    pad = inputs.tok.pad_token_id
    losses = {s.name: row_losses(model, s.examples, pad, device, bf16, cfg.curve.eval_batch_tokens)
              for s in inputs.evals + inputs.defects}
    generation = None
    if inputs.prompts:
        answers = sample_answers(model, inputs.tok, inputs.prompts, device, bf16, seed, cfg.curve.max_new_tokens,
                                 cfg.curve.temperature, cfg.curve.samples_per_prompt)
        generation = summarise_answers(answers, check_answers(inputs.prompts, answers, inputs.languages))
    return {"losses": losses, "generation": generation}


def run_curve(data: str | Path, out: Path, cfg: TrainConfig, eval_files: list[str | Path] | None = None,
              say=print, hook: Hook | None = None, overwrite: bool = False, plan_sizes: bool = False) -> dict:
    """Train and measure every (size, seed, arm) point not yet in ``out``, then write the report.
    ``plan_sizes``: choose sizes and seeds to fit ``cfg.curve.budget_minutes`` (else they are given)."""
    from train.curve_report import write_curve

    hook = hook or (lambda event, payload: None)
    check_output(out, data, kind="curve")
    make_output(out)
    inputs = prepare_curve(data, cfg, list(eval_files or []))
    for note in inputs.notes:
        say(note)
    plan = _plan_file(out, inputs, cfg, overwrite)
    device = pick_device()
    bf16 = use_bf16(cfg, device)
    model, _, _ = lora_model(inputs.model_dir, cfg, device)
    done = finished_points(out)
    started = time.perf_counter()
    if ("base", 0, cfg.seed) not in done:
        with model.disable_adapter():
            base = measure(model, inputs, cfg, device, bf16, cfg.seed)
        done[("base", 0, cfg.seed)] = point = {"arm": "base", "size": 0, "seed": cfg.seed, "rows": 0,
                                               "trained_tokens": 0, "mean_answer_tokens": None,
                                               "seconds": time.perf_counter() - started, **base}
        _append(out, point)
    empty = [name for name, arm in inputs.arms.items() if arm.available(cfg.seed, 1) == 0]
    if empty:
        raise NoTrainingRowsError(f"curve arm(s) {', '.join(empty)}: no row fits max_length {cfg.max_length} "
                                  "once the eval rows are left out")
    costs = _costs(model, inputs, cfg, device, done[("base", 0, cfg.seed)].get("seconds") or 60.0)
    if plan_sizes and plan.get("planned"):
        sizes, seeds = plan["planned"]["sizes"], plan["planned"]["seeds"]
        say(f"resuming the planned curve: sizes {sizes}, {seeds} seeds")
    else:
        sizes, seeds = _sizes_and_seeds(inputs, cfg, costs, plan_sizes, say)
        if plan_sizes:
            plan["planned"] = {"sizes": sizes, "seeds": seeds}
            _write_json(out / "curve_plan.json", plan)
    arm_notes = [f"arm {name}: {note}" for name, arm in inputs.arms.items() for note in arm.notes]
    if arm_notes and not set(arm_notes) <= set(plan["notes"]):
        for note in arm_notes:
            say(note)
        plan["notes"] = list(dict.fromkeys(plan["notes"] + arm_notes))
        _write_json(out / "curve_plan.json", plan)
    todo = [(size, seed, arm) for size in sizes for seed in range(cfg.seed, cfg.seed + seeds) for arm in inputs.arms]
    estimate = {key: costs.point_seconds(key[2], key[0]) for key in todo}
    left = [k for k in todo if (k[2], k[0], k[1]) not in done
            or done[(k[2], k[0], k[1])].get("rows_hash") not in (None, rows_hash(_examples(inputs, cfg, k[2], k[0], k[1])))]
    say(f"{len(todo) - len(left)} of {len(todo)} points already done" if len(left) < len(todo) else
        f"{len(todo)} points to train: sizes {sizes}, {seeds} seeds, arms {', '.join(inputs.arms)}")
    spent, planned = 0.0, 0.0
    for i, (size, seed, arm) in enumerate(left):
        t0 = time.perf_counter()
        point = train_point(model, inputs, cfg, device, bf16, arm, size, seed)
        point["seconds"] = time.perf_counter() - t0
        _append(out, point)
        done[(arm, size, seed)] = point
        spent, planned = spent + point["seconds"], planned + estimate[(size, seed, arm)]
        eta = sum(estimate[k] for k in left[i + 1:]) * (spent / planned if planned else 1.0)
        hook("point", {"done": i + 1, "total": len(left), "eta_s": eta, **_brief(point, inputs)})
        if i + 1 == len(left) or left[i + 1][0] != size:  # a report after every size: a long curve shows early
            write_curve(out, cfg.curve.bootstrap, cfg.curve.fit_min_sizes)
    return write_curve(out, cfg.curve.bootstrap, cfg.curve.fit_min_sizes)


def train_point(model, inputs: CurveInputs, cfg: TrainConfig, device: str, bf16: bool, arm: str, size: int,
                seed: int) -> dict:
    """Train ``arm`` at ``size`` with ``seed`` from the base model, and measure it."""
    examples = _examples(inputs, cfg, arm, size, seed)
    init_lora(model, seed)  # every point starts from the base model, with this seed's LoRA initialisation
    res = train_lora(model, inputs.tok.pad_token_id, examples, None, cfg.model_copy(update={"seed": seed}), device)
    answer_tokens = [trained_tokens(e) for e in examples]
    return {"arm": arm, "size": size, "seed": seed, "rows": len(examples), "rows_hash": rows_hash(examples),
            "trained_tokens": sum(answer_tokens),
            "mean_answer_tokens": sum(answer_tokens) / max(len(examples), 1), "steps": res.steps,
            "train_tokens_per_s": res.tokens_per_s, **measure(model, inputs, cfg, device, bf16, seed)}


def rows_hash(examples) -> str:
    """What a point trained on: a resumed curve retrains a point whose rows would differ now (a strategy
    arm selected for other sizes, say), instead of mixing it with points of another selection."""
    import hashlib

    return hashlib.sha256(json.dumps([e.input_ids for e in examples]).encode()).hexdigest()[:16]


def _examples(inputs: CurveInputs, cfg: TrainConfig, arm: str, size: int, seed: int):
    if cfg.curve.match == "tokens" and arm != "curated":
        target = sum(trained_tokens(e) for e in inputs.arms["curated"].take(seed, rows=size))
        return inputs.arms[arm].take(seed, tokens=target)
    return inputs.arms[arm].take(seed, rows=size)


def _brief(point: dict, inputs: CurveInputs) -> dict:
    first = inputs.evals[0]
    loss = sum(point["losses"][first.name]) / max(sum(first.tokens), 1)
    return {"arm": point["arm"], "size": point["size"], "seed": point["seed"], "eval_loss": loss,
            "seconds": point["seconds"], "rows": point["rows"]}


def _costs(model, inputs: CurveInputs, cfg: TrainConfig, device: str, fixed_s: float) -> Costs:
    """Per-arm row lengths (from the first rows each arm would train on) and the training throughput,
    measured on three real optimizer steps (the adapter is re-initialised before every point anyway)."""
    row_tokens = {}
    for name, arm in inputs.arms.items():
        sample = arm.take(cfg.seed, rows=64)
        row_tokens[name] = sum(len(e.input_ids) for e in sample) / max(len(sample), 1)
    sample = inputs.arms["curated"].take(cfg.seed, rows=cfg.batch_size * cfg.grad_accum * 3)
    init_lora(model, cfg.seed)
    res = train_lora(model, inputs.tok.pad_token_id, sample, None, cfg.model_copy(update={"max_steps": 3}), device)
    return Costs(res.tokens_per_s, fixed_s, row_tokens, cfg.epochs)


def _sizes_and_seeds(inputs: CurveInputs, cfg: TrainConfig, costs: Costs, plan: bool, say) -> tuple[list[int], int]:
    """The sizes (capped at the smallest arm; 'all' is that cap) and seeds: given, or planned to fit the
    time budget (``plan``); with a budget and given sizes, the estimate and a warning when it will not fit."""
    cc = cfg.curve
    for arm in inputs.arms.values():
        arm.take(cfg.seed, rows=0)  # a strategy arm learns its rows when first asked
    numeric = [int(s) for s in cc.sizes if s != "all"]
    if plan and cc.budget_minutes:
        want = LADDER[-1]
    else:
        want = max(len(arm.rows) for arm in inputs.arms.values()) if "all" in cc.sizes else max(numeric)
    capacity = min(arm.available(cfg.seed, want) for arm in inputs.arms.values())  # usable rows, not rows
    sizes = sorted({capacity if s == "all" else min(int(s), capacity) for s in cc.sizes})
    seeds = cc.seeds
    budget_s = cc.budget_minutes * 60 if cc.budget_minutes else None
    if plan and budget_s:
        sizes, seeds, line = pick_sizes_and_seeds(costs, budget_s, capacity)
        say(line)
    say(describe(costs, sizes, seeds, budget_s))
    return sizes, seeds
