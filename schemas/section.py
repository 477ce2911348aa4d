"""The base of every config section of every tool (curate, train, review)."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, model_validator


class Section(BaseModel):
    """Unknown keys are errors (a typo never passes silently); assignments are validated too.

    TOML has no null: the string ``"none"`` (any case) becomes ``None``, which switches off any
    threshold whose field allows it; a field that does not allow it rejects it with its own name.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _none_strings(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: (None if isinstance(v, str) and v.lower() == "none" else v) for k, v in data.items()}
            for key, value in data.items():
                _check_kind(cls, key, value)
        return data


def _check_kind(cls: type[BaseModel], key: str, value: Any) -> None:
    """A switch takes true or false, a number no true or false: pydantic would read "yes" as true and
    true as 1, so a typo in a TOML file would pass as a setting nobody meant."""
    field = cls.model_fields.get(key)
    if field is None or value is None:
        return
    kinds = set(get_args(field.annotation)) or {field.annotation}
    kinds.discard(type(None))
    if kinds == {bool} and not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    if kinds and kinds <= {int, float} and isinstance(value, bool):
        raise ValueError(f"{key}: expected a number, got {value!r}")
