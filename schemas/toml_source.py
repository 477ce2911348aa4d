"""Config data from a TOML file plus keyword overrides, for every tool's config model."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def config_data(path: str | Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """The TOML file's tables (if any), then ``overrides`` on top: ``"section.name"`` keys set one field
    of a section, plain keys a top-level field; ``None`` values are ignored (flag not given).

    Raises ``FileNotFoundError`` for a missing file and ``tomllib.TOMLDecodeError`` for bad TOML."""
    data: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        if name:
            data.setdefault(section, {})[name] = value
        else:
            data[section] = value
    return data
