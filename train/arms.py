"""The arms of a learning curve: which rows each one trains on, at every size and seed.

- ``curated``: the rows DATA holds (a curate run's kept rows, or its review store's approved ones), drawn
  in a seeded random order;
- ``random`` and ``longest``: the baselines, drawn from the run's raw input: a seeded random order, and the
  longest responses first ("Long Is More"), among rows that fit ``max_length``;
- any ``sieve select`` strategy (``quality``, ``ifd``, ``diverse``, ``deita``): the order that strategy
  gives on the run, from :func:`curate.selection.select` (the same code ``sieve select`` runs).

Every arm leaves out each eval row, matched by content, and each row asked an eval prompt, so no arm
trains on its own test. Subsets are nested: for one seed, size 50 is the first 50 rows of the order that
size 100 takes 100 from. Rows are encoded lazily, as far down the order as a point needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from train.data import IGNORE, Encoded, encode
from train.heldout import content_key


def trained_tokens(e: Encoded) -> int:
    return sum(lab != IGNORE for lab in e.labels)


def prefix_keys(messages: list[dict]) -> set[str]:
    """Content keys of every prefix of a conversation's non-system turns: its first user turn, its first
    exchange, and so on up to the whole conversation. A system prompt is left out, so it cannot hide a
    copied exchange."""
    turns = [m for m in messages if m["role"] != "system"]
    return {content_key(turns[:k]) for k in range(1, len(turns) + 1)}


def held_out(rows: list[dict], keys: set[str]) -> tuple[list[dict], int]:
    """``rows`` less those sharing any prefix with an eval conversation (``keys`` from :func:`eval_keys`):
    a copy of an eval row, a row asking an eval prompt, a row that continues an eval exchange or starts
    with one, with or without a system prompt; and how many were left out."""
    kept = [r for r in rows if not prefix_keys(r["messages"]) & keys]
    return kept, len(rows) - len(kept)


def eval_keys(conversations: list[list[dict]]) -> set[str]:
    """The prefix keys of every eval conversation."""
    keys: set[str] = set()
    for msgs in conversations:
        keys |= prefix_keys(msgs)
    return keys


@dataclass
class Arm:
    """One arm: its rows and, per seed, the order they are drawn in (positions into ``rows``)."""

    name: str
    rows: list[dict]
    order_for: Callable[[int], list[int]]
    tok: object
    max_length: int
    kind: str = "arm"
    notes: list[str] = field(default_factory=list)
    truncate: bool = False  # as training: rows over max_length are dropped unless this cuts them
    _walked: dict = field(default_factory=dict)  # seed -> (encoded rows so far, next position)
    _orders: dict = field(default_factory=dict)  # seed -> its order

    def _extend(self, seed: int, enough: Callable[[list[Encoded]], bool]) -> list[Encoded]:
        got, pos = self._walked.get(seed) or ([], 0)
        if seed not in self._orders:
            self._orders[seed] = self.order_for(seed)
        order = self._orders[seed]
        while not enough(got) and pos < len(order):
            row = self.rows[order[pos]]
            pos += 1
            enc = encode(self.tok, {"id": row["id"], "messages": [dict(m) for m in row["messages"]]},
                         self.max_length, self.truncate)
            if isinstance(enc, Encoded):
                got.append(enc)
        self._walked[seed] = (got, pos)
        return got

    def take(self, seed: int, rows: int | None = None, tokens: int | None = None) -> list[Encoded]:
        """The first ``rows`` usable rows of this seed's order, or the fewest first rows whose trained
        tokens reach ``tokens`` (so the total is within one row's length of it)."""
        if tokens is not None:
            def enough(got):
                return sum(trained_tokens(e) for e in got) >= tokens
            got = self._extend(seed, enough)
            out, total = [], 0
            for e in got:
                if total >= tokens:
                    break
                out.append(e)
                total += trained_tokens(e)
            return out
        got = self._extend(seed, lambda g: len(g) >= (rows or 0))
        return got[:rows]

    def available(self, seed: int, rows: int) -> int:
        return len(self.take(seed, rows=rows))


def _frame(rows: list[dict], response_chars: list[int] | None = None) -> pl.DataFrame:
    chars = response_chars if response_chars is not None else [
        len(next((m["content"] for m in reversed(r["messages"]) if m["role"] == "assistant"), "") or "")
        for r in rows]
    return pl.DataFrame({"id": [r["id"] for r in rows], "response_chars": chars,
                         "quality": [None] * len(rows), "ifd": [None] * len(rows)},
                        schema={"id": pl.String, "response_chars": pl.Int64, "quality": pl.Float64, "ifd": pl.Float64})


def ordered_arm(name: str, rows: list[dict], strategy: str, tok, max_length: int, kind: str,
                response_chars: list[int] | None = None, truncate: bool = False) -> Arm:
    """An arm over ``rows`` ordered by a ``sieve select`` strategy that needs no run (random, longest)."""
    from curate.selection import order

    frame = _frame(rows, response_chars)
    return Arm(name, rows, lambda seed: order(frame, strategy, seed)[0], tok, max_length, kind, truncate=truncate)


def raw_rows(run_dir: Path) -> tuple[list[dict], list[int]]:
    """The raw input rows of a curate run and their response lengths in characters."""
    path = run_dir / "annotated.parquet"
    has_chars = "response_chars" in pl.read_parquet_schema(path)
    ann = pl.read_parquet(path, columns=["id", "messages"] + (["response_chars"] if has_chars else []))
    rows = [{"id": i, "messages": m} for i, m in zip(ann["id"], ann["messages"].to_list())]
    return rows, ann["response_chars"].fill_null(0).to_list() if has_chars else None


def strategy_arm(run_dir: Path, strategy: str, keys: set[str], tok, max_length: int, rows_needed: int) -> Arm:
    """An arm ordered by ``sieve select --strategy`` on the run (its kept or approved rows), for up to
    ``rows_needed`` rows; eval rows are left out of what it selects. Every strategy an arm may use orders
    rows by score or embedding alone (random is a baseline), so one selection serves every seed."""
    from curate.selection import Budget, select

    arm = Arm(strategy, [], lambda seed: [], tok, max_length, "strategy")

    def order_for(seed: int) -> list[int]:
        if not arm.rows:
            sel = select(run_dir, strategy, Budget(rows=rows_needed), seed=0, max_length=max_length, tokenizer=tok)
            arm.rows[:], dropped = held_out(sel.rows, keys)
            arm.notes.extend(sel.notes + ([f"{dropped} selected rows are eval rows or ask an eval prompt; left out"]
                                          if dropped else []))
        return list(range(len(arm.rows)))

    arm.order_for = order_for
    return arm
