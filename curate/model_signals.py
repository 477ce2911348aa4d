"""Model signals: how surprising a response is to a small language model, with and without its prompt.

For each row: the mean token loss of the response given the prompt (``ppl_response`` is its
exponential) and of the response alone (``ppl_response_alone``), and ``ifd`` = the first loss / the
second (Instruction-Following Difficulty, Cherry LLM). The rendering and the masking are training's
(:func:`train.data.encode`: the chat template, loss on assistant tokens only); "alone" is the response as
the conversation's only turn, so both losses see the same template and differ only by the prompt.

Speed: each sequence is scored once, batches are length-sorted and cut at a padded-token budget (little
padding), the LM head runs only where a response token is predicted (a block of positions at a time),
bf16 where the hardware has it, and on a CPU one batch per core at once.
Results are cached per model by content hash, so a re-run or a grown data set scores only new rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from curate.cpu_workers import run_batches, stateful_rope
from schemas.config import ModelSignalsConfig

COLUMNS = {
    "ppl_response": "perplexity of the response given its prompt (the model signals' model; assistant tokens)",
    "ppl_response_alone": "perplexity of the response with no prompt (same template)",
    "ifd": "instruction-following difficulty: response loss with the prompt / without it; >= 1: the prompt "
           "does not help (a constant answer, or the answer to another prompt); low: the prompt gives it away",
}
Progress = Callable[[int, int], None]


@dataclass
class ScoreStats:
    rows: int
    scored: int  # rows computed now (the rest came from the cache)
    tokens: int  # tokens through the model now
    seconds: float
    model: str


def content_key(messages: list[dict], budget: int, max_length: int) -> str:
    """Cache key of a row's scores: its conversation (roles and text) and the settings that change them."""
    payload = json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False)
    return hashlib.sha1(f"{budget}\x00{max_length}\x00{payload}".encode("utf-8", "surrogatepass")).hexdigest()


SCORER_VERSION = 2  # 2: curate.packed_forward (bf16 losses moved by up to ~0.05 nats): older scores are not mixed in


def _cache_path(cfg: ModelSignalsConfig, model_key: str, precision: str) -> Path:
    return cfg.cache_dir / "scores" / f"{model_key}-{precision}-v{SCORER_VERSION}.parquet"


def weights_key(model_dir: str, cache_dir: Path) -> str:
    """A hash of the model's weight files' contents (two fine-tunes of one architecture have the same
    config and file sizes), remembered per file by size and modification time so it is computed once."""
    from train.checkpoint import model_hash

    path = Path(model_dir)
    if not path.is_dir():
        return model_hash(model_dir)
    memo_path = cache_dir / "scores" / "weights.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    digest = hashlib.sha256(model_hash(model_dir).encode())
    changed = False
    for f in sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".gguf")):
        st = f.stat()
        tag = f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        if tag not in memo:
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
            memo[tag], changed = h.hexdigest(), True
        digest.update(memo[tag].encode())
    if changed:
        from curate.atomic import atomic_write_text

        atomic_write_text(memo_path, json.dumps(memo))
    return digest.hexdigest()[:16]


def _read_cache(path: Path) -> dict[str, tuple[float, float]]:
    if not path.is_file():
        return {}
    try:
        table = pl.read_parquet(path)
    except Exception:  # a damaged cache is rebuilt, never trusted
        return {}
    return {k: (a, b) for k, a, b in table.select("key", "loss", "loss_alone").iter_rows()}


def _write_cache(path: Path, cache: dict[str, tuple[float, float]]) -> None:
    from curate.atomic import atomic_write

    table = pl.DataFrame({"key": list(cache), "loss": [v[0] for v in cache.values()],
                          "loss_alone": [v[1] for v in cache.values()]},
                         schema={"key": pl.String, "loss": pl.Float64, "loss_alone": pl.Float64})
    atomic_write(path, lambda tmp: table.write_parquet(tmp))


def _cut_response(tok, messages: list[dict], budget: int) -> list[dict]:
    """The conversation with its last assistant turn cut to ``budget`` tokens (earlier turns are prompt)."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    ids = tok(messages[last]["content"], add_special_tokens=False)["input_ids"]
    if len(ids) <= budget:
        return messages
    cut = dict(messages[last], content=tok.decode(ids[:budget]))
    return [*messages[:last], cut]


def _encode(tok, messages: list[dict], max_length: int):
    """(input ids, labels) with loss on the last assistant turn only, left-truncated to ``max_length``."""
    from train.data import IGNORE, encode

    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    got = encode(tok, {"id": "", "messages": messages[: last + 1]}, max_length=10**9, truncate=False)
    if isinstance(got, str):
        return None
    ids, labels = got.input_ids, list(got.labels)
    # earlier assistant turns are context here, not the response being scored
    prior = encode(tok, {"id": "", "messages": messages[:last]}, max_length=10**9, truncate=False) \
        if any(m["role"] == "assistant" for m in messages[:last]) else None
    if prior is not None and not isinstance(prior, str):
        labels[: len(prior.input_ids)] = [IGNORE] * min(len(prior.input_ids), len(labels))
    return ids[-max_length:], labels[-max_length:]


def token_losses(head, hidden, target, block: int | None = None, sub: int | None = None):
    """Cross-entropy (fp32) of each position: the LM head runs on ``block`` positions at a time, the
    log-softmax on ``sub`` of them. On a CPU, 256-row head matmuls ran ~15% faster than 64-row ones, and a
    32-row slice of fp32 log-probabilities (32 x 49k x 4 B = 6 MB for SmolLM2) stays in cache where a
    whole batch's (~600 x 49k) went through memory twice; on a GPU, big blocks."""
    import torch

    cpu = hidden.device.type == "cpu"
    block = block or (256 if cpu else 4096)
    sub = sub or (32 if cpu else block)
    n = len(target)
    # rows rounded up to a multiple of 16 with zero rows: the matmul library builds (and keeps) a kernel per
    # row count, and an odd count runs slower (curate.packed_forward.ROWS)
    extra = -n % 16
    if extra:
        hidden = torch.cat([hidden, hidden.new_zeros(extra, hidden.shape[1])])
        target = torch.cat([target, target.new_zeros(extra)])
    out = torch.empty(len(target), dtype=torch.float32, device=hidden.device)
    for s in range(0, len(target), block):
        logits, want, got = head(hidden[s:s + block]), target[s:s + block, None], out[s:s + block]
        for j in range(0, len(logits), sub):
            logp = torch.log_softmax(logits[j:j + sub], 1, dtype=torch.float32)
            got[j:j + sub] = -logp.gather(1, want[j:j + sub])[:, 0]
    return out[:n]


def _batch_losses(model, seqs: list[tuple[list[int], list[int]]], pad_id: int, device: str,
                  packed: bool = True) -> list[float]:
    """Mean labelled-token loss of each of ``seqs``, run as one batch: without padding where
    :mod:`curate.packed_forward` supports the model (and ``packed``), else right-padded through Hugging
    Face's forward."""
    import torch

    from curate import packed_forward
    from train.data import IGNORE

    if packed and packed_forward.supports(model):
        # each token predicts the next token's label; a sequence's last token predicts nothing
        target = torch.tensor([t for _, labels in seqs for t in [*labels[1:], IGNORE]], device=device)
        owner = torch.repeat_interleave(torch.arange(len(seqs)), torch.tensor([len(s[0]) for s in seqs])).to(device)
        keep = target != IGNORE
        with torch.inference_mode():
            hidden, head = packed_forward.hidden_states(model, [s[0] for s in seqs])
            loss = token_losses(head, hidden[keep], target[keep])
            sums = torch.zeros(len(seqs), device=device).index_add_(0, owner[keep], loss)
            counts = torch.zeros(len(seqs), dtype=torch.long, device=device).index_add_(0, owner[keep], torch.ones_like(owner[keep]))
        return [float(a / c) if c > 0 else math.nan for a, c in zip(sums.tolist(), counts.tolist())]
    width = max(len(s[0]) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, (seq_ids, seq_labels) in enumerate(seqs):
        ids[r, : len(seq_ids)] = torch.tensor(seq_ids)
        labels[r, : len(seq_ids)] = torch.tensor(seq_labels)
        mask[r, : len(seq_ids)] = 1
    ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
    target = labels[:, 1:]
    keep = target != IGNORE
    with torch.inference_mode():  # thread-local: each worker of mean_losses enters its own
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        loss = token_losses(model.lm_head, hidden[:, :-1][keep], target[keep])
        sums = torch.zeros(len(seqs), device=device).index_add_(0, keep.nonzero()[:, 0], loss)
        counts = keep.sum(dim=1)
    return [float(a / c) if c > 0 else math.nan for a, c in zip(sums.tolist(), counts.tolist())]


def mean_losses(model, seqs: list[tuple[list[int], list[int]]], pad_id: int, device: str,
                batch_tokens: int, progress: Progress | None = None, packed: bool = True) -> list[float]:
    """Mean token loss over the labelled tokens of each sequence (nan when it has none), in the model's
    own dtype (:func:`load_scorer` casts it to bf16 where that is fast). Batches are length-sorted and
    cut at ``batch_tokens`` padded tokens; on a CPU, one batch per core at a time
    (:func:`curate.cpu_workers.cpu_workers`), except on Hugging Face's forward for a model whose rotary
    embedding rewrites itself (:func:`curate.cpu_workers.stateful_rope`); the losses do not depend on how
    many run at once. ``packed=False`` keeps Hugging Face's padded
    forward for a model :mod:`curate.packed_forward` supports (the bench compares the two)."""
    out = [math.nan] * len(seqs)
    from train.evalset import token_batches

    batches = token_batches([len(s[0]) for s in seqs], batch_tokens)

    def run(batch: list[int]) -> list[float]:
        return _batch_losses(model, [seqs[i] for i in batch], pad_id, device, packed)

    # Hugging Face's forward calls the rotary module unguarded (the packed forward locks around it)
    from curate import packed_forward

    parallel = (packed and packed_forward.supports(model)) or not stateful_rope(model)
    done = 0
    for batch, losses in zip(batches, run_batches(run, batches, device, parallel)):
        for i, loss in zip(batch, losses):
            out[i] = loss
        done += len(batch)
        if progress:
            progress(done, len(seqs))
    return out


def resolve(cfg: ModelSignalsConfig) -> tuple[str, str]:
    """(model folder or hub id, cache key of the model's weights) without loading them; raises
    :class:`train.errors.ModelNotFoundError` for a model that does not exist."""
    from train.model import resolve_model_dir

    model_dir = resolve_model_dir(_train_config(cfg))
    return model_dir, weights_key(model_dir, cfg.cache_dir)


def _train_config(cfg: ModelSignalsConfig):
    from schemas.train_config import TrainConfig

    return TrainConfig(model=cfg.model, cache_dir=cfg.cache_dir / "models", precision=cfg.precision)


def load_scorer(cfg: ModelSignalsConfig, model_dir: str):
    """(model, tokenizer, device, bf16) for ``model_dir``, in eval mode."""
    import torch
    from transformers.utils import logging as hf_logging

    from train.loop import pick_device, use_bf16
    from train.model import load_model, load_tokenizer

    hf_logging.disable_progress_bar()  # Sieve's own progress bar covers this stage
    tcfg = _train_config(cfg)
    device = pick_device()
    tok = load_tokenizer(model_dir)
    model = load_model(model_dir, tcfg, device).eval()
    if device == "cpu":
        # for a model that runs through Hugging Face's forward (curate.packed_forward has its own attention):
        # eager attention on these lengths (a few hundred tokens) scored about 1.05-1.1x the tokens/s of
        # SDPA's CPU kernel, with the same bf16 error (bench/ifd_bench.py prints both); on a GPU, SDPA stays
        model.set_attn_implementation("eager")
    bf16 = use_bf16(tcfg, device)
    if bf16:  # inference only: bf16 weights, no per-op casts (autocast would re-cast fp32 weights each call)
        model = model.to(torch.bfloat16)
    return model, tok, device, bf16


def score_frame(frame: pl.DataFrame, cfg: ModelSignalsConfig,
                progress: Progress | None = None) -> tuple[pl.DataFrame, ScoreStats]:
    """``row_idx`` and the :data:`COLUMNS` for every row of ``frame`` (needs ``row_idx``, ``messages``).

    Rows without an assistant turn get nulls. Raises :class:`train.errors.ModelNotFoundError` when the
    model cannot be loaded."""
    start = time.perf_counter()
    from train.loop import pick_device, use_bf16

    model_dir, key = resolve(cfg)
    precision = "bf16" if use_bf16(_train_config(cfg), pick_device()) else "fp32"
    path = _cache_path(cfg, key, precision)
    cache = _read_cache(path)
    rows = [[dict(m) for m in msgs] for msgs in frame["messages"].to_list()]
    keys = [content_key(m, cfg.max_response_tokens, cfg.max_length) for m in rows]
    todo: dict[str, list[dict]] = {}
    for k, msgs in zip(keys, rows):
        if k not in cache and k not in todo and any(m["role"] == "assistant" for m in msgs):
            todo[k] = msgs
    seqs, owners = [], []
    if todo:  # a fully cached run never loads the model
        model, tok, device, _ = load_scorer(cfg, model_dir)
    for k, msgs in todo.items():
        cut = _cut_response(tok, msgs, cfg.max_response_tokens)
        last = max(i for i, m in enumerate(cut) if m["role"] == "assistant")
        try:
            both = (_encode(tok, cut, cfg.max_length), _encode(tok, [cut[last]], cfg.max_length))
        except Exception as exc:  # jinja2's TemplateError and the like: the template, not the row, is at fault
            if type(exc).__module__.startswith("jinja2"):
                from train.errors import ModelNotFoundError

                raise ModelNotFoundError(
                    f"--model {cfg.model}: its chat template cannot render a reply without a prompt "
                    f"({exc}); IFD needs the response scored alone. Use a model whose template allows it "
                    "(the default SmolLM2 does)") from None
            raise
        if both[0] is None or both[1] is None:
            cache[k] = (math.nan, math.nan)
            continue
        seqs += list(both)
        owners.append(k)
    losses = mean_losses(model, seqs, tok.pad_token_id, device, cfg.batch_tokens, progress) if seqs else []
    for j, k in enumerate(owners):
        cache[k] = (losses[2 * j], losses[2 * j + 1])
    if todo:
        _write_cache(path, cache)
    loss = [cache.get(k, (math.nan, math.nan)) for k in keys]
    out = pl.DataFrame({"row_idx": frame["row_idx"], "_l": [a for a, _ in loss], "_la": [b for _, b in loss]},
                       schema={"row_idx": pl.Int64, "_l": pl.Float64, "_la": pl.Float64}).fill_nan(None)
    out = out.select("row_idx", ppl_response=pl.col("_l").exp(), ppl_response_alone=pl.col("_la").exp(),
                     ifd=pl.col("_l") / pl.col("_la"))
    stats = ScoreStats(rows=frame.height, scored=len(owners), tokens=sum(len(s[0]) for s in seqs),
                       seconds=time.perf_counter() - start, model=cfg.model)
    return out, stats
