"""Sieve's record and configuration models (pydantic v2, ``extra="forbid"``).

These are the boundaries of the system: what a row looks like after ingestion, what an unreadable row
becomes, and every tool's configuration with all of its defaults.
"""

from schemas.checks import STRUCTURE_CODES, check_messages
from schemas.config import CurateConfig, load_curate_config
from schemas.records import Example, Message, QuarantineRecord, Role

__all__ = [
    "STRUCTURE_CODES",
    "CurateConfig",
    "Example",
    "Message",
    "QuarantineRecord",
    "Role",
    "check_messages",
    "load_curate_config",
]
