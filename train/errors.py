"""Errors the train library raises; ``str()`` is the user-facing message, and the CLI turns each into one
line and an exit code (:class:`TrainUsageError`: a bad argument, exit 2; any other: exit 1)."""

from __future__ import annotations

from curate.errors import SieveError


class TrainError(SieveError):
    """A training problem the user can act on."""


class TrainUsageError(TrainError):
    """An argument names something unusable: a missing model folder, an output folder that would
    overwrite another tool's files, a curate run folder without a complete manifest."""


class ModelNotFoundError(TrainUsageError):
    """The base model cannot be found or loaded offline; the message says how to get it."""


class MaskingError(TrainError):
    """The rendered template does not let Sieve tell assistant tokens from the rest."""


class NoTrainingRowsError(TrainError):
    """Nothing is left to train on (or to evaluate on) after loading, holding out and encoding."""


class CheckpointMismatchError(TrainError):
    """The output folder holds a checkpoint or a finished run made with other data, model or settings."""
