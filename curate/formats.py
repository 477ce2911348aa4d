"""Detect a file's instruction-data format and normalise rows to chat messages, and back.

Alpaca rows become one user turn and one assistant turn. The user turn is the instruction, then, when
``input`` is not empty, a blank line and the input: ``f"{instruction}\\n\\n{input}"`` (the Alpaca
convention). An optional ``system`` field becomes a leading system turn and LLaMA-Factory's ``history``
pairs become earlier turns. Original fields are kept, so rows are written back in their own format.

A field where text belongs (instruction, input, output, system, a turn's text, a history pair) must hold
a JSON string: a number, boolean, list or object there is :class:`RowError` ``read.bad_type`` naming the
field, and ingestion quarantines the row with its file and line (``"input": null`` is an empty input).
Writing back to Alpaca (:func:`to_alpaca`) never drops a turn: what Alpaca cannot hold raises.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

INSTRUCTION_KEYS = ("instruction", "prompt", "question")
INPUT_KEYS = ("input", "context")
OUTPUT_KEYS = ("output", "response", "answer", "completion")
ROLE_ALIASES = {
    "system": "system", "sys": "system",
    "user": "user", "human": "user", "prompter": "user", "usuario": "user", "utilisateur": "user",
    "benutzer": "user", "用户": "user", "ユーザー": "user", "question": "user", "customer": "user",
    "assistant": "assistant", "gpt": "assistant", "bot": "assistant", "model": "assistant",
    "chatgpt": "assistant", "bard": "assistant", "bing": "assistant", "ai": "assistant",
    "asistente": "assistant", "assistente": "assistant", "助手": "assistant", "アシスタント": "assistant",
    "answer": "assistant", "agent": "assistant", "chatbot": "assistant",
}
# Other names a chat data set gives its turn list, and each turn's role and text (first match wins).
CHAT_KEYS = ("conversation", "dialog", "dialogue", "turns", "chat", "dialogs", "utterances")
ROLE_KEYS = ("role", "from", "speaker", "author", "sender", "user")
CONTENT_KEYS = ("content", "value", "text", "message", "utterance")


class RowError(ValueError):
    """A row that cannot be normalised; ``field`` names the field at fault."""

    def __init__(self, message: str, field: str | None = None, code: str = "read.missing_field"):
        super().__init__(message)
        self.field = field
        self.code = code


def detect_format(rows: Iterable[Mapping[str, Any]], sample: int = 200) -> str | None:
    """Return the majority format of the first ``sample`` rows, or ``None`` if none is recognised."""
    votes = Counter()
    for i, row in enumerate(rows):
        if i >= sample:
            break
        fmt = row_format(row)
        if fmt:
            votes[fmt] += 1
    return votes.most_common(1)[0][0] if votes else None


def row_format(row: Mapping[str, Any]) -> str | None:
    """The format a single row looks like, by its keys."""
    if isinstance(row.get("messages"), list):
        return "messages"
    if isinstance(row.get("conversations"), list):
        return "sharegpt"
    if chat_key(row):
        return "chat"
    if "prompt" in row and "completion" in row and "instruction" not in row:
        return "prompt_completion"
    if any(k in row for k in INSTRUCTION_KEYS) and any(k in row for k in OUTPUT_KEYS):
        return "alpaca"
    return None


def apply_column_map(row: dict[str, Any], column_map: Mapping[str, str]) -> dict[str, Any]:
    """Rename source columns to Sieve's field names (``--column-map src=dst``)."""
    if not column_map:
        return row
    return {column_map.get(k, k): v for k, v in row.items()}


def column_map_clash(row: Mapping[str, Any], column_map: Mapping[str, str]) -> tuple[str, str, str] | None:
    """Two keys of ``row`` that ``column_map`` gives one name (two sources, or a source and a key already
    so named): ``(key, other_key, name)``, else None. Renaming that row would lose one of the two values."""
    seen: dict[str, str] = {}
    for key in row:
        name = column_map.get(key, key)
        if name in seen:
            return seen[name], key, name
        seen[name] = key
    return None


def to_messages(row: Mapping[str, Any], fmt: str) -> list[dict[str, str]]:
    """Normalise one row of format ``fmt`` to a list of ``{"role", "content"}`` dicts.

    Unknown roles are kept as they are (lower-cased) so that validation can flag them with a reason
    code instead of the row vanishing. Raises :class:`RowError` naming the missing or malformed field.
    """
    if fmt == "messages":
        return _chat(row, "messages", "role", "content")
    if fmt == "sharegpt":
        return _chat(row, "conversations", "from", "value")
    if fmt == "chat":
        key = chat_key(row) or CHAT_KEYS[0]
        return _chat(row, key, None, None)
    if fmt == "prompt_completion":
        return [{"role": "user", "content": _text(row, "prompt")},
                {"role": "assistant", "content": _text(row, "completion")}]
    return _alpaca(row)


def chat_key(row: Mapping[str, Any]) -> str | None:
    """The key of a turn list stored under another name (``conversation``, ``dialog``, ...), if any."""
    return next((k for k in CHAT_KEYS if isinstance(row.get(k), list) and row[k]
                 and all(isinstance(t, Mapping) for t in row[k])), None)


def _turn_keys(turns: Any) -> tuple[str, str]:
    """The role and text keys the turns use: the first of ROLE_KEYS / CONTENT_KEYS the first turn has."""
    first = turns[0] if isinstance(turns, list) and turns and isinstance(turns[0], Mapping) else {}
    role = next((k for k in ROLE_KEYS if k in first), ROLE_KEYS[0])
    content = next((k for k in CONTENT_KEYS if k in first and k != role), CONTENT_KEYS[0])
    return role, content


def map_roles(messages: list[dict[str, str]], role_map: Mapping[str, str]) -> list[dict[str, str]]:
    """Apply ``--role-map SRC=DST`` (source role values, matched case-insensitively, after the aliases)."""
    if not role_map:
        return messages
    lowered = {k.strip().lower(): v for k, v in role_map.items()}
    return [{**m, "role": lowered.get(m["role"], m["role"])} for m in messages]


def _alpaca(row: Mapping[str, Any]) -> list[dict[str, str]]:
    instruction = _text(row, _first_key(row, INSTRUCTION_KEYS, "instruction"))
    output = _text(row, _first_key(row, OUTPUT_KEYS, "output"))
    key = _first_key(row, INPUT_KEYS, None)
    extra = _text(row, key, required=False) if key else ""
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    messages: list[dict[str, str]] = []
    if row.get("system"):
        messages.append({"role": "system", "content": _text(row, "system")})
    for i, pair in enumerate(row.get("history") or []):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise RowError(f"history[{i}] must be a [user, assistant] pair of texts", field=f"history[{i}]",
                           code="read.bad_type")
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
    return messages


def _first_key(row: Mapping[str, Any], keys: tuple[str, ...], default: str | None) -> str | None:
    return next((k for k in keys if k in row), default)


def _text(row: Mapping[str, Any], key: str | None, required: bool = True) -> str:
    value = row.get(key) if key else None
    if value is None:
        if required:
            raise RowError(f"missing field '{key}'", field=key)
        return ""
    if not isinstance(value, str):  # 123, 4.5, true: a value, not a text; str() would invent one
        raise RowError(f"field '{key}' must be text, got {type(value).__name__}", field=key, code="read.bad_type")
    return value


# Keys of an assistant turn that calls tools (OpenAI's tool_calls, its older function_call)
TOOL_CALL_KEYS = ("tool_calls", "function_call")

# Turns that hold a whole exchange: {"human": ..., "assistant": ...} (Firefly, some Chinese sets).
PAIR_KEYS = (("human", "assistant"), ("user", "assistant"), ("input", "output"), ("question", "answer"))


def _chat(row: Mapping[str, Any], key: str, role_key: str | None, content_key: str | None) -> list[dict[str, str]]:
    """Turns of ``row[key]``. ``role_key``/``content_key`` None: chosen per turn (:func:`_turn_keys`), and
    a turn that holds a whole exchange (:data:`PAIR_KEYS`) becomes two messages."""
    turns = row.get(key)
    if not isinstance(turns, list) or not turns:
        raise RowError(f"field '{key}' must be a non-empty list of turns", field=key,
                       code="read.bad_type" if turns is not None else "read.missing_field")
    messages = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, Mapping):
            raise RowError(f"{key}[{i}] must be an object", field=f"{key}[{i}]", code="read.bad_type")
        pair = next((p for p in PAIR_KEYS if p[0] in turn and p[1] in turn), None) if role_key is None else None
        if pair is not None:
            messages += [{"role": "user", "content": _turn_text(turn, pair[0], key, i)},
                         {"role": "assistant", "content": _turn_text(turn, pair[1], key, i)}]
            continue
        rk, ck = (role_key, content_key) if role_key is not None else _turn_keys([turn])
        calls = next((k for k in TOOL_CALL_KEYS if turn.get(k)), None)
        if calls is not None:  # a turn's text alone would train on a conversation with its tool calls cut out
            raise RowError(f"{key}[{i}] calls a tool ('{calls}'): Sieve does not curate tool-calling "
                           "conversations yet, so the row is quarantined, never kept without its calls",
                           field=f"{key}[{i}].{calls}", code="read.tool_call")
        role = turn.get(rk)
        if role is None:
            raise RowError(f"{key}[{i}] has no role: keys {sorted(turn)}; Sieve reads a role from "
                           f"{'/'.join(ROLE_KEYS)} and text from {'/'.join(CONTENT_KEYS)} (or pairs such as "
                           "human/assistant); rename with --column-map", field=f"{key}[{i}].{rk}")
        if not isinstance(role, str):
            raise RowError(f"{key}[{i}].{rk} must be text, got {type(role).__name__}", field=f"{key}[{i}].{rk}",
                           code="read.bad_type")
        name = role.strip().lower()
        messages.append({"role": ROLE_ALIASES.get(name, name), "content": _turn_text(turn, ck, key, i)})
    return messages


def _turn_text(turn: Mapping[str, Any], ck: str, key: str, i: int) -> str:
    content = turn.get(ck)
    if isinstance(content, list):  # OpenAI content parts: keep the text parts
        if not all(isinstance(p, Mapping) for p in content):
            raise RowError(f"{key}[{i}].{ck} must be text or a list of content parts", field=f"{key}[{i}].{ck}",
                           code="read.bad_type")
        content = "".join(str(p.get("text", "")) for p in content)
    if content is None:
        raise RowError(f"{key}[{i}] has no '{ck}'", field=f"{key}[{i}].{ck}")
    if not isinstance(content, str):
        got = "an object" if isinstance(content, Mapping) else type(content).__name__
        raise RowError(f"{key}[{i}].{ck} must be text, got {got}", field=f"{key}[{i}].{ck}", code="read.bad_type")
    return content


class NotAlpacaError(ValueError):
    """Messages an Alpaca row cannot hold without losing a turn, a role or the system prompt."""


def to_alpaca(messages: list[Mapping[str, str]], metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write messages as an Alpaca row that reads back as the same messages.

    A leading system turn becomes ``system``, earlier user/assistant pairs become ``history``
    (LLaMA-Factory's convention, which :func:`to_messages` reads), the last pair ``instruction`` and
    ``output``. When ``metadata`` holds the row's original Alpaca fields and they still produce the same
    messages, they are returned as they were (so ``input`` stays split from ``instruction``).
    Raises :class:`NotAlpacaError` for anything else (a tool or unknown role, two user turns in a row,
    an assistant turn first, an empty system prompt): Alpaca has no place for it, and the caller decides
    how to write the row whole.
    """
    turns = [{"role": m["role"], "content": m["content"]} for m in messages]
    if metadata and row_format(metadata) == "alpaca":
        try:
            if _alpaca(metadata) == turns:
                keys = (*INSTRUCTION_KEYS, *INPUT_KEYS, *OUTPUT_KEYS, "system", "history")
                return {k: metadata[k] for k in keys if k in metadata}
        except RowError:
            pass
    row = _alpaca_shape(turns)
    if row is None:
        raise NotAlpacaError("Alpaca holds an optional system turn, then user/assistant pairs; this row's roles "
                             f"are {[t['role'] for t in turns]}")
    return row


def _alpaca_shape(turns: list[dict[str, str]]) -> dict[str, Any] | None:
    """The Alpaca row for ``turns``, or None when it would not read back as exactly these turns."""
    system = turns[0]["content"] if turns and turns[0]["role"] == "system" else None
    rest = turns[1:] if system is not None else turns
    if not rest or len(rest) % 2 or any(t["role"] != ("user", "assistant")[i % 2] for i, t in enumerate(rest)):
        return None
    pairs = [[rest[i]["content"], rest[i + 1]["content"]] for i in range(0, len(rest), 2)]
    row: dict[str, Any] = {"instruction": pairs[-1][0], "input": "", "output": pairs[-1][1]}
    if system is not None:
        row["system"] = system
    if len(pairs) > 1:
        row["history"] = pairs[:-1]
    try:  # what the reader would make of it: an empty system prompt, for one, is not read back
        return row if _alpaca(row) == turns else None
    except RowError:
        return None


def is_single_turn(messages: list[Mapping[str, str]]) -> bool:
    """True when the conversation is (system?) user, assistant."""
    roles = [m["role"] for m in messages if m["role"] != "system"]
    return roles == ["user", "assistant"]


def describe_mapping(rows: list[Mapping[str, Any]]) -> list[str]:
    """What ingestion maps in these (original) rows, for ``sieve inspect``: where the turns are, which
    keys hold role and text, and each role value with the role it becomes ('?' when Sieve does not know
    it: --role-map fixes that)."""
    lines: list[str] = []
    roles: dict[str, str] = {}
    for row in rows:
        fmt = row_format(row)
        if fmt not in ("messages", "sharegpt", "chat"):
            continue
        key = {"messages": "messages", "sharegpt": "conversations"}.get(fmt) or chat_key(row)
        role_key, text_key = {"messages": ("role", "content"), "sharegpt": ("from", "value")}.get(
            fmt) or _turn_keys(row.get(key))
        where = f"turns under '{key}', role in '{role_key}', text in '{text_key}'"
        if where not in lines:
            lines.append(where)
        for turn in row.get(key) or []:
            if isinstance(turn, Mapping) and turn.get(role_key) is not None:
                raw = str(turn[role_key])
                name = raw.strip().lower()
                roles.setdefault(raw, ROLE_ALIASES.get(name, name if name in ("system", "user", "assistant") else "?"))
    if roles:
        lines.append("roles: " + ", ".join(f"{raw} -> {dst}" for raw, dst in roles.items())
                     + ("  (? = unknown: --role-map SRC=DST)" if "?" in roles.values() else ""))
    return lines
