"""Many worlds in one bot, within MAP_MEMORY_MB: RSS and the cold/hot autocomplete p95.

    python -m bench.many_worlds [--worlds 1000 --entries 2000 --map-memory-mb 256 --queries 2000 --db PATH]

1. A child process fills a SQLite database (kept at ``--db`` for the next run; a temporary one without it) with
   ``--worlds`` worlds of ``--entries`` entries each, and gives each of as many servers its own world (/world).
2. This process opens the bot's resources as the bot does (``App.open``: SQLite, the worker process) with
   MAP_MEMORY_MB and DISCORD_GUILD_ID listing those servers, and runs the autocomplete callback's steps (the
   server's world, the member's view, the suggestions, the Choice objects) for random servers and prefixes:
   * cold: a server whose world's map is not in memory (never loaded, or evicted): the map is read from SQLite
     and its index built before the answer;
   * hot: a server among the most recently used ones (its map in memory).
   RSS is read after opening, after every world has been used once (the budget full) and at the end.
The answer for a cold world must come inside Discord's 3 s; a hot one in a few milliseconds.
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
import random  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.autocomplete import make_entries, pct  # noqa: E402
from bench.refresh import mb, proc_status  # noqa: E402

GUILD_BASE = 10**17  # the benchmark's server ids: GUILD_BASE + i, world "world-i"


def world_of(i: int) -> str:
    return f"world-{i:04d}"


async def _fill(db_path: str, worlds: int, entries: int) -> None:
    from storage import NameEntry, NameMapStore, WorldChoiceStore, open_database

    db = await open_database(Path(db_path))
    try:
        store, choices = NameMapStore(db), WorldChoiceStore(db)
        names = make_entries(entries)
        for i in range(worlds):
            world = world_of(i)
            # Each world its own uuids and a marker in its names, so a wrong map would show.
            rows = [NameEntry(f"{e.uuid}-{i}", f"{e.name} {i:04d}", e.folder) for e in names]
            await store.apply(world, rows, [], complete=True, note=None, old_names=lambda uuid: None)
            await choices.set(GUILD_BASE + i, world, world, chosen_by=None)
    finally:
        await db.close()


def fill(db_path: Path, worlds: int, entries: int) -> float:
    started = time.perf_counter()
    code = f"import asyncio, bench.many_worlds as m; asyncio.run(m._fill({str(db_path)!r}, {worlds}, {entries}))"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - started


async def measure(db_path: Path, worlds: int, queries: int, memory_mb: int, seed: int) -> dict:
    from discord import app_commands

    from core.settings import Settings
    from services.resources import App

    settings = Settings(
        _env_file=None,
        database_path=db_path,
        relay_url="http://127.0.0.1:9",  # never asked: autocomplete answers from the maps alone
        relay_api_key="bench-key-not-used",
        discord_guild_id=",".join(str(GUILD_BASE + i) for i in range(worlds)),
        map_memory_mb=memory_mb,
        refresh_interval=0,
    )
    gc.collect()
    rss_before_open = proc_status()["VmRSS"]
    app = await App.open(settings)
    rng = random.Random(seed)
    prefixes = [e.name[: rng.randint(1, 5)] for e in make_entries(200, seed=seed)]
    try:
        gm = app.gm

        async def autocomplete(i: int) -> float:
            guild, typed = GUILD_BASE + i, rng.choice(prefixes)
            started = time.perf_counter_ns()
            world = await gm.local_world_id(guild)
            viewer = await gm.viewers.for_member(guild, world, 1, is_gm=True, local=True)
            choices = [app_commands.Choice(name=n, value=v) for n, v in await gm.suggestions(world, typed, viewer)]
            took = (time.perf_counter_ns() - started) / 1e6
            assert choices and all(c.name.endswith(f"{i:04d}") or f"{i:04d} —" in c.name for c in choices), typed
            return took

        gc.collect()
        rss_open = proc_status()["VmRSS"]
        cold: list[float] = []
        for i in range(worlds):  # every world once: each a cold start, the budget fills and then evicts
            cold.append(await autocomplete(i))
        gc.collect()
        rss_full = proc_status()["VmRSS"]
        held = len(gm.maps.held())
        recent = gm.maps.held()[-max(1, held // 2) :]  # the most recently used half: certainly in memory
        recent_ids = [int(w.removeprefix("world-")) for w in recent]
        hot: list[float] = []
        cold_again: list[float] = []
        for _ in range(queries):
            if rng.random() < 0.5:
                hot.append(await autocomplete(rng.choice(recent_ids)))
            else:
                evicted = [i for i in range(worlds) if world_of(i) not in set(gm.maps.held())]
                cold_again.append(await autocomplete(rng.choice(evicted or range(worlds))))
                recent_ids = [int(w.removeprefix("world-")) for w in gm.maps.held()[-max(1, held // 2) :]]
        gc.collect()
        rss_end = proc_status()["VmRSS"]
        return {
            "held": held,
            "evictions": app.shared.memory.evictions,
            "budget_mb": app.shared.memory.bytes / 1024 / 1024,
            "cold": cold + cold_again,
            "hot": hot,
            "rss_before_open": rss_before_open,
            "rss_open": rss_open,
            "rss_full": rss_full,
            "rss_end": rss_end,
        }
    finally:
        await app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--map-memory-mb", type=int, default=256)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", type=Path, help="keep the filled database here (filled once, reused)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-worlds-") as tmp:
        db_path = args.db or Path(tmp) / "bot.sqlite3"
        fill_s = fill(db_path, args.worlds, args.entries) if not db_path.exists() else 0.0
        result = asyncio.run(measure(db_path, args.worlds, args.queries, args.map_memory_mb, args.seed))
    print(
        f"{args.worlds} worlds x {args.entries} entries, MAP_MEMORY_MB={args.map_memory_mb}"
        + (f" (database filled in {fill_s:.0f} s)" if fill_s else "")
    )
    print()
    print("| what | value |")
    print("|---|---|")
    print(f"| maps in memory after every world was used | {result['held']} ({result['budget_mb']:.0f} MB estimated) |")
    print(f"| evictions | {result['evictions']} |")
    for label, values in (
        ("cold autocomplete (map read from SQLite)", result["cold"]),
        ("hot autocomplete", result["hot"]),
    ):
        print(
            f"| {label}: n, p50, p95, max (ms) | {len(values)}, {pct(values, 50):.2f}, {pct(values, 95):.2f}, {max(values):.2f} |"
        )
    print(f"| RSS before opening | {mb(result['rss_before_open']):.0f} MB |")
    print(f"| RSS opened (no map) | {mb(result['rss_open']):.0f} MB |")
    print(
        f"| RSS after every world once | {mb(result['rss_full']):.0f} MB (+{mb(result['rss_full'] - result['rss_open']):.0f}) |"
    )
    print(f"| RSS at the end | {mb(result['rss_end']):.0f} MB (+{mb(result['rss_end'] - result['rss_open']):.0f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
