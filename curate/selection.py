"""``sieve select``: a training set at a fixed budget, chosen from the rows a run approved.

The pool is what training would read from the run (:func:`train.data.load_conversations`: the review
store's approved rows when there is one, else ``curated.jsonl``), joined by Sieve id with the run's
``annotated.parquet`` for the scores. Strategies order the pool; the budget (rows, or tokens counted with
the training model's tokenizer) cuts the ordered list:

- ``random``: a seeded shuffle (the baseline every other strategy must beat);
- ``quality``: Sieve's composite quality score, best first;
- ``ifd``: the highest IFD below 1 first (Cherry LLM: hard, yet helped by its prompt; IFD >= 1 means the
  prompt does not help, so those rows are left out); needs ``sieve curate --model-signals``;
- ``longest``: the longest responses first among rows that fit the training length ("Long Is More");
- ``diverse``: k-center greedy on MiniLM embeddings of prompt and response: start from the best row, then
  always the row farthest from everything chosen (covers the data's range of tasks);
- ``deita``: rows by score (IFD below 1 when the run has model signals, else quality), skipping a row
  whose nearest chosen row is closer than ``deita_max_similarity`` (DEITA's score-first, diversity-filtered
  selection).

A strategy that needs a score uses only the rows that have one and says how many it left out.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from curate.errors import SieveError

STRATEGIES = ("random", "quality", "ifd", "longest", "diverse", "deita")


class SelectError(SieveError):
    """A selection that cannot be made as asked (unknown strategy, bad budget, no scores)."""


@dataclass(frozen=True)
class Budget:
    rows: int | None = None
    tokens: int | None = None

    @classmethod
    def parse(cls, text: str) -> Budget:
        """``"500"`` (rows) or ``"50k-tokens"`` / ``"200000-tokens"`` (tokens)."""
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([km]?)(?:\s*-?\s*(tokens?))?\s*", text.lower())
        if not m:
            raise SelectError(f"--budget {text!r}: expected a row count (500) or a token budget (50k-tokens)")
        value = float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2)]
        if not m.group(3) and value != int(value):
            raise SelectError(f"--budget {text!r}: a row count is a whole number")
        if value < 1:
            raise SelectError(f"--budget {text!r}: must be at least 1")
        return cls(tokens=int(value)) if m.group(3) else cls(rows=int(value))


@dataclass
class Selection:
    rows: list[dict]  # {"id", "messages", "tokens"} in selection order
    strategy: str
    budget: Budget
    seed: int
    pool: int
    without_score: int
    notes: list[str] = field(default_factory=list)
    score: str | None = None
    tokenizer: str = ""
    max_length: int = 0

    @property
    def tokens(self) -> int:
        return sum(r["tokens"] for r in self.rows)


def pool(run_dir: Path) -> pl.DataFrame:
    """The approved rows of a run with their scores: ``id``, ``messages``, ``quality``, ``ifd`` (null
    without model signals) and ``response_chars``."""
    from train.data import load_conversations

    rows, _ = load_conversations(run_dir)
    ann = pl.read_parquet(run_dir / "annotated.parquet")
    # one score row per id (two input files with one name can give two rows one id; prefer the kept one)
    scores = (ann.sort(pl.col("verdict") != "keep").unique("id", keep="first", maintain_order=True)
              .select("id", "row_idx", "quality", "response_chars",
                      ifd=pl.col("ifd") if "ifd" in ann.columns else pl.lit(None, pl.Float64)))
    base = pl.DataFrame({"id": [r["id"] for r in rows], "_i": list(range(len(rows)))},
                        schema={"id": pl.String, "_i": pl.Int64})
    joined = base.join(scores, on="id", how="left", maintain_order="left")
    return joined.with_columns(messages=pl.Series([r["messages"] for r in rows], dtype=pl.Object))


def order(frame: pl.DataFrame, strategy: str, seed: int, fits: pl.Series | None = None) -> tuple[list[int], int]:
    """Row positions of ``frame`` in selection order for ``strategy``, and how many rows it left out for
    lack of a score. Ties are broken by id, so the same seed always gives the same order."""
    if strategy not in STRATEGIES:
        raise SelectError(f"--strategy {strategy!r}: one of {', '.join(STRATEGIES)}")
    idx = frame.with_row_index("_pos")
    if strategy == "random":
        positions = sorted(idx["_pos"].to_list(), key=lambda p: idx["id"][p])
        random.Random(seed).shuffle(positions)
        return positions, 0
    if strategy == "quality":
        scored = idx.filter(pl.col("quality").is_not_null())
        return scored.sort(["quality", "id"], descending=[True, False])["_pos"].to_list(), idx.height - scored.height
    if strategy == "ifd":
        scored = idx.filter(pl.col("ifd").is_not_null() & pl.col("ifd").is_not_nan())
        if scored.height == 0:
            raise SelectError("--strategy ifd: the run has no IFD scores; curate it with --model-signals")
        useful = scored.filter(pl.col("ifd") < 1)
        return useful.sort(["ifd", "id"], descending=[True, False])["_pos"].to_list(), idx.height - scored.height
    if strategy == "longest":
        long = idx if fits is None else idx.filter(fits)
        return long.sort(["response_chars", "id"], descending=[True, False])["_pos"].to_list(), 0
    # diverse and deita start from the best rows; the embedding step then reorders or filters them
    has_ifd = idx["ifd"].is_not_null().any()
    if strategy == "deita" and has_ifd:
        scored = idx.filter(pl.col("ifd").is_not_null() & (pl.col("ifd") < 1))
        return scored.sort(["ifd", "id"], descending=[True, False])["_pos"].to_list(), int(idx["ifd"].null_count())
    return idx.sort(["quality", "id"], descending=[True, False], nulls_last=True)["_pos"].to_list(), 0


def select(run_dir: str | Path, strategy: str, budget: Budget, seed: int = 0, max_length: int | None = None,
           tokenizer=None, deita_max_similarity: float = 0.9, cache_dir: Path | None = None,
           model: str | None = None) -> Selection:
    """Choose rows of ``run_dir`` (see the module docstring). Tokens are counted with ``tokenizer`` or the
    tokenizer of ``model`` (the training default when None, loaded without its weights); rows longer than
    ``max_length`` (training's default when None) are never chosen, since training would drop them.
    Raises :class:`SelectError`."""
    from schemas.train_config import TrainConfig

    tcfg = TrainConfig(**({"model": model} if model else {}))
    max_length = tcfg.max_length if max_length is None else max_length
    from train.data import token_counts

    run_dir = Path(run_dir)
    if not (run_dir / "annotated.parquet").is_file():
        raise SelectError(f"{run_dir}: not a sieve curate run folder (no annotated.parquet)")
    frame = pool(run_dir)
    tok = tokenizer or _training_tokenizer(tcfg)
    frame = frame.with_columns(tokens=pl.Series(token_counts(tok, frame["messages"].to_list()), dtype=pl.Int64))
    fits = frame["tokens"].is_not_null() & (frame["tokens"] <= max_length)
    positions, missing = order(frame, strategy, seed, fits if strategy == "longest" else None)
    too_long = [p for p in positions if not fits[p]]
    positions = [p for p in positions if fits[p]]  # training drops longer rows: never spend budget on them
    if strategy in ("diverse", "deita"):
        # a token budget: about as many rows as it can hold (twice the median row), not the whole pool
        typical = frame["tokens"].drop_nulls().median() or 1
        want = budget.rows or min(len(positions), int(2 * budget.tokens / typical) + 10)
        positions = _by_embedding(frame, positions, strategy, Budget(rows=want), deita_max_similarity,
                                  cache_dir or _run_cache_dir(run_dir), run_dir)
    chosen, total = [], 0
    for p in positions:
        n_tok = frame["tokens"][p]
        if n_tok is None:
            continue
        if budget.rows is not None and len(chosen) >= budget.rows:
            break
        if budget.tokens is not None and total + n_tok > budget.tokens:
            continue  # a shorter row further down may still fit
        chosen.append({"id": frame["id"][p], "messages": [dict(m) for m in frame["messages"][p]], "tokens": n_tok})
        total += n_tok
    notes = []
    if missing:
        notes.append(f"{missing:,} of {frame.height:,} rows have no {score_name(frame, strategy)} score and were "
                     "not considered")
    if too_long:
        notes.append(f"{len(too_long):,} rows longer than {max_length} tokens were not considered (training drops them)")
    if score_name(frame, strategy) == "ifd":
        notes.append("rows with IFD >= 1 (the prompt does not help) were left out")
    if budget.rows is not None and len(chosen) < budget.rows:
        notes.append(f"only {len(chosen):,} rows qualified for a budget of {budget.rows:,}")
    return Selection(rows=chosen, strategy=strategy, budget=budget, seed=seed, pool=frame.height,
                     without_score=missing, notes=notes, score=score_name(frame, strategy),
                     tokenizer=getattr(tok, "name_or_path", str(tok)), max_length=max_length)


def score_name(frame: pl.DataFrame, strategy: str) -> str | None:
    """The score a strategy orders by on this run (``deita`` uses IFD when the run has it)."""
    if strategy == "deita":
        return "ifd" if frame["ifd"].is_not_null().any() else "quality"
    return {"quality": "quality", "ifd": "ifd", "longest": "response_chars", "diverse": "quality"}.get(strategy)


def _run_cache_dir(run_dir: Path) -> Path | None:
    """The cache folder the run was curated with (its manifest's config), for its embeddings."""
    try:
        man = json.loads((run_dir / "manifest.json").read_text())
        return Path(man["config"]["model_signals"]["cache_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _by_embedding(frame: pl.DataFrame, positions: list[int], strategy: str, budget: Budget,
                  max_similarity: float, cache_dir: Path | None, run_dir: Path) -> list[int]:
    """``diverse``: k-center greedy order over ``positions``; ``deita``: ``positions`` without rows too close
    to one kept before them. The run's ``embeddings.npy`` (``sieve curate --semantic``) when it has one,
    else MiniLM embeddings of the user and assistant turns (cached; a shared system prompt is left out, it
    would make every row look alike)."""
    import numpy as np

    vecs = _run_embeddings(frame, positions, run_dir)
    if vecs is None:
        from curate.embeddings import embed
        from schemas.config import ModelSignalsConfig

        msgs = frame["messages"].to_list()
        texts = ["\n".join(m["content"] for m in msgs[p] if m["role"] != "system") for p in positions]
        vecs, _ = embed(texts, cache_dir or ModelSignalsConfig().cache_dir)
    limit = budget.rows or len(positions)
    if strategy == "diverse":
        if not positions:
            return []
        picked = [0]
        far = 1 - vecs @ vecs[0]
        far[0] = -np.inf
        while len(picked) < min(limit, len(positions)):
            nxt = int(np.argmax(far))
            if not np.isfinite(far[nxt]):
                break
            picked.append(nxt)
            far = np.minimum(far, 1 - vecs @ vecs[nxt])
            far[picked] = -np.inf  # a chosen row is never chosen again
        chosen = set(picked)
        return [positions[i] for i in picked] + [positions[i] for i in range(len(positions)) if i not in chosen]
    kept: list[int] = []
    for i in range(len(positions)):
        if kept and float(np.max(vecs[kept] @ vecs[i])) > max_similarity:
            continue
        kept.append(i)
        if budget.rows is not None and len(kept) >= budget.rows:
            break
    return [positions[i] for i in kept]


def _run_embeddings(frame: pl.DataFrame, positions: list[int], run_dir: Path):
    """Rows of the run's ``embeddings.npy`` (one per input row, by ``row_idx``) for ``positions``, or None."""
    import numpy as np

    path = run_dir / "embeddings.npy"
    if not path.is_file() or frame["row_idx"].null_count():
        return None
    table = np.load(path, mmap_mode="r")
    rows = frame["row_idx"].to_numpy()[positions]
    if len(rows) and rows.max() >= len(table):
        return None
    return np.asarray(table[rows], dtype=np.float32)


def _training_tokenizer(tcfg):
    from train.model import load_tokenizer, resolve_model_dir

    return load_tokenizer(resolve_model_dir(tcfg))


def write_selection(sel: Selection, out: Path, run_dir: Path) -> dict:
    """``selected.jsonl`` (messages + Sieve id) and ``manifest.json`` in ``out``; returns the manifest.
    Raises :class:`curate.errors.OutputError`, naming ``-o``, for an ``out`` that is a file or not writable."""
    from curate.atomic import atomic_write_text
    from curate.run_folder import prepare_output

    prepare_output(out)
    lines = "".join(json.dumps({"messages": r["messages"], "sieve": {"id": r["id"]}}, ensure_ascii=False) + "\n"
                    for r in sel.rows)
    atomic_write_text(out / "selected.jsonl", lines)
    man = {"tool": "sieve select", "run": str(run_dir), "strategy": sel.strategy, "seed": sel.seed,
           "budget": {"rows": sel.budget.rows, "tokens": sel.budget.tokens}, "tokenizer": sel.tokenizer,
           "max_length": sel.max_length,
           "selected": len(sel.rows), "tokens": sel.tokens, "pool": sel.pool, "without_score": sel.without_score,
           "scores_used": ([sel.score] if sel.score else []) + (["embedding"] if sel.strategy in ("diverse", "deita")
                                                                 else []),
           "notes": sel.notes, "ids": [r["id"] for r in sel.rows]}
    atomic_write_text(out / "manifest.json", json.dumps(man, indent=2, ensure_ascii=False))
    return man
