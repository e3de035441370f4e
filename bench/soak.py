"""Soak: memory over hundreds of background refreshes that each find changes, with commands in between.

    python -m bench.soak [--names 6000] [--refreshes 300] [--warmup 30] [--changes 5]

The stand-in relay runs in a child process (its memory is not counted) with an N-entry world; before each
background refresh the child renames ``--changes`` entries, adds one and deletes one, so every refresh
writes SQLite, builds a new name index (in the worker process: a world this big is worth offloading) and a new
player view (FOUNDRY_PLAYER "Table", who sees the whole world). Between two refreshes the bot answers what
a table asks: a GM /lookup, a player /lookup, five autocompletes, and every tenth round a confirmed /push, a /lookup of a
name that is not there and a /push of a broken file.

This process opens the real ``App`` and freezes its start-up objects once, as ``bot.py`` does. RSS (VmRSS
after a full collection) is read after ``--warmup`` rounds (the baseline: caches filled, the allocator's
arenas grown) and at the end; the growth between them is the number. Target (issue): <= +5 MB.
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
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.refresh import BENCH_PLAYER, RELAY_KEY, SCOPES, WORLD_ID, bench_settings, build_world, mb, proc_status  # noqa: E402

TARGET_MB = 5.0


# ------------------------------------------------------------------------------ the changing world (child)


async def _serve(names: int, manifest_path: str) -> None:
    """The stand-in relay; each line "change N" on stdin changes the world, answered by "changed" on stdout."""
    from tests.stand_ins.relay_server import StandInRelay

    relay = StandInRelay(keys={RELAY_KEY: set(SCOPES)}, relay_timeout=15.0)
    manifest = build_world(relay, names, rich=50, seed=1)
    world = relay.worlds[WORLD_ID]
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh)
    relay.log = _NoLog()  # thousands of requests: keep the stand-in's memory flat
    uuids = [uuid for uuid, _, _ in manifest]
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with relay:
        print(f"READY {relay.base_url}", flush=True)
        while line := await reader.readline():
            _, round_, changes = line.decode().split()
            _change(world, uuids, int(round_), int(changes))
            print("changed", flush=True)


def _change(world, uuids: list[str], round_: int, changes: int) -> None:
    """Renames, one entry added and one deleted (never the first 50: they are the commands' targets)."""
    for k in range(changes):
        uuid = uuids[50 + (round_ * changes + k) % (len(uuids) - 50)]
        if world.entry(uuid) is not None:
            world.rename_entry(uuid, f"{world.entry(uuid)['name'].split(' ~')[0]} ~{round_}")
    uuids.append(world.add_entry(f"Soak newcomer {round_}"))
    gone = uuids.pop(50 + (round_ * 7) % (len(uuids) - 51))
    world.delete_entry(gone)


class _NoLog(list):
    def append(self, item) -> None:  # noqa: D401 - drop request log entries
        pass


class ChangingRelay:
    def __init__(self, names: int):
        self.names = names
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-soak-")
        self.entries: list = []

    async def __aenter__(self) -> ChangingRelay:
        manifest = os.path.join(self._tmp.name, "manifest.json")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.soak", "--serve", "--names", str(self.names), "--manifest", manifest],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = await asyncio.to_thread(self._proc.stdout.readline)
        if not line.startswith("READY "):
            raise RuntimeError(f"the stand-in relay did not start: {line!r}")
        self.base_url = line.split()[1]
        with open(manifest) as fh:
            self.entries = json.load(fh)
        return self

    async def change(self, round_: int, changes: int) -> None:
        self._proc.stdin.write(f"change {round_} {changes}\n")
        self._proc.stdin.flush()
        line = await asyncio.to_thread(self._proc.stdout.readline)
        assert line.strip() == "changed", line

    async def __aexit__(self, *exc) -> None:
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._tmp.cleanup()


# ------------------------------------------------------------------------------ the bench


def rss_after_collection() -> int:
    gc.collect()
    return proc_status()["VmRSS"]


async def soak(names: int, refreshes: int, warmup: int, changes: int) -> dict:
    from bot import freeze_start_up_objects
    from core.errors import UserFacingError
    from core.replies import Decision
    from relay.pacing import Pacer
    from services.maps.background import BackgroundRefresher
    from services.resources import App
    from services.worlds import ResolvedWorld

    async def confirm(_preview) -> Decision:
        return Decision.CONFIRMED

    async with ChangingRelay(names) as relay:
        targets = [uuid for uuid, _, _ in relay.entries[:50]]
        prefixes = ["a", "Ba", "Mor", "Entry 1", "zz"]
        with tempfile.TemporaryDirectory(prefix="bench-soak-db-") as tmp:
            app = await App.open(bench_settings(relay.base_url, Path(tmp) / "bot.sqlite3", foundry_player=BENCH_PLAYER))
            app.relay.pacer = Pacer(capacity=100_000, per_second=100_000)  # memory is measured here, not pacing
            freeze_start_up_objects()
            try:
                world = ResolvedWorld(WORLD_ID, "Bench Campaign", public_url="https://foundry.example.org")
                refresher = BackgroundRefresher(app.gm, 900, clock=lambda: float("inf"))  # always due
                table = await app.gm.viewers.public(WORLD_ID)
                samples: list[tuple[int, float]] = []
                started = time.perf_counter()
                baseline = frozen_then = 0
                for round_ in range(refreshes):
                    if round_:
                        await relay.change(round_, changes)
                    outcome = await refresher.run_due()
                    assert outcome == {WORLD_ID: "updated"}, outcome
                    target = targets[round_ % len(targets)]
                    await app.gm.lookup(world, target, gm=True)
                    await app.gm.lookup(world, target, viewer=table)
                    for prefix in prefixes:
                        await app.gm.suggestions(WORLD_ID, prefix)
                        await app.gm.suggestions(WORLD_ID, prefix, table)
                    if round_ % 10 == 5:
                        body = json.dumps({"data": {"notes": f"<p>Round {round_}.</p>"}}).encode()
                        await app.gm.push(world, target, body, confirm=confirm)
                        for failing in (
                            app.gm.lookup(world, "No such entry", gm=True),  # a GM's typo
                            app.gm.push(world, target, b"{", confirm=confirm),  # a broken push file
                        ):
                            try:
                                await failing
                            except UserFacingError:
                                pass
                    if round_ + 1 == warmup:
                        baseline = rss_after_collection()
                        frozen_then = gc.get_freeze_count()
                    if (round_ + 1) % 50 == 0 or round_ + 1 == refreshes:
                        samples.append((round_ + 1, mb(rss_after_collection())))
                took = time.perf_counter() - started
                final = rss_after_collection()
            finally:
                await app.close()
    return {
        "baseline": mb(baseline),
        "final": mb(final),
        "growth": mb(final - baseline),
        "samples": samples,
        "seconds": took,
        "frozen": (frozen_then, gc.get_freeze_count()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=6_000)
    parser.add_argument("--refreshes", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.names, args.manifest))
        return 0
    if not 0 < args.warmup < args.refreshes:
        parser.error("--warmup must be at least 1 and fewer than --refreshes")
    result = asyncio.run(soak(args.names, args.refreshes, args.warmup, args.changes))
    print(
        f"\nSoak: {args.refreshes} background refreshes of a {args.names:,}-entry world, each with "
        f"{args.changes} renames, one entry added and one deleted, commands in between; "
        f"python {sys.version.split()[0]}; {result['seconds']:.0f} s"
    )
    print("| after refresh # | RSS MB |")
    print("|---|---|")
    for n, rss in result["samples"]:
        print(f"| {n} | {rss:.1f} |")
    growth = result["growth"]
    print(
        f"RSS after {args.warmup} refreshes {result['baseline']:.1f} MB, after {args.refreshes} {result['final']:.1f} MB: "
        f"{growth:+.1f} MB; objects frozen {result['frozen'][0]:,} then {result['frozen'][1]:,} -> "
        f"{'MET' if growth <= TARGET_MB else 'MISSED'} (target <= +{TARGET_MB:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
