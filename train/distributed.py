"""Training on several processes launched by ``torchrun``: which process this is, the process group, and
the few collectives the training loop needs. One process (no torchrun) is ``Dist()``, where every
collective is the identity, so the loop reads the same either way.

Why no ``DistributedDataParallel``: the loop sums the LoRA gradients itself, with one ``all_reduce``
per optimizer step, after the last micro-batch.

- The loss runs the base model's body and its LM head directly (``train.loop.token_losses`` computes the
  LM head only where a token is trained). DDP's reducer expects its own ``forward`` to run before each
  backward, and accumulation would also need ``no_sync`` on every micro-batch but the last.
- Each rank divides its summed token losses by the GLOBAL number of trained tokens of the step, so the
  one-process gradient is the plain SUM of the ranks' gradients. DDP averages, which would need a
  ``x world`` fix-up.
- LoRA gradients are small (about 0.5M floats for SmolLM2 at r=16). Overlapping their all_reduce with the
  backward pass, which is what DDP's buckets are for, gains nothing measurable at that size.

Ranks start from the same adapter (rank 0's is broadcast) and take identical optimizer steps on
identical summed gradients, so their adapters stay equal without DDP.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from train.errors import TrainError, TrainUsageError

T = TypeVar("T")


class MainRankError(TrainError):
    """Raised on the other ranks when a step that only rank 0 runs (writing outputs) failed. Rank 0
    raises the error itself and prints it. The other ranks stay quiet and stop with it, so none of
    them is left waiting in the next collective."""


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    backend: str | None = None  # "gloo" (CPU) or "nccl" (CUDA); None: one process
    device: str = "cpu"  # where collective tensors live: nccl only moves CUDA tensors

    @property
    def main(self) -> bool:
        """Rank 0: the one process that prints and writes outputs."""
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        """``values`` summed element-wise over all ranks (in float64: token counts stay exact)."""
        if self.world == 1:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def sum_grads(self, params: list) -> None:
        """Replace each parameter's ``.grad`` by its sum over all ranks, in one flat ``all_reduce``. A
        rank that had no micro-batch this step (the last, short step of an epoch) adds zeros."""
        if self.world == 1:
            return
        import torch
        import torch.distributed as dist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1).float() for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            p.grad = flat[offset:offset + g.numel()].view_as(g).to(g.dtype)
            offset += g.numel()

    def broadcast(self, params: list) -> None:
        """Copy rank 0's values of ``params`` to every rank (a common start, as DDP does when it wraps)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        for p in params:
            dist.broadcast(p.data, src=0)

    def gather(self, obj: T) -> list[T]:
        """``obj`` of every rank, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        got: list = [None] * self.world
        dist.all_gather_object(got, obj)
        return got

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and hand its result to every rank. If it raises, rank 0 re-raises
        the error and the other ranks raise :class:`MainRankError`, so all of them stop together."""
        if self.world == 1:
            return fn()
        import torch.distributed as dist

        box: list = [None, None]
        error = None
        if self.main:
            try:
                box[0] = fn()
            except Exception as exc:  # noqa: BLE001 - handed to the other ranks, then re-raised here
                error, box = exc, [None, f"{type(exc).__name__}: {exc}"]
        dist.broadcast_object_list(box, src=0)
        if box[1] is not None:
            # rank 0 waits until every rank has the error: leaving at once could close the group under
            # a rank still receiving it, which would then report a lost connection instead
            dist.barrier()
            if error is not None:
                raise error
            raise MainRankError(f"rank 0 failed: {box[1]}")
        return box[0]


def from_env() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) as torchrun sets them; ``None`` outside torchrun."""
    if "WORLD_SIZE" not in os.environ:
        return None
    return int(os.environ.get("RANK", 0)), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))


def env_rank() -> int:
    """This process's rank under torchrun, 0 otherwise. It only reads the environment, so the CLI
    can decide whether to print before any process group exists."""
    env = from_env()
    return env[0] if env else 0


@contextmanager
def session() -> Iterator[Dist]:
    """The process group of a torchrun launch: opened on entry and destroyed on exit, also when an
    error ends the run. Backend: nccl on CUDA, with one GPU per process (``LOCAL_RANK``); gloo on CPU.
    Outside torchrun, or with one process, this yields ``Dist()`` and opens nothing. If a group is
    already open (the caller opened it), it is used and left open.

    Raises :class:`TrainUsageError` when there are more processes on this machine than CUDA devices."""
    env = from_env()
    if env is None or env[1] == 1:
        yield Dist()
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        yield current()
        return
    rank, world, local = env
    kwargs = {}
    if torch.cuda.is_available():
        # every rank of this machine checks the same count, so rank 0 meets (and prints) the error too
        here = int(os.environ.get("LOCAL_WORLD_SIZE", local + 1))
        if here > torch.cuda.device_count():
            raise TrainUsageError(f"torchrun started {here} processes on this machine, which has "
                                  f"{torch.cuda.device_count()} CUDA device(s): use --nproc_per_node "
                                  f"{torch.cuda.device_count()} or fewer (NCCL needs one GPU per process)")
        torch.cuda.set_device(local)  # "cuda" now means this rank's GPU, for the model and autocast alike
        backend, kwargs["device_id"] = "nccl", torch.device("cuda", local)
    else:
        backend = "gloo"
    dist.init_process_group(backend, **kwargs)  # env://: torchrun sets MASTER_ADDR and MASTER_PORT
    try:
        yield Dist(rank, world, backend, "cuda" if backend == "nccl" else "cpu")
        # every rank is done with the group before any closes it: a rank that tears down its gloo
        # connections while the other still receives the last broadcast can abort the other process
        # ("terminate called without an active exception"). Not after an error: the other ranks may
        # not reach this point, and on_main already waits for them when rank 0 failed. A rank that fails
        # alone after the last collective leaves the others here until torchrun stops them all (it stops
        # every worker when one exits with an error) or the group's timeout passes.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def current() -> Dist:
    """The open process group as a :class:`Dist` (``Dist()`` when none is open)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return Dist()
    backend = dist.get_backend()
    return Dist(dist.get_rank(), dist.get_world_size(), backend, "cuda" if backend == "nccl" else "cpu")
