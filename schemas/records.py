"""Record models: a chat message, a normalised example, and a quarantined (unreadable) row."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["system", "user", "assistant"]
Format = Literal["alpaca", "messages", "sharegpt", "prompt_completion", "column_map"]


class Message(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str


class Example(BaseModel):
    """One training example after ingestion, in messages form.

    ``metadata`` keeps the row's original fields so that it can be written back in its own format.
    Structural problems (an empty turn, two user turns in a row, ...) are *not* raised here: they are
    reported as reason codes by :func:`schemas.checks.check_messages`, because a row with a defect must
    still flow through the pipeline and be written out with its reasons.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Stable id: a hash of source file name, position and content.")
    messages: list[Message]
    source_file: str
    source_line: int = Field(description="1-based line of the row in its file (JSON/JSONL/CSV), or 0-based index (Parquet).")
    format: Format
    metadata: dict[str, Any] = Field(default_factory=dict, description="The row's original fields.")

    @field_validator("messages")
    @classmethod
    def _not_empty(cls, value: list[Message]) -> list[Message]:
        if not value:
            raise ValueError("messages: an example needs at least one message")
        return value


class QuarantineRecord(BaseModel):
    """A row (or a piece of a file) that could not be read, with where and why."""

    model_config = ConfigDict(extra="forbid")

    source_file: str
    line: int | None = Field(default=None, description="1-based line where the problem starts, if known.")
    column: int | None = Field(default=None, description="1-based column, if known.")
    field: str | None = Field(default=None, description="The field at fault, if one is.")
    code: str = Field(description="Stable dotted reason code, e.g. read.json_syntax.")
    error: str = Field(description="Human-readable description of the problem.")
    raw: str | None = Field(default=None, description="The raw text of the row (truncated to 2,000 chars).")

    def location(self) -> str:
        """``file:line:col`` as far as it is known."""
        loc = self.source_file
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        return loc
