"""The ``sieve review`` configuration: one model, every default in it, overridable from TOML.

Read by the CLI (which passes the file to the app through ``SIEVE_REVIEW_CONFIG``) and by the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from schemas.section import Section

from schemas.toml_source import config_data


class ReviewConfig(Section):

    lease_seconds: float = Field(
        90.0, gt=0, description="how long a row stays held by a browser session without a heartbeat; an open "
        "row renews it every heartbeat. A closed or reloaded tab frees its row at once (the app sees its "
        "websocket go); this expiry is the backstop for what the app cannot see: a stopped server, a second "
        "app process on the same store")
    heartbeat_seconds: float = Field(
        20.0, gt=0, description="how often an open row renews its lease; well under lease_seconds so one missed "
        "beat (a slow rerun, a busy CPU) does not lose the row")
    double_review: float = Field(
        0.0, ge=0, le=1, description="share of review rows that need two reviewers; fixed when a run is first "
        "imported into a store (it decides which rows wait for a second reviewer)")
    collapse_chars: int = Field(
        3000, ge=200, description="a message longer than this is shown cut, with 'show all': a 200 KB row must not "
        "push the page tens of thousands of pixels down")
    password_delay_s: float = Field(
        1.0, ge=0, description="delay after the first wrong password; doubles with each further failure")
    password_delay_max_s: float = Field(30.0, ge=0, description="the longest delay: slows guessing, never locks out")

    @model_validator(mode="after")
    def _checks(self) -> ReviewConfig:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(f"heartbeat_seconds ({self.heartbeat_seconds}) must be at most half of lease_seconds "
                             f"({self.lease_seconds}), or one late heartbeat loses the row")
        if self.password_delay_max_s < self.password_delay_s:
            raise ValueError("password_delay_max_s must be at least password_delay_s")
        return self


def load_review_config(path: str | Path | None = None, **overrides: Any) -> ReviewConfig:
    """Defaults, then an optional TOML file, then keyword overrides (``None`` values ignored)."""
    return ReviewConfig.model_validate(config_data(path, overrides))
