"""Which review sessions still have their browser tab: so a closed or reloaded tab gives its row back
at once, not only when its lease runs out. Plain code; it never imports streamlit (the app passes in
Streamlit's own test, ``Runtime.is_active_session``).

A review session (the id a lease names, made at sign-in) lives in one browser tab, which Streamlit
knows by its own session id. When the tab closes or reloads, its websocket goes and Streamlit drops
that id from its active sessions at once. :meth:`Tabs.gone` hands back the review sessions whose tab
has gone, for :func:`review_app.queue.release_sessions`. The app asks on every rerun of any tab (a
sign-in, a claim, a heartbeat), so the row is free before anyone else asks for one.

The lease expiry stays as the backstop for what this cannot see: a server that stopped, a second app
process on the same store (each process knows only its own tabs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Tabs:
    """Review session -> browser tab, for one server process (shared by all its sessions' threads)."""

    def __init__(self) -> None:
        self._tab_of: dict[str, str] = {}
        self._lock = threading.Lock()

    def register(self, session: str, tab: str) -> None:
        """Record that review ``session`` lives in browser tab ``tab`` (every rerun does: a tab that
        reconnected after a drop is known again)."""
        with self._lock:
            self._tab_of[session] = tab

    def gone(self, connected: Callable[[str], bool]) -> list[str]:
        """The review sessions whose tab ``connected`` says is gone; they are forgotten, so each is
        handed back once."""
        with self._lock:
            dead = [s for s, tab in self._tab_of.items() if not connected(tab)]
            for s in dead:
                del self._tab_of[s]
        return dead
