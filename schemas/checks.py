"""Structural checks on a conversation. They return stable reason codes; they never raise.

Codes are dotted and stable: tests assert them, reports count them, configs map them to verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

KNOWN_ROLES = frozenset({"system", "user", "assistant"})

STRUCTURE_CODES: dict[str, str] = {
    "structure.empty_content": "a message has empty or whitespace-only content",
    "structure.system_not_first": "a system message appears after the first turn",
    "structure.consecutive_user": "two user turns in a row",
    "structure.consecutive_assistant": "two assistant turns in a row",
    "structure.no_assistant": "the conversation has no assistant turn",
    "structure.not_ending_with_assistant": "the conversation does not end with an assistant turn",
    "structure.unknown_role": "a message has a role other than system, user or assistant",
    "structure.assistant_first": "the first turn after any system prompt is the assistant's (an answer to nothing)",
}


def check_messages(messages: Sequence[Mapping[str, object]]) -> list[str]:
    """Return the sorted, de-duplicated structure codes that apply to ``messages`` (empty list: valid).

    ``messages`` are plain mappings with ``role`` and ``content`` so the check runs on raw rows too.
    """
    codes: set[str] = set()
    roles = [str(m.get("role")) for m in messages]
    for i, (role, msg) in enumerate(zip(roles, messages)):
        content = msg.get("content")
        if not isinstance(content, str) or not content.strip():
            codes.add("structure.empty_content")
        if role not in KNOWN_ROLES:
            codes.add("structure.unknown_role")
        if role == "system" and i > 0:
            codes.add("structure.system_not_first")
        if i > 0 and role == roles[i - 1] and role in ("user", "assistant"):
            codes.add(f"structure.consecutive_{role}")
    first = next((r for r in roles if r != "system"), None)
    if first == "assistant":
        codes.add("structure.assistant_first")
    if "assistant" not in roles:
        codes.add("structure.no_assistant")
    elif roles[-1] != "assistant":
        codes.add("structure.not_ending_with_assistant")
    return sorted(codes)
