"""Event-loop lag: the longest time the loop is held while the worst inputs known are handled.

    python -m bench.loop_lag [--names 50000] [--background-runs 50] [--where]

The stand-in relay runs in a child process with an N-entry world whose first entry has a 400 KB
description and whose second has HTML 3,000 levels deep. This process opens the real ``App`` and, one
scenario at a time, runs what the commands run (``GMService.lookup``, ``GMService.refresh``, the
background refresher) while a ticker task sleeps 1 ms in a loop: its lateness is the loop's lag. A
scenario's "max lag" is the worst lateness seen during it. ``--where`` adds a watchdog thread that,
whenever the ticker is 25 ms late, records where the loop's thread is (our frames only).

Scenarios: /lookup of the 400 KB entry (player, GM), /lookup of the deep entry, a first /refresh into an
empty map, a /refresh of the unchanged world, a first background refresh into an empty map (a new
App), then ``--background-runs`` background refreshes of the unchanged world (RSS after the first of
them and after all of them: the memory target). Target (issue): max lag <= 50 ms everywhere; background RSS
within +5 MB of after the first.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import collections  # noqa: E402
import gc  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

from bench.refresh import BENCH_PLAYER, WORLD_ID, RelayProcess, bench_settings, mb, proc_status  # noqa: E402

TICK = 0.001
WHERE_AFTER = 0.025


class LagMeter:
    """A ticker task (and, with ``where``, a watchdog thread naming what holds the loop)."""

    def __init__(self, where: bool):
        self.where = where
        self.max_lag = 0.0
        self.last = time.perf_counter()
        self.spots: collections.Counter[str] = collections.Counter()
        self._stop = False
        self._main = threading.get_ident()

    async def __aenter__(self) -> LagMeter:
        self._task = asyncio.create_task(self._tick())
        if self.where:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        await asyncio.sleep(0.01)
        self.max_lag = 0.0
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.sleep(0.01)
        self._stop = True
        await self._task
        if self.where:
            self._thread.join()

    async def _tick(self) -> None:
        while not self._stop:
            before = time.perf_counter()
            self.last = before
            await asyncio.sleep(TICK)
            self.max_lag = max(self.max_lag, time.perf_counter() - before - TICK)

    def _watch(self) -> None:
        while not self._stop:
            time.sleep(0.002)
            if time.perf_counter() - self.last > WHERE_AFTER:
                frame = sys._current_frames().get(self._main)
                ours = [
                    f for f in traceback.extract_stack(frame) if str(ROOT) in f.filename and "bench" not in f.filename
                ]
                if ours:
                    f = ours[-1]
                    self.spots[f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} {f.name}"] += 1


async def run(names: int, background_runs: int, where: bool) -> list[tuple[str, float, str]]:
    from bot import freeze_start_up_objects
    from services.gm.service import ResolvedWorld
    from services.maps.background import BackgroundRefresher
    from services.resources import App

    rows: list[tuple[str, float, str]] = []
    spots: collections.Counter[str] = collections.Counter()

    async def measure(label: str, work, note: str = "") -> None:
        async with LagMeter(where) as meter:
            started = time.perf_counter()
            out = await work()
            took = time.perf_counter() - started
        spots.update(meter.spots)
        rows.append((label, meter.max_lag * 1000, (note or "") + f"took {took:.2f} s"))
        return out

    async with RelayProcess(names, rich=3, worst=True) as relay:
        huge, deep = relay.entries[0][0], relay.entries[1][0]
        with tempfile.TemporaryDirectory(prefix="bench-lag-") as tmp:
            app = await App.open(bench_settings(relay.base_url, Path(tmp) / "bot.sqlite3", foundry_player=BENCH_PLAYER))
            freeze_start_up_objects()  # as bot.py does once at start-up
            try:
                world = ResolvedWorld(WORLD_ID, "Bench Campaign", public_url="https://foundry.example.org")
                await app.relay.status()
                await measure("idle: nothing but the ticker (this machine's noise floor)", lambda: asyncio.sleep(2))
                await measure("/refresh, first (empty map)", lambda: app.gm.refresh(world))
                await measure("/refresh, unchanged world", lambda: app.gm.refresh(world))
                await measure("/lookup 400 KB description (player)", lambda: app.gm.lookup(world, huge))
                await measure("/lookup 400 KB description (GM)", lambda: app.gm.lookup(world, huge, gm=True))
                await measure("/lookup HTML 3,000 levels deep (GM)", lambda: app.gm.lookup(world, deep, gm=True))
            finally:
                await app.close()
        with tempfile.TemporaryDirectory(prefix="bench-lag-") as tmp:
            app = await App.open(bench_settings(relay.base_url, Path(tmp) / "bot.sqlite3", foundry_player=BENCH_PLAYER))
            try:
                refresher = BackgroundRefresher(app.gm, 900, clock=lambda: float("inf"))  # always due
                await measure("background refresh, first (empty map)", refresher.run_due)
                # The player view's name map, prebuilt after that refresh, is part of the steady state.
                table = await app.gm.viewers.public(WORLD_ID)
                await app.gm.visibility.map_for(WORLD_ID, table.user_id)
                label = f"{background_runs} background refreshes, unchanged world"
                worst, first_rss = 0.0, 0
                for i in range(background_runs):
                    async with LagMeter(where) as meter:
                        outcome = await refresher.run_due()
                    worst = max(worst, meter.max_lag * 1000)
                    spots.update(meter.spots)
                    assert outcome == {WORLD_ID: "unchanged"}, outcome
                    if i == 0:
                        gc.collect()
                        first_rss = proc_status()["VmRSS"]
                gc.collect()
                last_rss = proc_status()["VmRSS"]
                if background_runs:
                    rows.append(
                        (
                            label,
                            worst,
                            f"RSS after the first {mb(first_rss):.1f} MB, after all {mb(last_rss):.1f} MB "
                            f"({mb(last_rss - first_rss):+.1f} MB); ",
                        )
                    )
            finally:
                await app.close()
    if where and spots:
        print("\nWhere the loop was held (watchdog samples, ours only):")
        for spot, n in spots.most_common(12):
            print(f"  {n:4d}  {spot}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=50_000)
    parser.add_argument("--background-runs", type=int, default=50)
    parser.add_argument("--where", action="store_true", help="name the code holding the loop (watchdog thread)")
    args = parser.parse_args(argv)
    rows = asyncio.run(run(args.names, args.background_runs, args.where))
    print(f"\nEvent-loop lag, {args.names:,}-entry world; python {sys.version.split()[0]}")
    print("| scenario | max lag ms | notes |")
    print("|---|---|---|")
    for label, lag, note in rows:
        print(f"| {label} | {lag:.1f} | {note} |")
    worst = max(lag for _, lag, _ in rows)
    print(f"Target max lag <= 50 ms: worst {worst:.1f} ms -> {'MET' if worst <= 50 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
