"""Errors the review library raises; ``str()`` is the message for the user. The CLI and the app turn
them into one line; none of them means a traceback on screen."""

from __future__ import annotations

from curate.errors import SieveError


class ReviewError(SieveError):
    """A review action or store operation that cannot be done as asked."""


class StoreVersionError(ReviewError):
    """The store was made by a newer Sieve."""


class ConflictError(ReviewError):
    """The row changed (or is held by another session) since the screen showed it; nothing was written.

    ``current`` is the row as it is now and ``changes`` the decisions made since the version the screen
    showed, so the app can show the other reviewer's change and offer redo or drop."""

    def __init__(self, message: str, current: dict | None = None, changes: list[dict] | None = None):
        super().__init__(message)
        self.current = current
        self.changes = changes or []


class InvalidRowError(ReviewError):
    """The row is not a valid conversation (unknown role, empty turn...): it can be fixed or rejected,
    not accepted as it is."""


class RunMismatchError(ReviewError):
    """The store holds another curate run than the folder being imported."""


class OptionError(ReviewError):
    """An option that cannot apply to an existing store (e.g. ``--double-review``)."""


class AccountError(ReviewError):
    """A reviewer account that cannot be added, removed or changed as asked."""


class NoRunError(ReviewError):
    """The store holds no curate run: it was made (by ``sieve review add-reviewer``) before any import,
    so it has no rows and no decisions, and must never stand in for a run."""
