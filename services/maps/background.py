"""Keeping name maps current without anyone running /refresh.

The Foundry module sends no journal events (relay.md, "Live events"), so the bot polls: every
``REFRESH_INTERVAL`` seconds each world a listed server uses now (its /world choice, else RELAY_CLIENT_ID,
else the only online world it used) is rebuilt through the same ``MapRebuilder`` as /refresh. An unchanged world costs one
``/structure`` request (its digest matches; SQLite is not touched). Nothing is ever posted to a channel:
failures are logged once per failure streak and shown by /status. While a world is offline it is
probed every ``OFFLINE_RETRY`` seconds (one request that the relay answers itself) and rebuilt as soon as
it is back. Any change to a map (/refresh, a /push rename or create, another process's refresh) resets that
world's clock. Every request goes through the relay client's pacer, shared with commands: together they stay
inside the relay's 300 requests a minute. A world no server uses any more (another /world chosen) is no longer
polled.

Processes sharing one PostgreSQL database take turns: a world is checked by one process at a time (the
store's ``refresh_turn``, an advisory lock) and once per interval between them (``checked_at``, the time of
the last check any of them made); the others hear of a changed map by notification (services/servers.py).

A hosted relay's monthly quota (services/relay_budget.py): the interval in force (``every``) is
REFRESH_INTERVAL stretched so a month of passes spends at most a third of RELAY_MONTHLY_LIMIT, and once the
relay says the month is spent every world pauses until the 1st (UTC); the relay client lets one probe a
day through, so an upgraded account resumes the same day.

Usable without Discord: ``run_due()`` does one pass, ``start()``/``stop()`` run the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import UserFacingError
from relay import NoWorldConnected, RelayMonthlyLimit, UnknownWorld, background_requests
from services.maps.rebuild import Rebuild
from services.relay_budget import RelayBudget, budgeted_interval, interval_cost

log = logging.getLogger(__name__)

OFFLINE_RETRY = 60.0  # seconds between probes of an offline world (the relay does not count those: 404 at auth)
FAILURE_RETRY = 300.0  # at most this long before a failed background refresh is tried again
MAX_SLEEP = 30.0  # the loop looks for newly chosen worlds at least this often


@dataclass
class WorldState:
    next_run: float  # wall-clock seconds
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    failing: bool = False
    offline: bool = False
    last_result: str | None = None  # "unchanged", "updated"
    paused_until: float | None = None  # the relay's month is spent: until the 1st (UTC)
    paused_because: str | None = None


class BackgroundRefresher:
    def __init__(
        self, gm, interval: float, *, clock: Callable[[], float] = time.time, budget: RelayBudget | None = None
    ):
        self.gm = gm
        self.interval = float(interval)  # REFRESH_INTERVAL
        self.every = self.interval  # the interval in force: stretched to the monthly budget
        self.clock = clock
        self.budget = budget
        self.states: dict[str, WorldState] = {}
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        gm.maps.listeners.append(self._map_changed)

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.enabled and self._task is None and self.gm.settings.relay_configured:
            self._task = asyncio.create_task(self._loop(), name="background-refresh")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:  # never let one bad pass end the loop
                log.exception("Background refresh pass failed")
            due = [s.next_run for s in self.states.values()]
            delay = min([MAX_SLEEP, *(d - self.clock() for d in due)])
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), max(delay, 0.05))
            except TimeoutError:
                pass

    # --- scheduling -----------------------------------------------------------------------------

    def _map_changed(self, client_id: str) -> None:
        state = self.states.get(client_id)
        if state is not None:
            state.next_run = self.clock() + self.every

    async def plan(self) -> list[str]:
        """The worlds to refresh, and the interval in force for them (``every``)."""
        worlds = await self.worlds()
        self.every = await self._budgeted(worlds)
        return worlds

    async def _budgeted(self, worlds: list[str]) -> float:
        """REFRESH_INTERVAL, or longer when the monthly budget needs it (FOUNDRY_PLAYER and each linked user
        count as a player view; one linked as FOUNDRY_PLAYER too counts twice: the budget errs long)."""
        limit = self.budget.limit if self.budget is not None else None
        if not limit:
            return self.interval
        views = []
        for client_id in worlds:
            linked = await self.gm.viewers.links.linked_users(client_id) if self.gm.viewers is not None else set()
            views.append(len(linked) + (1 if self.gm.settings.foundry_player else 0))
        return budgeted_interval(self.interval, interval_cost(views), limit)

    async def worlds(self) -> list[str]:
        """Every world a listed server uses now (``WorldResolver.in_use``): one it stopped using is not polled."""
        used = await self.gm.worlds.in_use()
        for client_id in [c for c in self.states if c not in used]:
            del self.states[client_id]  # /status has nothing to say about it any more
        return used

    async def _state(self, client_id: str) -> WorldState:
        state = self.states.get(client_id)
        if state is None:
            info = await self.gm.maps.info(client_id)
            # A map refreshed before a restart is due one interval after that refresh (now, if overdue).
            due = info.refreshed_at + self.every if info is not None else self.clock()
            state = self.states[client_id] = WorldState(next_run=due)
            if info is not None:
                state.last_success = info.refreshed_at
        return state

    async def run_due(self) -> dict[str, str]:
        """One pass: rebuilds every world that is due. Returns client id -> outcome, for tests and logs."""
        outcomes: dict[str, str] = {}
        if not self.enabled:
            return outcomes
        worlds = await self.plan()
        for client_id in worlds:
            state = await self._state(client_id)
            if state.next_run <= self.clock():
                outcomes[client_id] = await self.run_one(client_id)
        return outcomes

    async def run_one(self, client_id: str) -> str:
        state = await self._state(client_id)
        if self.gm.rebuilder.running(client_id) is not None:
            state.next_run = self.clock() + self.every  # a /refresh is running: it resets the clock anyway
            return "skipped"
        store = self.gm.maps.store
        # Processes sharing the database take turns: one at a time per world, and once per interval between them.
        async with store.refresh_turn(client_id) as mine:
            if not mine:
                state.next_run = self.clock() + self.every
                return "elsewhere"
            checked = await store.checked_at(client_id)
            if checked is not None and checked + self.every > self.clock():
                state.next_run = checked + self.every
                state.last_success = max(state.last_success or checked, checked)
                return "elsewhere"
            outcome = await self._rebuild(client_id, state)
            if outcome in ("unchanged", "updated"):
                await store.mark_checked(client_id, self.clock())
            return outcome

    async def _rebuild(self, client_id: str, state: WorldState) -> str:
        try:
            with background_requests():  # refused by the relay client itself while the month is spent
                done: Rebuild = await self.gm.rebuilder.rebuild(client_id, background=True, skip_unchanged=True)
        except RelayMonthlyLimit as error:
            return self._paused(client_id, state, error)
        except (UnknownWorld, NoWorldConnected):
            if not state.offline:
                log.info("World %s is offline: background refresh paused until it is back", client_id)
            state.offline = True
            state.next_run = self.clock() + min(self.interval, OFFLINE_RETRY)
            return "offline"
        except UserFacingError as error:
            return self._failed(client_id, state, error.message)
        except Exception as error:  # a bug must not stop the other worlds' refreshes
            log.exception("Background refresh of %s crashed", client_id)
            return self._failed(client_id, state, f"internal error ({type(error).__name__})")
        if state.offline:
            log.info("World %s is back online: background refresh resumed", client_id)
        if state.failing:
            log.info("Background refresh of %s works again", client_id)
        if state.paused_until is not None:
            log.info("The relay accepts requests again: background refresh of %s resumed", client_id)
        state.offline = state.failing = False
        state.paused_until = state.paused_because = None
        state.last_success = self.clock()
        state.last_result = "unchanged" if done.counts is None else "updated"
        state.next_run = self.clock() + self.every
        return state.last_result

    def _paused(self, client_id: str, state: WorldState, error: RelayMonthlyLimit) -> str:
        """Until the 1st (UTC); the world is tried again when the relay client's daily probe is due."""
        resets = error.resets_at.timestamp()
        if state.paused_until is None:
            log.warning("Background refresh of %s paused until %s (UTC): %s", client_id, error.resets_on, error.message)
        state.paused_until, state.paused_because = resets, error.message
        state.offline = state.failing = False
        probe = self.gm.relay.quota.next_probe_at()
        state.next_run = min(probe, resets) if probe is not None else resets
        return "paused"

    def _failed(self, client_id: str, state: WorldState, message: str) -> str:
        if not state.failing:  # once per failure streak
            log.warning("Background refresh of %s failed: %s", client_id, message)
        state.failing = True
        state.offline = False
        state.last_error, state.last_error_at = message, self.clock()
        # Failed requests count against a monthly quota too: under one, a failing world waits a whole interval.
        limited = self.budget is not None and self.budget.limit
        state.next_run = self.clock() + (self.every if limited else min(self.interval, FAILURE_RETRY))
        return "failed"

    def status(self, client_id: str) -> WorldState | None:
        return self.states.get(client_id)
