"""The shared review password (reviewer accounts are :mod:`review_app.accounts`): a constant-time comparison and a growing delay after failures. Plain
functions; they never import streamlit (the app keeps one :class:`Throttle` per server process)."""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


def password_ok(given: str, expected: str) -> bool:
    """True when ``given`` is the password; the time taken does not depend on where they differ."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Throttle:
    """Counts failed sign-ins across every session of the server process (a new tab does not reset it)
    and says how long the next attempt must wait: ``base`` seconds after the first failure, doubling
    after each further one, at most ``cap``; a success resets it."""

    base: float
    cap: float
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def delay(self) -> float:
        with self._lock:
            return 0.0 if self.failures == 0 else min(self.base * 2 ** (self.failures - 1), self.cap)

    def attempt(self, given: str, expected: str, sleep=time.sleep) -> bool:
        """Wait the current delay, then check ``given``; records the outcome and returns it."""
        return self.check(lambda: password_ok(given, expected), sleep)

    def check(self, ok_now: Callable[[], T], sleep=time.sleep) -> T:
        """Wait the current delay, then run the check ``ok_now`` (a reviewer account's password, say);
        records whether its result is truthy and returns the result."""
        sleep(self.delay())
        ok = ok_now()
        with self._lock:
            self.failures = 0 if ok else self.failures + 1
        return ok
