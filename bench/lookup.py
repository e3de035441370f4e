"""/lookup end to end (map -> relay -> embed) versus a bare aiohttp GET of the same uuid, in the same run.

    python -m bench.lookup [--calls 1000] [--names 50000] [--gap-ms 5]

The stand-in relay runs in a child process on 127.0.0.1 (no latency) with N entries; the bot's map holds all
of them (applied with ``NameMaps.replace``, no enumeration involved). Each round, in alternating order:
  * lookup: ``GMService.resolve_world`` + ``GMService.lookup(world, uuid)`` (the value autocomplete sends) +
    ``to_embed`` of the replies (a player's view; ``--gm``: a GM's, both views) — what ``/lookup`` does
    minus the Discord calls;
  * bare:   ``session.get({relay}/get?uuid=...&clientId=...)`` + ``json.loads`` on the same aiohttp session.
Entries carry Campaign Codex flags with a ~2 KB HTML description and links to other entries.
Two configurations: FOUNDRY_PUBLIC_URL set (one relay request per lookup) and unset (the default: the image
base comes from the relay's /clients, a second request per lookup).
``--gap-ms`` pauses between rounds (users do not look up back to back; the relay client spaces same-route
request starts by 2 ms). ``--relay-ms`` adds latency to every relay route (0 = the instant stand-in the issue
asks for; a real relay adds its WebSocket round trip to Foundry).
The relay client's own pacing (relay/pacing.py: the relay's 300 requests/minute bucket kept on our side) is
replaced by an unlimited bucket here: 1,000 lookups back to back would otherwise wait ~200 ms each for a
token after the first ~295, which is the relay's rate limit, not the bot's overhead (``--keep-pacing`` keeps it).
Target (issue): ratio of medians <= 1.1.
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
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.autocomplete import pct  # noqa: E402
from bench.refresh import BENCH_PLAYER, RELAY_KEY, WORLD_ID, RelayProcess, bench_settings  # noqa: E402


async def run(
    calls: int,
    names: int,
    rich: int,
    gap: float,
    profile: bool,
    relay_ms: float,
    keep_pacing: bool,
    as_gm: bool = False,
) -> list[dict]:
    import services.entries.views
    from bench.refresh import SyncTimer, Timer
    from cogs.utils.embeds import to_embed
    from services.resources import App
    from storage import NameEntry

    results = []
    async with RelayProcess(names, rich=rich, latency=relay_ms / 1000) as relay:
        targets = [uuid for uuid, _, _ in relay.entries[:rich]]
        entries = [NameEntry(uuid=u, name=n, folder=f) for u, n, f in relay.entries]
        for label, overrides in (
            ("FOUNDRY_PUBLIC_URL set", {"foundry_public_url": "https://foundry.example.org"}),
            ("FOUNDRY_PUBLIC_URL unset (default)", {}),
        ):
            with tempfile.TemporaryDirectory(prefix="bench-lookup-") as tmp:
                overrides = {**overrides, "foundry_player": BENCH_PLAYER}
                app = await App.open(bench_settings(relay.base_url, Path(tmp) / "bot.sqlite3", **overrides))
                try:
                    pacer = getattr(app.relay, "pacer", None)
                    if pacer is not None and not keep_pacing:
                        from relay.pacing import Pacer

                        app.relay.pacer = Pacer(capacity=10**9, per_second=1e9)
                    await app.gm.maps.replace(WORLD_ID, entries, complete=True, note=None)
                    await app.gm.visibility.recompute(WORLD_ID)  # the player view, as /refresh learns it
                    session = app.session
                    headers = {"x-api-key": RELAY_KEY}

                    async def lookup(uuid: str, app=app) -> None:
                        world = await app.gm.resolve_world(None)
                        found = await app.gm.lookup(world, uuid, gm=as_gm)
                        for view in (found.player, found.gm):  # a GM's two views; a player's one
                            if view is not None:
                                to_embed(view)

                    async def bare(uuid: str, session=session, headers=headers) -> None:
                        async with session.get(
                            relay.base_url + "/get", params={"uuid": uuid, "clientId": WORLD_ID}, headers=headers
                        ) as resp:
                            json.loads(await resp.read())

                    for i in range(30):  # warm-up: connections, caches
                        await lookup(targets[i % len(targets)])
                        await bare(targets[i % len(targets)])
                    gc.collect()
                    get_t = Timer(app.relay.get_entry)
                    worlds_t = Timer(app.relay.list_worlds)
                    render_t = SyncTimer(services.entries.views.render_entry)
                    app.relay.get_entry, app.relay.list_worlds, services.entries.views.render_entry = (
                        get_t,
                        worlds_t,
                        render_t,
                    )
                    t_lookup: list[float] = []
                    t_bare: list[float] = []
                    prof = None
                    if profile:
                        import cProfile

                        prof = cProfile.Profile()
                    for i in range(calls):
                        uuid = targets[i % len(targets)]
                        order = (
                            (("lookup", lookup), ("bare", bare)) if i % 2 == 0 else (("bare", bare), ("lookup", lookup))
                        )
                        for kind, fn in order:
                            if prof is not None and kind == "lookup":
                                prof.enable()
                            t0 = time.perf_counter_ns()
                            await fn(uuid)
                            ms = (time.perf_counter_ns() - t0) / 1e6
                            if prof is not None and kind == "lookup":
                                prof.disable()
                            (t_lookup if kind == "lookup" else t_bare).append(ms)
                        if gap:
                            await asyncio.sleep(gap)
                    services.entries.views.render_entry = render_t.fn
                    results.append(
                        dict(
                            label=label,
                            lookup=t_lookup,
                            bare=t_bare,
                            get=get_t.seconds / calls * 1e3,
                            worlds=worlds_t.seconds / calls * 1e3,
                            render=render_t.seconds / calls * 1e3,
                            renders=render_t.calls / calls,
                            paced=getattr(app.relay.pacer, "waited", 0.0) if keep_pacing else 0.0,
                        )
                    )
                    if prof is not None:
                        import pstats

                        print(f"cProfile of {calls} lookups ({label}), top 20 by own time:")
                        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
                finally:
                    await app.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--names", type=int, default=50_000)
    parser.add_argument("--targets", type=int, default=200, help="distinct entries looked up (rich flags)")
    parser.add_argument("--gap-ms", type=float, default=5.0)
    parser.add_argument("--relay-ms", type=float, default=0.0, help="latency added to every relay route")
    parser.add_argument("--keep-pacing", action="store_true", help="keep the client's 300/min pacing")
    parser.add_argument("--gm", action="store_true", help="look up as a GM (player and GM views rendered)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    results = asyncio.run(
        run(
            args.calls,
            args.names,
            args.targets,
            args.gap_ms / 1000,
            args.profile,
            args.relay_ms,
            args.keep_pacing,
            args.gm,
        )
    )
    print(
        f"/lookup end to end vs bare GET: {args.calls:,} calls each, interleaved, {args.names:,}-entry map, "
        f"{args.gap_ms:g} ms between rounds, relay latency {args.relay_ms:g} ms, client pacing "
        f"{'kept' if args.keep_pacing else 'unlimited'}, as a {'GM' if args.gm else 'player'}; python {sys.version.split()[0]}\n"
    )
    print("| configuration | what | p50 ms | p95 ms | p99 ms | ratio of medians |")
    print("|---|---|---|---|---|---|")
    for r in results:
        ratio = statistics.median(r["lookup"]) / statistics.median(r["bare"])
        r["ratio"] = ratio
        for kind in ("lookup", "bare"):
            ms = r[kind]
            what = (
                "/lookup (resolve world, map, relay, render, embeds)" if kind == "lookup" else "bare aiohttp GET /get"
            )
            print(
                f"| {r['label']} | {what} | {statistics.median(ms):.3f} | {pct(ms, 95):.3f} | {pct(ms, 99):.3f} | "
                f"{f'{ratio:.2f}' if kind == 'lookup' else ''} |"
            )
    for r in results:
        verdict = "MET" if r["ratio"] <= 1.1 else f"MISSED by {r['ratio'] - 1.1:.2f}"
        extra = statistics.median(r["lookup"]) - statistics.median(r["bare"])
        print(
            f"{r['label']}: ratio {r['ratio']:.2f} (<= 1.1 {verdict}); /lookup adds {extra:.3f} ms per call at the median"
            f"; mean per lookup: RelayClient.get_entry {r['get']:.3f} ms, list_worlds {r['worlds']:.3f} ms, "
            f"render_entry {r['render']:.3f} ms ({r['renders']:.1f} call(s))"
            + (f", pacing waits {r['paced']:.1f} s in all" if r["paced"] else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
