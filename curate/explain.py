"""The rule table behind ``sieve curate --explain``."""

from __future__ import annotations

from curate.rules import RULES
from schemas.config import CurateConfig


def rule_table(cfg: CurateConfig) -> list[dict[str, str]]:
    """One dict per rule: code, action, setting and its value, and why the rule exists."""
    rows = []
    for rule in RULES:
        value = ""
        if rule.setting and "." in rule.setting and not rule.setting.startswith("--"):
            section, name = rule.setting.split(".", 1)
            value = repr(getattr(getattr(cfg, section), name))
        rows.append({"code": rule.code, "action": cfg.actions[rule.code], "setting": rule.setting or "",
                     "value": value, "why": rule.why})
    return rows
