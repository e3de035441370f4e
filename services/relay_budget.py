"""Living within a hosted relay's monthly quota: the bot's own count of its relay requests, what /status says
about it, the background refresh's share, and the GM's heads-up at 80 %.

The public relay gives a free account 5,000 requests a calendar month (UTC) for all its keys, and shows the
account's counter only on its dashboard. So the bot counts what it sends (the relay client's ``Quota``) and
saves the tally in batches: every ``FLUSH_EVERY`` seconds and at close, never inside a command, so a busy
database costs a command nothing (a failed save is retried with the next batch).

The budget never refuses a command: only the relay does. It stretches the background refresh so that it
spends at most a third of the limit (``budgeted_interval``), and it warns.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.errors import UserFacingError
from relay import Quota, RelayMonthlyLimit
from relay.quota import days_in_month, month_of, month_start
from storage.relay_usage import MonthUsage, RelayUsageStore

log = logging.getLogger(__name__)

FLUSH_EVERY = 60.0  # seconds between saves of the request tally
BACKGROUND_SHARE = 3  # the background refresh may spend at most 1/3 of the month's limit
BUDGET_DAYS = 31  # budgeted as the longest month
WARN_AT = 0.8  # /status warns, and a GM running a command is told once a day, from 80 % of the limit
MIN_PACE_SECONDS = 3600.0  # the projection never extrapolates from less than an hour of the month

# How a spent month's refusal names what stopped working, per command.
_WHAT = {
    "lookup": "lookups",
    "push": "pushes",
    "refresh": "refreshes",
    "reveal": "reveals",
    "hide": "hides",
    "world": "world choices",
    "worlds": "world lists",
    "players": "player links",
    "status": "status checks",
}


def month_spent(error: BaseException) -> bool:
    """The relay refuses until the 1st (UTC): retrying sooner is pointless (the command line's own exit code)."""
    return isinstance(error, RelayMonthlyLimit)


def worded_for(error: UserFacingError, command: str | None) -> UserFacingError:
    """A monthly-limit refusal naming what the command was ("lookups work again on 1 January")."""
    if isinstance(error, RelayMonthlyLimit) and command:
        return error.for_command(_WHAT.get(command.split()[0], "relay commands"))
    return error


def interval_cost(views_per_world: list[int]) -> int:
    """Requests one background interval costs: per world 1 (an unchanged tree) plus 2 per player view
    (the world's users and that view's tree)."""
    return sum(1 + 2 * views for views in views_per_world)


def budgeted_interval(interval: float, cost: int, limit: int | None) -> float:
    """REFRESH_INTERVAL, stretched so a month of intervals costs at most a third of the limit:
    interval >= cost x 31 days x 3 / limit."""
    if not limit or cost <= 0 or interval <= 0:
        return interval
    return max(interval, math.ceil(cost * BUDGET_DAYS * 86_400 * BACKGROUND_SHARE / limit))


@dataclass(frozen=True)
class Usage:
    month: str
    requests: int
    background: int
    limit: int | None
    projected: int  # by the end of the month, at this month's pace so far
    last_day: int

    @property
    def near_limit(self) -> bool:
        return bool(self.limit) and self.requests >= WARN_AT * self.limit

    @property
    def share(self) -> int:
        return int(100 * self.requests / self.limit) if self.limit else 0


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _rounded(n: float) -> int:
    return int(round(n, -2) if n >= 1000 else round(n, -1) if n >= 100 else round(n))


class RelayBudget:
    def __init__(
        self,
        quota: Quota | None,
        store: RelayUsageStore,
        limit: int | None,
        *,
        clock: Callable[[], float] = time.time,
        flush_every: float = FLUSH_EVERY,
    ):
        self.quota = quota  # None: no relay configured, nothing to count
        self.store = store
        self.limit = limit
        self.clock = clock
        self.flush_every = flush_every
        self._saved: dict[str, MonthUsage] = {}  # the database's totals as last read
        self._saving: dict[str, tuple[int, int]] = {}  # taken from the tally, not yet committed
        self._failing = False
        self._warned: dict[int, str] = {}  # member id -> the UTC day they were last told
        self._task: asyncio.Task | None = None

    # --- the tally ------------------------------------------------------------------------------

    async def load(self) -> None:
        """This month's saved total (from earlier runs and other processes); a failure only logs."""
        month = month_of(self.clock())
        try:
            self._saved[month] = await self.store.month(month)
        except UserFacingError as error:
            log.warning("Could not read this month's relay request count: %s", error.message)

    def usage(self) -> Usage:
        """This month so far, from memory: safe in any command."""
        now = self.clock()
        month = month_of(now)
        saved = self._saved.get(month) or MonthUsage(month, 0, 0)
        unsaved = self.quota.unsaved(month) if self.quota is not None else (0, 0)
        saving = self._saving.get(month, (0, 0))
        requests = saved.requests + unsaved[0] + saving[0]
        background = saved.background + unsaved[1] + saving[1]
        days = days_in_month(now)
        elapsed = max(now - month_start(now), MIN_PACE_SECONDS)
        projected = max(requests, _rounded(requests * days * 86_400 / elapsed))
        return Usage(month, requests, background, self.limit, projected, days)

    async def flush(self) -> None:
        if self.quota is None:
            return
        taken = self.quota.take_unsaved()
        if not taken:
            return
        self._saving = taken
        try:
            totals = await self.store.add(taken)
        except BaseException as error:
            self.quota.give_back(taken)
            if not isinstance(error, UserFacingError):
                raise
            if not self._failing:  # once per failure streak
                log.warning("Could not save the relay request count (kept for the next try): %s", error.message)
            self._failing = True
            return
        finally:
            self._saving = {}
        self._saved.update(totals)
        self._failing = False

    def start(self) -> None:
        if self.quota is not None and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="relay-request-count")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every)
            try:
                await self.flush()
            except Exception:
                log.exception("Saving the relay request count failed")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.flush()

    # --- what people are told -------------------------------------------------------------------

    def refusal(self) -> RelayMonthlyLimit | None:
        """The relay's own "this month is spent", while it holds."""
        spent = self.quota.spent() if self.quota is not None else None
        if spent is None:
            return None
        return RelayMonthlyLimit(
            scope=spent.scope, limit=spent.limit, resets_at=datetime.fromtimestamp(spent.resets_at, UTC)
        )

    def status(self) -> tuple[str, bool]:
        """The /status line ("1,204 of 5,000 this month; at this pace 3,100 by the 31st") and whether it warns."""
        usage = self.usage()
        if usage.limit:
            text = (
                f"{usage.requests:,} of {usage.limit:,} this month; at this pace {usage.projected:,} "
                f"by the {_ordinal(usage.last_day)}"
            )
        else:
            text = f"{usage.requests:,} this month; no monthly limit (RELAY_MONTHLY_LIMIT)"
        if usage.background:
            text += f"\n{usage.background:,} of them by the background refresh"
        refusal = self.refusal()
        if refusal is not None:
            return f"{refusal.for_command('lookups and refreshes').message}\n{text}", True
        if usage.near_limit:
            text += (
                f"\nOver {int(WARN_AT * 100)} % of the month's limit: once the relay refuses, lookups stop until the "
                "1st (UTC). A paid relay plan lifts the limit (then set RELAY_MONTHLY_LIMIT=0)."
            )
            return text, True
        return text, False

    def warning_for(self, member_id: int) -> str | None:
        """One private line for a GM running a command once the month passes 80 %: once a day each."""
        usage = self.usage()
        if not usage.near_limit or self.refusal() is not None:
            return None
        today = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%d")
        if self._warned.get(member_id) == today:
            return None
        self._warned[member_id] = today
        return (
            f"Heads-up: the bot has used {usage.requests:,} of the relay's {usage.limit:,} requests this month "
            f"({usage.share} %); at this pace {usage.projected:,} by the {_ordinal(usage.last_day)}. Once the relay "
            "refuses, lookups stop until the 1st (UTC); a paid relay plan lifts the limit. /status has the details."
        )
