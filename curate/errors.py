"""Errors the curate library raises; the CLI turns them into messages and exit codes."""


class SieveError(Exception):
    """Base class: a problem the user can act on; ``str()`` is the user-facing message."""


class InputNotFoundError(SieveError):
    """An input path or glob matched no file."""


class NothingReadableError(SieveError):
    """No row of any input could be read."""


class EvalSetError(SieveError):
    """An --eval file is missing, unreadable or holds no prompt."""


class OutputError(SieveError):
    """The output folder cannot be used (a file, not writable, or another run is writing to it)."""


class IncompleteRunError(SieveError):
    """A run folder without a complete manifest.json (a run that was killed, or not a run folder)."""


class EngineError(SieveError):
    """The chosen engine cannot run: Ray is not installed or not reachable, or a setting it does not support."""
