"""What the reviewer is told besides the row: the keyboard map (one table that both the buttons' shortcuts
and the help overlay read, so they cannot drift apart), the project's guidelines file, and the diff of a
fix before it is saved. Plain functions: no streamlit here."""

from __future__ import annotations

import difflib
from pathlib import Path

from review_app.errors import ReviewError

# Shortcuts as Streamlit spells them. The fix keys carry Ctrl so that they work while the cursor is in a
# text box (Streamlit ignores plain-letter shortcuts there, so typing an "s" never saves).
ACCEPT, REJECT, SKIP, UNDO, PREVIOUS = "a", "x", "n", "u", "p"
OPEN_FIX, PREVIEW_FIX, SAVE_FIX = "f", "Ctrl+Enter", "Ctrl+S"
GUIDELINES, HELP = "g", "h"


def numbered_reasons(reasons: list[str]) -> list[tuple[str, str]]:
    """(key, reason) for keys 1-9: the reasons in the order shown, less the free-text 'other' one
    (a key cannot type its text)."""
    return [(str(i + 1), r) for i, r in enumerate([r for r in reasons if not r.startswith("other")][:9])]


def key_map(reasons: list[str], guidelines: bool) -> list[tuple[str, str]]:
    """Every key of the review screen with what it does, in the order of the help overlay."""
    keys = [(ACCEPT, "accept the row shown"),
            (REJECT, "reject with the reason picked in the list"),
            *[(k, f"reject: {r}") for k, r in numbered_reasons(reasons)],
            (SKIP, "skip (the row comes back after every other row of the queue)"),
            (UNDO, "undo your last decision"),
            (PREVIOUS, "show the row you decided before"),
            (OPEN_FIX, "open the fix form (then Tab into its boxes)"),
            (PREVIEW_FIX, "in a fix box: preview the fix as a diff"),
            (SAVE_FIX, "save the fix as previewed"),
            ("?", "this help (or h)")]
    if guidelines:
        keys.insert(-1, (GUIDELINES, "the project's review guidelines"))
    return keys


def read_guidelines(path: str | Path) -> str:
    """The guidelines file's markdown.

    Raises:
        ReviewError: the file is missing, unreadable or not UTF-8 text (message names the file)."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReviewError(f"{p.name}: no such guidelines file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReviewError(f"{p.name}: cannot read the guidelines file ({exc.__class__.__name__})") from None


def field_diffs(before: dict[str, str], after: dict[str, str]) -> list[tuple[str, str]]:
    """(field, unified diff of its text) for each field a fix changes, in the fields' order; an empty list
    when nothing changed. Diffs are by line; a one-line field shows as its old and new line."""
    out = []
    for field, new in after.items():
        old = before.get(field, "")
        if old != new:
            diff = difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after", lineterm="")
            out.append((field, "\n".join(diff)))
    return out
