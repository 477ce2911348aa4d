"""The base of every config section of every tool (curate, train, review)."""

from __future__ import annotations

from typing import Any

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
            return {k: (None if isinstance(v, str) and v.lower() == "none" else v) for k, v in data.items()}
        return data
