"""Errors the curate library raises; the CLI turns them into messages and exit codes."""


class SieveError(Exception):
    """Base class: a problem the user can act on; ``str()`` is the user-facing message."""


class InputNotFoundError(SieveError):
    """An input path or glob matched no file."""


class NothingReadableError(SieveError):
    """No row of any input could be read."""
