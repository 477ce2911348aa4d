"""How many model batches run at once on a CPU, for the model-signal scorer and the embedder.

On a CPU, one batch on all cores spends much of its time at the intra-op threads' barriers: attention,
norms and activations are small ops, and a matmul of a few hundred rows splits poorly. One batch per
core, each on one thread, scored 1.26x the tokens/s of IFD on 2 cores (bench/ifd_bench.py) with the same
results bit for bit (a batch's result does not depend on what runs beside it). Capped at
:data:`MAX_WORKERS` (more Python threads contend for the GIL between ops); the rest of the cores go to
each worker's intra-op threads. On a GPU: one batch at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
MAX_WORKERS = 4  # only 2 cores measured here: a guess that keeps the GIL out of the way


@contextmanager
def cpu_workers(device: str, parallel: bool = True) -> Iterator[int]:
    """Yields the number of workers; meanwhile torch's intra-op threads are shared out between them
    (``torch.set_num_threads`` is process-wide; restored on exit). ``parallel=False``: one worker."""
    import torch

    if device != "cpu" or not parallel:
        yield 1
        return
    threads = torch.get_num_threads()
    workers = max(1, min(threads, MAX_WORKERS))
    torch.set_num_threads(max(1, threads // workers))
    try:
        yield workers
    finally:
        torch.set_num_threads(threads)


def run_batches(fn: Callable[[T], R], batches: Iterable[T], device: str, parallel: bool = True) -> Iterator[R]:
    """``fn`` of each batch, in order, several at once on a CPU (:func:`cpu_workers`), or one at a time in
    this thread with ``parallel=False`` (a model that is not safe to call from two threads at once).
    ``fn`` must enter ``torch.inference_mode`` itself: it is thread-local."""
    with cpu_workers(device, parallel) as workers:
        if workers == 1:
            yield from map(fn, batches)
            return
        with ThreadPoolExecutor(workers) as pool:
            yield from pool.map(fn, batches)


def stateful_rope(model) -> bool:
    """Whether a rotary embedding of ``model`` rewrites its own buffers when called (Hugging Face's
    dynamic and longrope types grow or swap their frequencies with the sequence length): two threads in
    one such module race, so its forward must not run in two workers at once."""
    for module in model.modules():
        kinds = getattr(module, "rope_type", None)
        values = kinds.values() if isinstance(kinds, dict) else [kinds]  # per layer type in some models
        if any(isinstance(k, str) and ("dynamic" in k or "longrope" in k) for k in values):
            return True
    return False
