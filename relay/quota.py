"""The relay's monthly quota as the client sees it: what it sent this month, and whether the relay said "spent".

Hosted relays cap each account's authenticated requests per calendar month (UTC), and a scoped key may carry
its own monthly limit (relay.md, "Monthly quotas"). Nothing tells an API key how much is left, so the client
counts its own requests (``Quota.count``; a service saves the tally, see services/relay_budget.py) and
remembers the relay's "monthly limit" answer until the month ends.

Requests made inside ``background_requests()`` (the background refresh, cache warm-ups) are the ones that
stop once the month is spent: the client refuses them itself, except one probe a day (``PROBE_EVERY``), so a
bot whose account was upgraded finds out. Commands are always sent: only the relay refuses them.
"""

from __future__ import annotations

import calendar
import contextvars
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

PROBE_EVERY = 86_400.0  # seconds between background probes of a spent month

_background: contextvars.ContextVar[bool] = contextvars.ContextVar("relay_background", default=False)


@contextmanager
def background_requests() -> Iterator[None]:
    """Marks the relay requests made inside (tasks started inside too) as background work."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


def in_background() -> bool:
    return _background.get()


def month_of(when: float) -> str:
    """The calendar month (UTC) of a wall-clock time, as "2025-12"."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m")


def month_start(when: float) -> float:
    moment = datetime.fromtimestamp(when, UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp()


def next_month_start(when: float) -> float:
    """The 1st of the next month, 00:00 UTC: when the relay resets its monthly counters."""
    moment = datetime.fromtimestamp(when, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


def days_in_month(when: float) -> int:
    moment = datetime.fromtimestamp(when, UTC)
    return calendar.monthrange(moment.year, moment.month)[1]


@dataclass(frozen=True)
class Spent:
    """The relay answered that this month's requests are spent."""

    scope: str  # "account" (all keys of the relay account) or "key" (this scoped key's own limit)
    limit: int | None  # the account's limit, when the relay said it
    month: str
    resets_at: float  # the 1st of the next month, 00:00 UTC
    at: float


class Quota:
    """One per RelayClient. ``clock`` is wall-clock seconds (tests inject one to cross a month)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._spent: Spent | None = None
        self._probed_at: float | None = None
        # month -> requests sent and not yet saved; the same for background requests alone
        self._unsaved: Counter[str] = Counter()
        self._unsaved_background: Counter[str] = Counter()

    # --- counting -------------------------------------------------------------------------------

    def count(self) -> None:
        """One request the relay counted (it passed authentication and the per-minute limit)."""
        month = month_of(self.clock())
        self._unsaved[month] += 1
        if in_background():
            self._unsaved_background[month] += 1

    def unsaved(self, month: str) -> tuple[int, int]:
        return self._unsaved[month], self._unsaved_background[month]

    def take_unsaved(self) -> dict[str, tuple[int, int]]:
        """Everything counted since the last call: month -> (requests, of which background)."""
        taken = {m: (n, self._unsaved_background[m]) for m, n in self._unsaved.items() if n}
        self._unsaved.clear()
        self._unsaved_background.clear()
        return taken

    def give_back(self, taken: dict[str, tuple[int, int]]) -> None:
        """Saving failed: count them again next time."""
        for month, (requests, background) in taken.items():
            self._unsaved[month] += requests
            self._unsaved_background[month] += background

    # --- the relay's answer ---------------------------------------------------------------------

    def spent(self) -> Spent | None:
        """The relay's "spent" answer, while it holds (it ends with the month)."""
        spent = self._spent
        if spent is not None and self.clock() >= spent.resets_at:
            self._spent = self._probed_at = None
            return None
        return spent

    def exhausted(self, scope: str, limit: int | None) -> Spent:
        now = self.clock()
        self._spent = Spent(scope, limit, month_of(now), next_month_start(now), now)
        return self._spent

    def accepted(self) -> None:
        """The relay counted a request: the month is not spent (a paid plan, a raised key limit)."""
        self._spent = self._probed_at = None

    def next_probe_at(self) -> float | None:
        """When a background request may next go out to test a spent month; None when not spent."""
        spent = self.spent()
        if spent is None:
            return None
        last = self._probed_at if self._probed_at is not None else spent.at
        return min(last + PROBE_EVERY, spent.resets_at)

    def may_send_background(self) -> bool:
        """Whether a background request may go now; a spent month lets one probe through a day."""
        due = self.next_probe_at()
        if due is None:
            return True
        if self.clock() < due:
            return False
        self._probed_at = self.clock()
        return True
