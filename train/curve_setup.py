"""What a learning curve is made of, read once before any training: the model and tokenizer, the eval
sets, the defect sets, the prompts to sample answers to, and the arms (with every eval row left out)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from schemas.train_config import TrainConfig
from train.arms import Arm, eval_keys, held_out, ordered_arm, raw_rows, strategy_arm
from train.data import load_conversations, preflight, unreadable_note
from train.defects import continuations, defect_sets, expected_languages
from train.errors import NoTrainingRowsError, TrainUsageError
from train.evalset import EvalSet, encode_set, load_eval_set, user_prompt
from train.heldout import split_eval
from train.model import load_tokenizer, resolve_model_dir


@dataclass
class CurveInputs:
    model_dir: str
    tok: object
    arms: dict[str, Arm]
    evals: list[EvalSet]          # reference fit, one per --eval file (or the held-out split)
    defects: list[EvalSet]        # one per measured defect class; ref_index points into evals[0]
    prompts: list[list[dict]]     # conversations to sample answers to (from evals[0])
    languages: list[str] | None   # the languages the run expected (to check answers against)
    info: dict
    notes: list[str] = field(default_factory=list)


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def run_folder(data: str | Path) -> Path | None:
    path = Path(data)
    return path if path.is_dir() and (path / "annotated.parquet").is_file() else None


def _has_ifd(run_dir: Path) -> bool:
    """Whether the curate run scored any row's IFD (``sieve curate --model-signals``)."""
    import polars as pl

    path = run_dir / "annotated.parquet"
    if "ifd" not in pl.read_parquet_schema(path):
        return False
    return bool(pl.scan_parquet(path).select(pl.col("ifd").is_not_nan().any()).collect().item())


def prepare_curve(data: str | Path, cfg: TrainConfig, eval_files: list[str | Path]) -> CurveInputs:
    """Load and split everything a curve needs. Raises :class:`~train.errors.TrainError`s."""
    cc = cfg.curve
    model_dir = resolve_model_dir(cfg)
    tok = load_tokenizer(model_dir)
    rows, info = load_conversations(data)
    run_dir = run_folder(data)
    if cc.arms and run_dir is None:
        raise TrainUsageError(f"curve arms {cc.arms} select rows from a curate run; {data} is not one")
    if "ifd" in cc.arms and not _has_ifd(run_dir):
        raise TrainUsageError("the ifd arm (--arm ifd): the run has no IFD scores; curate it with --model-signals")
    evals, everything = [], []
    if eval_files:
        names = set()
        for path in eval_files:
            found, all_rows = load_eval_set(path, tok, cfg)
            if found.name in names:
                found.name = f"{found.name}#{len(evals) + 1}"
            names.add(found.name)
            evals.append(found)
            everything += [r["messages"] for r in all_rows]
        info["eval"] = [str(p) for p in eval_files]
    else:
        rows, held = split_eval(rows, min(cfg.eval_size, int(len(rows) * cfg.eval_max_share)), cfg.seed)
        if not held:
            raise NoTrainingRowsError(f"{data}: too few rows to hold out an eval set for a curve; pass --eval FILE")
        evals.append(encode_set("held-out", held, tok, cfg.max_length, cfg.max_eval_rows))
        everything += [r["messages"] for r in held]
        info["eval"] = f"{len(held)} rows of DATA held out by content hash"
    keys = eval_keys(everything)
    rows, info["eval_overlap_removed"] = held_out(rows, keys)
    if not rows:
        raise NoTrainingRowsError(f"{data}: no training rows after leaving out the eval rows")
    info["trained_token_share"] = preflight(tok, rows, cfg.preflight_rows)
    arms = {"curated": ordered_arm("curated", rows, "random", tok, cfg.max_length, "curated", truncate=cfg.truncate)}
    if run_dir is not None and cc.baselines:
        raw, chars = raw_rows(run_dir)
        keep = held_out_positions(raw, keys)
        info["raw_eval_overlap_removed"] = len(raw) - len(keep)
        raw, chars = [raw[i] for i in keep], [chars[i] for i in keep] if chars is not None else None
        arms["random"] = ordered_arm("random", raw, "random", tok, cfg.max_length, "baseline", truncate=cfg.truncate)
        arms["longest"] = ordered_arm("longest", raw, "longest", tok, cfg.max_length, "baseline", chars, cfg.truncate)
    numeric = [s for s in cc.sizes if s != "all"]
    need = (max(numeric) if numeric else len(rows)) * (3 if cc.match == "tokens" else 1) + 50
    for strategy in cc.arms:
        arms[strategy] = strategy_arm(run_dir, strategy, keys, tok, cfg.max_length, need)
    notes: list[str] = [f"warning: {n}" for n in [unreadable_note(info, str(data))] if n]
    texts = continuations(run_dir)
    defects, defect_notes = defect_sets(evals[0], texts, tok, cc.defect_prompts, cc.min_defect_rows, cfg.max_length)
    notes += defect_notes
    prompts = [user_prompt(m) for m in evals[0].rows[:cc.generation_prompts]]
    info["defect_continuations"] = {name: len(pool) for name, pool in texts.items()}
    info["fingerprint"] = {"data": info.get("sha256"), "evals": _sha([[e.input_ids for e in s.examples] for s in evals]),
                           "defects": _sha([[e.input_ids for e in s.examples] for s in defects]),
                           "prompts": _sha(prompts)}
    return CurveInputs(model_dir, tok, arms, evals, defects, prompts, expected_languages(run_dir) or None, info, notes)


def held_out_positions(rows: list[dict], keys: set[str]) -> list[int]:
    """Positions of ``rows`` that are neither an eval row nor ask an eval prompt."""
    kept_ids = {id(r) for r in held_out(rows, keys)[0]}
    return [i for i, r in enumerate(rows) if id(r) in kept_ids]
