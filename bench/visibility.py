"""The player-visibility pass of /refresh on N entries: one /structure per player view, parsed and stored.

    python -m bench.visibility [--names 50000] [--views 3] [--runs 3]

The stand-in relay runs in a child process on 127.0.0.1 (no latency) with the bench world of
bench/refresh.py, re-shared so each player view sees about 60 % of the entries fully, 10 % LIMITED and
30 % not at all (``--views`` Foundry player users with different grants). This process opens the real
``App`` (temporary SQLite), fills the name map, then times, per run:
``Visibility.recompute`` (all views: /players, one /structure?userId=... each, parse, SQLite replace), and
for one view the parts: the /structure request (relay + JSON), ``visible_in_structure`` (walking the
tree), the SQLite replace, and building that view's name index (``map_for``, done once per map and
view, off the event loop). RSS growth of the per-view maps is reported too.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.refresh import RELAY_KEY, SCOPES, WORLD_ID, build_world, mb, proc_status  # noqa: E402


async def _serve(names: int, views: int) -> None:
    from tests.stand_ins.relay_server import StandInRelay

    relay = StandInRelay(keys={RELAY_KEY: set(SCOPES)}, relay_timeout=60.0)
    build_world(relay, names, 0, 1)
    world = relay.worlds[WORLD_ID]
    players = [world.add_user(f"Player {v}") for v in range(views)]
    for i, doc in enumerate(world.entries.values()):
        bucket = i % 10
        ownership = {"default": 2 if bucket < 6 else 1 if bucket == 6 else 0}
        if bucket == 9:  # a few entries shared with one player only
            ownership[players[i % views]] = 2
        doc["ownership"] = ownership

    class NoLog(list):
        def append(self, item) -> None:
            pass

    relay.log = NoLog()
    async with relay:
        print(f"READY {relay.base_url} {','.join(players)}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def _bench(base_url: str, players: list[str], runs: int) -> None:
    from core.settings import Settings
    from services.maps.enumerate import enumerate_journal
    from services.players.visibility import VISIBILITY_DEPTH, visible_in_structure
    from services.resources import App

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            relay_url=base_url,
            relay_api_key=RELAY_KEY,
            relay_timeout=60.0,
            database_path=Path(tmp) / "bench.sqlite3",
            foundry_player=players[0],
        )
        async with await App.open(settings) as app:
            found = await enumerate_journal(app.relay, WORLD_ID)
            await app.gm.maps.replace(WORLD_ID, found.entries, complete=found.complete, note=found.note)
            for member, user in enumerate(players[1:], start=1):  # the other views are linked players
                await app.gm.viewers.links.link(1, WORLD_ID, member, user, f"Player {member}", 0)
            vis = app.gm.visibility
            totals, requests, walks, stores, builds = [], [], [], [], []
            visible_count = limited = 0
            for _ in range(runs):
                gc.collect()
                started = time.perf_counter()
                report = await vis.recompute(WORLD_ID)
                totals.append(time.perf_counter() - started)
                assert not report.failed, report.failed

                started = time.perf_counter()
                data = await app.relay.structure(
                    client_id=WORLD_ID, recursive_depth=VISIBILITY_DEPTH, user_id=players[0]
                )
                requests.append(time.perf_counter() - started)
                started = time.perf_counter()
                seen = visible_in_structure(data)
                walks.append(time.perf_counter() - started)
                visible_count, limited = len(seen), sum(seen.values())
                started = time.perf_counter()
                await vis.store.replace(WORLD_ID, players[0], seen.items())
                stores.append(time.perf_counter() - started)
                vis._forget(WORLD_ID, players[0])
                del data
                started = time.perf_counter()
                await vis.map_for(WORLD_ID, players[0])
                builds.append(time.perf_counter() - started)
            gc.collect()
            before = proc_status()["VmRSS"]
            for user in players[1:]:
                await vis.map_for(WORLD_ID, user)
            gc.collect()
            per_view = (proc_status()["VmRSS"] - before) / max(1, len(players) - 1)

    def med(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.0f} ms"

    print(f"entries in the map: {len(found.entries)}; views: {len(players)}; runs: {runs}")
    print(f"one view sees {visible_count} entries ({limited} LIMITED)")
    print(f"recompute, all {len(players)} views (median): {med(totals)}  (runs: {[round(t, 2) for t in totals]})")
    print(f"one view: /structure?userId request {med(requests)}, walk {med(walks)}, SQLite replace {med(stores)}")
    print(f"one view's name index (map_for, off the loop): {med(builds)}")
    print(f"RSS per extra view's index: {mb(per_view):.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--names", type=int, default=50_000)
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.names, args.views))
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.visibility", "--serve", "--names", str(args.names), "--views", str(args.views)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise SystemExit(f"the stand-in relay did not start: {line!r}")
        _, base_url, players = line.split()
        asyncio.run(_bench(base_url, players.split(","), args.runs))
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
