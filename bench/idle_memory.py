"""Idle memory of the running bot with an N-entry name map.

    python -m bench.idle_memory [--names 50000]

1. A child process fills a temporary SQLite database with N entries (``NameMapStore.apply``), so nothing
   built for that is left in this process's heap.
2. This process starts the real bot (``create_bot``: aiohttp session, SQLite, cogs, command sync) against the
   offline Discord harness, with an in-process stand-in relay holding one empty world, and reads VmRSS:
   idle with no map loaded; then after the first /lookup autocomplete, which loads the map from SQLite and
   builds the index (as after a restart); then after 1,000 more autocompletes.
3. tracemalloc then measures, by itself, the Python heap one ``WorldMap`` of N entries holds and what each
   part of ``NameIndex`` accounts for.
The harness's fake Discord and the stand-in relay run in this process too; they are small and the same in
every row, so the map's share is the difference between rows.
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
import logging  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.refresh import RELAY_KEY, SCOPES, WORLD_ID, bench_settings, mb, proc_status  # noqa: E402


async def _fill(db_path: str, names: int) -> None:
    from bench.autocomplete import make_entries
    from storage import NameMapStore, open_database

    db = await open_database(db_path)
    try:
        await NameMapStore(db).apply(
            WORLD_ID, make_entries(names), [], complete=True, note=None, old_names=lambda uuid: None
        )
    finally:
        await db.close()


def settle() -> dict[str, int]:
    gc.collect()
    time.sleep(0.2)
    return proc_status()


async def measure(db_path: Path, names: int, queries: int) -> list[tuple[str, float, str]]:
    from bench.autocomplete import make_entries, make_queries
    from bot import create_bot
    from tests.harness import DiscordHarness
    from tests.stand_ins.relay_server import StandInRelay

    rows: list[tuple[str, float, str]] = []
    rows.append(("after imports (python, discord.py, aiohttp, rapidfuzz, project)", mb(settle()["VmRSS"]), ""))
    relay = StandInRelay(keys={RELAY_KEY: set(SCOPES)})
    relay.add_world(WORLD_ID, "Bench Campaign", online=True)
    async with relay:
        bot = create_bot(bench_settings(relay.base_url, db_path, discord_token="bench-not-a-token", gm_role="GM"))
        async with DiscordHarness(bot, timeout=120, strict=False) as h:
            guild = h.guild("Campaign", roles=["GM", "Player"])
            channel = h.channel(guild, "table")
            # The GM's autocomplete answers from the whole map (a player's from their view's cut of it).
            gm = h.member(guild, "gamemaster", roles=["GM"])
            bot.settings.discord_guild_id = guild.id
            await bot.sync_commands()
            idle = settle()["VmRSS"]
            rows.append(("bot running, idle, map not loaded yet", mb(idle), ""))
            started = time.perf_counter()
            choices = await h.autocomplete(gm, channel, "lookup", "name", "bar")
            took = time.perf_counter() - started
            loaded = settle()
            rows.append(
                (
                    f"after the first autocomplete (loads {names:,} entries, builds the index)",
                    mb(loaded["VmRSS"]),
                    f"+{mb(loaded['VmRSS'] - idle):.1f} MB over idle; took {took:.2f} s; "
                    f"{len(choices)} choices; VmHWM {mb(loaded['VmHWM']):.1f} MB",
                )
            )
            texts = [q for _, q in make_queries(make_entries(min(names, 5000)), queries, 3)]
            for q in texts:
                await h.autocomplete(gm, channel, "lookup", "name", q or "a")
            h.fake.requests.clear()  # the harness keeps every request it saw; a real Discord does not
            h.fake.interactions.clear()
            after = settle()
            rows.append(
                (
                    f"after {queries:,} more autocompletes (harness logs cleared)",
                    mb(after["VmRSS"]),
                    f"+{mb(after['VmRSS'] - idle):.1f} MB over idle",
                )
            )
    return rows


def heap_of_map(names: int) -> list[tuple[str, float]]:
    """tracemalloc: Python heap held by one WorldMap of `names` entries, and by NameIndex's parts."""
    import tracemalloc

    from bench.autocomplete import make_entries
    from services.maps.world_maps import _build

    entries = make_entries(names)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    world_map = _build(list(entries))
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    out = [("WorldMap (index + by_uuid), entries themselves excluded", held / 2**20)]
    index = world_map.index
    # Sizes of the index's parts, shallow-walked (containers + the objects only they hold).
    seen: set[int] = {id(e) for e in entries} | {id(getattr(e, f)) for e in entries for f in ("uuid", "name", "folder")}

    def deep(obj) -> int:
        if id(obj) in seen:
            return 0
        seen.add(id(obj))
        size = sys.getsizeof(obj)
        if isinstance(obj, dict):
            size += sum(deep(k) + deep(v) for k, v in obj.items())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            size += sum(deep(x) for x in obj)
        elif hasattr(type(obj), "__slots__") and not isinstance(obj, (str, bytes, int, float)):
            size += sum(deep(getattr(obj, slot, None)) for slot in type(obj).__slots__)
        return size

    for name, value in sorted(vars(index).items()):
        out.append((f"  NameIndex.{name}", deep(value) / 2**20))
    out.append(("  WorldMap.by_uuid", deep(world_map.by_uuid) / 2**20))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--fill", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fill:
        asyncio.run(_fill(args.fill, args.names))
        return 0
    logging.getLogger("discord").setLevel(logging.CRITICAL)
    logging.getLogger("bot").setLevel(logging.ERROR)  # "Commands not synced" before the harness guild exists
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        db_path = Path(tmp) / "bot.sqlite3"
        subprocess.run(
            [sys.executable, "-m", "bench.idle_memory", "--names", str(args.names), "--fill", str(db_path)],
            cwd=ROOT,
            check=True,
        )
        rows = asyncio.run(measure(db_path, args.names, args.queries))
    heap = heap_of_map(args.names)
    print(
        f"Idle memory, {args.names:,}-entry map (bot on the offline Discord harness); python {sys.version.split()[0]}\n"
    )
    print("| state | VmRSS MB | note |")
    print("|---|---|---|")
    for label, value, note in rows:
        print(f"| {label} | {value:.1f} | {note} |")
    print(
        "\nPython heap of one map (tracemalloc), and its parts (sys.getsizeof walk; shared strings counted once, "
        "in the first part that holds them):"
    )
    print("| part | MB |")
    print("|---|---|")
    for label, value in heap:
        print(f"| {label} | {value:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
