"""Per-minute limits on what strangers can ask of a public deployment (local mode: no limits at all).

A token bucket per (kind, key): the key is a workspace id (predictions, polls) or a client address (new
anonymous workspaces). A bucket holds up to ``limit`` calls and refills at ``limit`` per minute, so short bursts
pass and a steady flood is cut to the limit. State lives in this process only: the app is one process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import settings
from .errors import UserError


@dataclass(frozen=True)
class Limit:
    setting: settings.Setting
    refusal: str  # what was too frequent, in the user's words ("Too many ... in a minute")
    advice: str  # what to do now


LIMITS: dict[str, Limit] = {
    "predict": Limit(settings.RATE_PREDICT, "Too many predictions", "Wait a few seconds and try again"),
    "advise": Limit(settings.RATE_ADVISE, "Too many advice requests", "Wait a minute and try again"),
    "poll": Limit(settings.RATE_POLL, "Too many refreshes", "Wait a few seconds and try again"),
    "new_workspace": Limit(
        settings.RATE_NEW_WORKSPACES, "Too many new sessions from your network", "Wait a minute, then reload the page"
    ),
}


class LimitReached(UserError):
    """A rate limit refused a call (the message names the limit and how to get past it)."""


class Buckets:
    """Token buckets by key; thread-safe (gradio runs handlers in a thread pool)."""

    MAX_KEYS = 20_000  # beyond this, buckets idle long enough to be full again are forgotten

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock, self._lock = clock, threading.Lock()
        self._state: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (tokens, time of last update)

    def take(self, kind: str, key: str, per_minute: float) -> bool:
        """Spend one call of ``key``'s budget; False when the budget is used up (nothing is spent then)."""
        if per_minute <= 0:
            return True
        now = self._clock()
        with self._lock:
            tokens, then = self._state.get((kind, key), (per_minute, now))
            tokens = min(per_minute, tokens + (now - then) * per_minute / 60.0)
            allowed = tokens >= 1.0
            self._state[(kind, key)] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._state) > self.MAX_KEYS:
                self._forget_idle(now)
        return allowed

    def _forget_idle(self, now: float) -> None:
        for k in [k for k, (_, then) in self._state.items() if now - then > 120.0]:
            del self._state[k]

    def clear(self) -> None:
        with self._lock:
            self._state.clear()


BUCKETS = Buckets()


def limit_of(kind: str) -> int:
    return int(settings.number(LIMITS[kind].setting))


def message(kind: str) -> str:
    spec = LIMITS[kind]
    return (
        f"{spec.refusal} in a minute (limit {limit_of(kind)}). {spec.advice}; the owner of a private deployment "
        f"can raise {spec.setting.name}."
    )


def allowed(kind: str, key: str) -> bool:
    """True if the call may go ahead (always in local mode); spends one call of the budget."""
    if not settings.public_mode():
        return True
    return BUCKETS.take(kind, key, limit_of(kind))


def check(kind: str, key: str) -> None:
    """Raise LimitReached, with the plain message, when ``key`` has used up its per-minute budget."""
    if not allowed(kind, key):
        raise LimitReached(message(kind))
