"""Training data: load conversations, render them with the model's chat template, and put the loss
on assistant tokens only, with a pre-flight check that proves it.

Masking: for each assistant turn ``i`` the template is rendered for ``messages[:i]`` with the generation
prompt and for ``messages[:i+1]``; the characters between the two are the assistant's (its content and
end-of-turn marker), and exactly the tokens that start inside them carry loss. A conversation that opens
with an assistant turn has no ``messages[:0]`` to render (and templates such as SmolLM2's inject their
default system prompt only inside their loop), so its prefix is cut from a rendered probe turn: the
injected system prompt and the role header never carry loss.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from train.errors import MaskingError, TrainError, TrainUsageError

IGNORE = -100
_PROBE = "\x00sieve-probe\x00"  # a turn content no real row contains, to find where content starts


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    row_id: str


@dataclass
class EncodedSet:
    examples: list[Encoded]
    dropped_too_long: int = 0
    truncated: int = 0
    dropped_unusable: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def trained_token_share(self) -> float:
        total = sum(len(e.input_ids) for e in self.examples)
        return sum(sum(lab != IGNORE for lab in e.labels) for e in self.examples) / max(total, 1)


def load_conversations(data: str | Path) -> tuple[list[dict], dict]:
    """Rows as ``{"id", "messages"}`` and a provenance dict.

    ``data`` is a ``sieve curate`` run folder (its review store's approved rows when the store holds
    the run, else its ``curated.jsonl``: a store made by ``add-reviewer`` before any import holds no run),
    a review store (``.sqlite``), or any file or folder Sieve can ingest. Rows of a file written by
    ``sieve curate`` keep their Sieve id (its ``"sieve": {"id": ...}`` object), so a re-read names every
    row as the run did. Raises :class:`TrainUsageError` for a run folder without a complete manifest,
    :class:`review_app.errors.NoRunError` for a store given alone that holds no run, and the ingest
    errors for unreadable input.
    """
    import polars as pl

    from curate.ingest import ingest

    path, rows = Path(data), None
    info: dict = {"data": str(path)}
    if path.is_dir() and is_curate_run(path):
        manifest = read_run_manifest(path)
        info["curate_manifest"] = str(path / "manifest.json")
        if manifest.get("run_id"):
            info["run_id"] = manifest["run_id"]
        store, path = path / "review.sqlite", path / "curated.jsonl"
        if store.is_file():
            rows = _approved_from_store(store, store.parent)
        if rows is not None:
            info["review_store"] = str(store)
        elif not path.is_file():
            raise TrainUsageError(f"{path.parent}: the curate run has no curated.jsonl; re-run sieve curate")
    elif path.suffix == ".sqlite" and path.is_file():
        rows = _approved_from_store(path)
        info["review_store"] = str(path)
    if rows is None:
        read = ingest([path])
        frame = read.frame.select(
            pl.coalesce(pl.col("metadata").str.json_path_match("$.sieve.id"), pl.col("id")).alias("id"), "messages")
        rows = [{"id": r["id"], "messages": r["messages"]} for r in frame.iter_rows(named=True)]
        if read.quarantine:  # said by the caller (unreadable_note) and kept in the manifest: never silent
            q = read.quarantine[0]
            info["unreadable"] = len(read.quarantine)
            info["unreadable_first"] = f"{q.source_file}{f':{q.line}' if q.line else ''}: {q.code}: {q.error}"
    info["rows"] = len(rows)
    info["sha256"] = hashlib.sha256(json.dumps([r["messages"] for r in rows], sort_keys=True).encode()).hexdigest()
    return rows, info


def unreadable_note(info: dict, what: str) -> str:
    """A sentence on the input of :func:`load_conversations` that could not be read ("" when all was)."""
    n = info.get("unreadable", 0)
    if not n:
        return ""
    return (f"{n:,} row(s) or file problem(s) of {what} could not be read and are left out (first: "
            f"{info['unreadable_first']}); sieve curate writes each to quarantine.jsonl with its reason")


RUN_FILES = ("annotated.parquet", "curated.jsonl", "review.sqlite", "manifest.json")


def is_curate_run(folder: Path) -> bool:
    """A folder ``sieve curate`` wrote into (any of its files is there)."""
    return any((folder / name).exists() for name in RUN_FILES)


def read_run_manifest(folder: Path) -> dict:
    """The manifest of a curate run folder (:func:`curate.run_folder.read_manifest`). Raises
    :class:`TrainUsageError`, naming the folder, when it is missing or not a whole ``sieve curate``
    manifest (a run killed before its end leaves none)."""
    from curate.errors import IncompleteRunError
    from curate.run_folder import read_manifest

    try:
        return read_manifest(folder)
    except IncompleteRunError as exc:
        raise TrainUsageError(str(exc)) from None


def _approved_from_store(path: Path, run_dir: Path | None = None) -> list[dict] | None:
    """Curated rows plus accepted and fixed ones (fixes applied), rejected ones left out.

    With ``run_dir`` (the run folder the store sits in) the store must hold that run: a stale store (the
    folder was curated again since) raises :class:`review_app.errors.RunMismatchError`, which names the
    flag that carries the decisions over, and a store that holds no run yet (only accounts) gives None:
    the run's own files stand. Without ``run_dir`` such a store raises :class:`NoRunError`. An
    unreadable store raises :class:`TrainError`."""
    import sqlite3

    from review_app.export import approved_rows
    from review_app.importer import check_run
    from review_app.store import connect, held_run

    try:
        con = connect(path)
    except sqlite3.DatabaseError as exc:
        raise TrainError(f"{path}: not a readable review store ({exc})") from None
    try:
        if run_dir is not None:
            if held_run(con) is None:
                return None
            check_run(con, run_dir)
        return [{"id": r["id"], "messages": r["final_messages"]} for r in approved_rows(con)]
    except sqlite3.DatabaseError as exc:
        raise TrainError(f"{path}: not a readable review store ({exc})") from None
    finally:
        con.close()


def raw_conversations(run_dir: Path) -> list[dict]:
    """The raw (uncurated) input rows of a curate run, for the random-rows baseline."""
    import polars as pl

    annotated = pl.read_parquet(run_dir / "annotated.parquet", columns=["id", "messages"])
    return [{"id": i, "messages": m} for i, m in zip(annotated["id"], annotated["messages"].to_list())]


def assistant_spans(tok, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character spans that belong to assistant turns (content and end-of-turn
    marker; never a role header or a system prompt the template injects). Raises :class:`MaskingError`."""
    text = tok.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _prompt_before(tok, messages, i)
        upto = tok.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (text.startswith(before) and text.startswith(upto) and len(upto) > len(before)):
            raise MaskingError("the chat template does not render conversations prefix by prefix; "
                               "cannot locate assistant turns")
        spans.append((len(before), len(upto)))
    return text, spans


def _prompt_before(tok, messages: list[dict], i: int) -> str:
    """What the model is given before assistant turn ``i``: the conversation so far, any system prompt the
    template injects, and the assistant header (the generation prompt)."""
    if i:
        return tok.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
    probe = tok.apply_chat_template([{"role": "assistant", "content": _PROBE}], tokenize=False)
    if _PROBE not in probe:
        raise MaskingError("the chat template changes the assistant's text; cannot locate assistant turns")
    return probe[: probe.index(_PROBE)]


def template_parts(tok) -> tuple[str, str]:
    """(injected, header): what the template puts before a conversation that has no system turn (a default
    system prompt, or nothing) and the assistant header its generation prompt adds. Neither may carry loss.

    ``injected`` is what a user-first conversation has before its user turn that a conversation with a
    system turn does not: the text before the probe in each, less their common ending (the user header)."""
    user = [{"role": "user", "content": _PROBE}]
    plain = tok.apply_chat_template(user, tokenize=False)
    header = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)[len(plain):]
    try:
        with_system = tok.apply_chat_template([{"role": "system", "content": "s"}, *user], tokenize=False)
    except Exception:  # a template that refuses system turns (Gemma's) has none to inject either
        return "", header
    a, b = plain[: plain.find(_PROBE)], with_system[: with_system.find(_PROBE)]
    common = 0
    while common < min(len(a), len(b)) and a[-1 - common] == b[-1 - common]:
        common += 1
    return a[: len(a) - common], header


def encode(tok, row: dict, max_length: int, truncate: bool) -> Encoded | str:
    """Tokens and labels of one conversation, or a reason string when it cannot be used."""
    msgs = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    if not any(m["role"] == "assistant" for m in msgs):
        return "no_assistant_turn"
    text, spans = assistant_spans(tok, msgs)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    labels = [tid if any(s <= start < e for s, e in spans) else IGNORE for tid, (start, _) in zip(ids, offsets)]
    if len(ids) > max_length:
        if not truncate:
            return "too_long"
        ids, labels = ids[:max_length], labels[:max_length]
    if all(lab == IGNORE for lab in labels):
        return "no_trained_tokens"
    return Encoded(ids, labels, row["id"])


def token_counts(tok, conversations: list[list[dict]]) -> list[int | None]:
    """How many tokens each conversation takes in training, before any cut (the length :func:`encode`
    gives), or None where training cannot use it (no assistant turn). One render per conversation and one
    batched tokenizer call, where :func:`encode` renders every prefix to find the assistant spans: for
    counting a whole data set (``sieve select``). The masking check runs on the first usable
    conversation only (:class:`MaskingError`; training checks every row), and a row whose assistant
    turns cover no token is counted (training drops it as ``no_trained_tokens``)."""
    msgs = [[{"role": m["role"], "content": m["content"]} for m in c] for c in conversations]
    usable = [i for i, c in enumerate(msgs) if any(m["role"] == "assistant" for m in c)]
    if not usable:
        return [None] * len(msgs)
    assistant_spans(tok, msgs[usable[0]])  # the template masks, or this raises
    texts = [tok.apply_chat_template(msgs[i], tokenize=False) for i in usable]
    ids = tok(texts, add_special_tokens=False)["input_ids"]
    out: list[int | None] = [None] * len(msgs)
    for i, row in zip(usable, ids):
        out[i] = len(row)
    return out


def encode_all(tok, rows: list[dict], max_length: int, truncate: bool) -> EncodedSet:
    out = EncodedSet(examples=[])
    for row in rows:
        got = encode(tok, row, max_length, truncate)
        if isinstance(got, str):
            out.reasons[got] = out.reasons.get(got, 0) + 1
            if got == "too_long":
                out.dropped_too_long += 1
            else:
                out.dropped_unusable += 1
        else:
            if truncate and len(got.input_ids) == max_length:
                out.truncated += 1
            out.examples.append(got)
    return out


def preflight(tok, rows: list[dict], sample: int = 16) -> float:
    """Render a sample and fail if any system or user character, role header or injected system prompt
    carries loss. Returns the share of trained tokens in the sample. Raises :class:`MaskingError`."""
    injected, header = template_parts(tok)
    untrainable = [(part.strip(), what) for part, what in ((injected, "the template's injected system prompt"),
                                                           (header, "the assistant role header")) if part.strip()]
    checked, trained, total = 0, 0, 0
    for row in rows[:sample]:
        msgs = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        text, spans = assistant_spans(tok, msgs)
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        cursor, protected = 0, []
        for m in msgs:  # where each non-assistant message's content sits in the rendered text
            at = text.find(m["content"], cursor) if m["content"] else -1
            if at >= 0:
                if m["role"] != "assistant":
                    protected.append((at, at + len(m["content"])))
                cursor = at + len(m["content"])
        for tid, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
            is_trained = any(s <= start < e for s, e in spans)
            if is_trained and any(start < pe and end > ps for ps, pe in protected):
                raise MaskingError(f"row {row['id']}: a system/user token carries loss: {text[start:end]!r}")
            trained += is_trained
            total += 1
        for m, (s, e) in zip([m for m in msgs if m["role"] == "assistant"], spans):
            if m["content"] and m["content"] not in text[s:e]:
                raise MaskingError(f"row {row['id']}: an assistant turn is not inside its trained span")
            for part, what in untrainable:
                if part in text[s:e]:
                    raise MaskingError(f"row {row['id']}: {what} carries loss: {part!r}")
        checked += 1
    if checked == 0:
        raise MaskingError("no rows to check")
    return trained / max(total, 1)


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int, epoch: int,
                           window_batches: int = 16) -> list[list[int]]:
    """Shuffled batches of similar length (little compute goes to padding), reproducible by seed+epoch:
    rows are sorted by length within windows of ``window_batches`` batches."""
    rng = random.Random(seed * 1000 + epoch)
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    window = batch_size * window_batches
    batches = []
    for s in range(0, len(idx), window):
        chunk = sorted(idx[s:s + window], key=lambda i: lengths[i])
        batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: list[Encoded], pad_id: int):
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return ids, labels, mask
