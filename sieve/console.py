"""Shared CLI rendering helpers: the console, progress bars and exit codes."""

from __future__ import annotations

import sys
from contextlib import contextmanager, suppress
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_QUARANTINED = 3
EXIT_NOTHING_READ = 4

console = Console(stderr=True, highlight=False, soft_wrap=True)
# results: no markup by default, so a file name or a text with [brackets] prints as it is
out = Console(highlight=False, soft_wrap=True, markup=False)


@contextmanager
def no_empty_folder_left(folder: Path) -> Iterator[None]:
    """When the block fails or is interrupted, remove ``folder`` if it did not exist before and is still
    empty: a command that failed leaves no empty folder it made behind."""
    existed = folder.exists()
    try:
        yield
    except BaseException:
        if not existed and folder.is_dir() and not any(folder.iterdir()):
            with suppress(OSError):  # another process (a torchrun rank) may remove it first: keep the real error
                folder.rmdir()
        raise


@contextmanager
def progress(disable: bool = False) -> Iterator[Progress]:
    """A rich progress bar on stderr, quiet when stderr is not a terminal."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=console,
                   disable=disable or not sys.stderr.isatty(), transient=False)
    with bar:
        yield bar


def fail(message: str, code: int = EXIT_ERROR) -> None:
    """Print an error for the user and exit with ``code``."""
    import typer

    console.print("[bold red]error:[/] " + escape(str(message)))
    raise typer.Exit(code)


def load_config_or_fail(loader, path, **overrides):
    """Call a config loader; turn a missing file, bad TOML or an invalid value into a usage error that
    names the file and the field."""
    import pydantic

    try:
        return loader(path, **overrides)
    except FileNotFoundError:
        fail(f"{path}: config file not found", EXIT_USAGE)
    except IsADirectoryError:
        fail(f"-c {path}: is a folder; --config takes a TOML file", EXIT_USAGE)
    except OSError as exc:
        fail(f"-c {path}: cannot read the config file ({exc.strerror or exc})", EXIT_USAGE)
    except pydantic.ValidationError as exc:
        given = {key for key, value in overrides.items() if value is not None}
        # a value a flag set is named by its flag, not by a config file that may be fine
        flagged = [f"{_flag(_key_of(e['loc'], given))} {_shown(e['input'])}: {e['msg']}"
                   for e in exc.errors() if _key_of(e["loc"], given)]
        errs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}"
                         for e in exc.errors() if not _key_of(e["loc"], given))
        fail("; ".join(flagged + ([f"{path or 'config'}: invalid config: {errs}"] if errs else [])), EXIT_USAGE)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        fail(f"{path}: {exc}", EXIT_USAGE)


# config keys whose flag is not "--" + the key's last part
_FLAGS = {"curve.sizes": "--curve", "curve.arms": "--arm", "memory.limit": "--memory-limit",
          "model_signals.enabled": "--model-signals", "model_signals.model": "--model", "dedup.semantic": "--semantic",
          "ray.address": "--ray-address", "ingest.role_map": "--role-map", "double_review": "--double-review"}


def _key_of(loc: tuple, given: set[str]) -> str | None:
    """The override key (``"curve.sizes"``) an error location falls under, if a flag gave it."""
    parts = [str(x) for x in loc]
    return next((".".join(parts[:n]) for n in (2, 1) if ".".join(parts[:n]) in given), None)


def _flag(key: str) -> str:
    return _FLAGS.get(key, "--" + key.rpartition(".")[2].replace("_", "-"))


def _shown(value) -> str:
    """A flag's value as it was typed: 'abc', 0, q=instrucion, 50,100."""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(map(str, value))
    return repr(value) if isinstance(value, str) else str(value)
