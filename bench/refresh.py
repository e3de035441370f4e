"""/refresh of N entries from a stand-in relay that answers instantly: total, SQLite replace, peak memory.

    python -m bench.refresh [--names 50000] [--runs 2]

The stand-in relay (tests/stand_ins/relay_server.py) runs in a child process on 127.0.0.1, so the memory and
CPU measured here are the bot's alone. It holds one world of N journal entries in a small folder tree
(no latency, ``foundry_delay=0``). This process opens the real ``App`` (aiohttp session, temporary SQLite,
``RelayClient``) and runs ``GMService.refresh`` as ``/refresh`` does, ``--runs`` times (the first into an
empty map, the next ones over the existing map). Phases are timed by wrapping, in this process only,
``enumerate_journal`` (relay + parsing), ``NameMapStore.replace`` (the SQLite transaction) and the index build.
Peak memory: VmHWM is reset through /proc/self/clear_refs before each refresh; "peak extra" is VmHWM at the
end minus VmRSS before. Targets (issue): <= 3 s total and <= 50 MB extra RSS.

Also used by the other benchmarks: ``RelayProcess`` starts the stand-in relay with the same world.
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

RELAY_KEY = "bench-relay-key-0123456789"
WORLD_ID = "bench-world"
BENCH_PLAYER = "Table"
SCOPES = ["entity:read", "entity:write", "search", "clients:read", "structure:read"]

# ------------------------------------------------------------------------------ memory


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in kB."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def mb(kb: int | float) -> float:
    return kb / 1024


# ------------------------------------------------------------------------------ the stand-in relay process

RICH_DESCRIPTION = (
    "<h2>{name}</h2><p>{name} rules the valley from <strong>Castle Vell</strong> and answers to no one. "
    "Allied with @UUID[{ally}]{{an old friend}}; feared in every village between the river and the pass.</p>"
    "<ul><li>Wants: the silver mine reopened</li><li>Fears: the drowned bell</li><li>Owes: the Guild of the "
    "Iron Lantern</li></ul>"
    + "<p>"
    + ('Long lore paragraph with <em>emphasis</em> and a <a href="https://example.org/x">link</a>. ' * 12)
    + "</p>"
    '<section class="secret"><p>Secretly a vampire; the GM knows.</p></section>'
)


def _rich_flags(name: str, ally: str, place: str) -> dict:
    return {
        "campaign-codex": {
            "type": "npc",
            "image": None,
            "data": {
                "description": RICH_DESCRIPTION.format(name=name, ally=ally),
                "notes": "<p>Weak to silver. Hates the harbour master.</p>",
                "linkedNPCs": [ally],
                "linkedLocations": [place],
                "tags": ["noble", "villain"],
            },
        },
        "other-module": {"keep": True},
    }


def build_world(relay, names: int, rich: int, seed: int):
    """Adds the bench world to a StandInRelay; returns [(uuid, name, folder path), ...]."""
    from bench.autocomplete import make_entries

    world = relay.add_world(WORLD_ID, "Bench Campaign", online=True)
    world.add_user(BENCH_PLAYER)  # FOUNDRY_PLAYER of the benches that look up as a player
    folders: dict[str, object] = {}

    def folder(path: str | None):
        if not path:
            return None
        if path not in folders:
            parent, _, leaf = path.rpartition("/")
            folders[path] = world.add_folder(leaf, parent=folder(parent) if parent else None)
        return folders[path]

    manifest = []
    entries = make_entries(names, seed)
    uuids: list[str] = []
    for i, e in enumerate(entries):
        path = None if i % 20 == 7 else e.folder  # some entries at the root
        uuid = world.add_entry(e.name, folder=folder(path), pages=["Overview"] if i < rich else None)
        uuids.append(uuid)
        manifest.append((uuid, e.name, path))
    # Rich Campaign Codex flags (linking other entries) on the first `rich` entries: the /lookup targets.
    for i in range(min(rich, len(uuids))):
        doc = world.entry(uuids[i])
        doc["flags"] = _rich_flags(doc["name"], uuids[(i + 1) % len(uuids)], uuids[(i + 2) % len(uuids)])
    return manifest


HUGE_HTML = "".join(
    f"<p>Chronicle {i}: the <b>Iron Lantern</b> met at <em>the mill</em>; see @UUID[{{ally}}]{{{{the ally}}}}.</p>"
    for i in range(4_000)
)  # ~400 KB
DEEP_HTML = "<div>" * 3_000 + "<p>The bottom of the well.</p>" + "</div>" * 3_000


def _worst_inputs(relay, manifest: list) -> None:
    """The first two entries get the worst descriptions known: 400 KB of HTML, and HTML 3,000 levels deep."""
    world = relay.worlds[WORLD_ID]
    for (uuid, _, _), html in zip(manifest[:2], (HUGE_HTML, DEEP_HTML)):
        doc = world.entry(uuid)
        doc["flags"] = {"campaign-codex": {"type": "npc", "data": {"description": html.format(ally=manifest[2][0])}}}


async def _serve(names: int, rich: int, seed: int, manifest_path: str, latency: float, worst: bool = False) -> None:
    from tests.stand_ins.relay_server import StandInRelay

    relay = StandInRelay(keys={RELAY_KEY: set(SCOPES)}, relay_timeout=15.0)
    manifest = build_world(relay, names, rich, seed)
    if worst:
        _worst_inputs(relay, manifest)
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh)
    if latency:
        for route in ("/get", "/search", "/structure", "/clients", "/get-folder", "/update", "/create", "/api/status"):
            relay.add_latency(route, latency)
    relay.log = _NoLog()  # a bench sends thousands of requests: keep the stand-in's memory flat
    async with relay:
        print(f"READY {relay.base_url}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


class _NoLog(list):
    def append(self, item) -> None:  # noqa: D401 - drop request log entries
        pass


class RelayProcess:
    """The stand-in relay with the bench world, in a child process. ``async with RelayProcess(...) as r``:
    ``r.base_url``, ``r.entries`` (uuid, name, folder path)."""

    def __init__(self, names: int, *, rich: int = 200, seed: int = 1, latency: float = 0.0, worst: bool = False):
        self.names, self.rich, self.seed, self.latency, self.worst = names, rich, seed, latency, worst
        self.base_url = ""
        self.entries: list[tuple[str, str, str | None]] = []
        self._proc: subprocess.Popen | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-relay-")

    async def __aenter__(self) -> RelayProcess:
        manifest = os.path.join(self._tmp.name, "manifest.json")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.refresh",
                "--serve",
                "--names",
                str(self.names),
                "--rich",
                str(self.rich),
                "--seed",
                str(self.seed),
                "--latency",
                str(self.latency),
                "--manifest",
                manifest,
                *(["--worst"] if self.worst else []),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = await asyncio.get_running_loop().run_in_executor(None, self._proc.stdout.readline)
        if not line.startswith("READY "):
            raise RuntimeError(f"the stand-in relay did not start: {line!r}")
        self.base_url = line.split()[1]
        with open(manifest) as fh:
            self.entries = [tuple(row) for row in json.load(fh)]
        return self

    async def __aexit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._tmp.cleanup()


def bench_settings(base_url: str, db_path: Path, **overrides):
    from core.settings import Settings

    values = dict(
        relay_url=base_url,
        relay_api_key=RELAY_KEY,
        relay_client_id=WORLD_ID,
        relay_timeout=30.0,
        database_path=db_path,
        refresh_interval=0,  # a bench starts background refreshes itself when it measures them
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


# ------------------------------------------------------------------------------ the benchmark


class Timer:
    """Wraps an async callable to add up the time spent in it (and note VmHWM when it returns)."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls, self.hwm = fn, 0.0, 0, 0

    async def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return await self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1
            self.hwm = proc_status()["VmHWM"]


class SyncTimer(Timer):
    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


async def measure_refresh(names: int, runs: int, profile: bool) -> list[dict]:
    import aiohttp

    import services.maps.rebuild
    import services.maps.world_maps
    from services.gm.service import ResolvedWorld
    from services.resources import App
    from storage import NameEntry

    rows: list[dict] = []
    async with RelayProcess(names, rich=0) as relay:
        with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
            app = await App.open(bench_settings(relay.base_url, Path(tmp) / "bot.sqlite3"))
            try:
                world = ResolvedWorld(WORLD_ID, "Bench Campaign")
                await app.relay.status()  # open the keep-alive connection first, as a running bot has
                for run in range(1, runs + 1):
                    enum_t = Timer(services.maps.rebuild.enumerate_journal)
                    replace_t = Timer(app.gm.maps.store.apply)
                    build_t = SyncTimer(services.maps.world_maps._build)
                    (
                        services.maps.rebuild.enumerate_journal,
                        app.gm.maps.store.apply,
                        services.maps.world_maps._build,
                    ) = (
                        enum_t,
                        replace_t,
                        build_t,
                    )
                    try:
                        gc.collect()
                        before = proc_status()["VmRSS"]
                        peak_ok = reset_peak()
                        prof = None
                        if profile and run == runs:
                            import cProfile

                            prof = cProfile.Profile()
                            prof.enable()
                        started = time.perf_counter()
                        reply = await app.gm.refresh(world)
                        total = time.perf_counter() - started
                        if prof is not None:
                            prof.disable()
                        status = proc_status()
                        gc.collect()
                        after = proc_status()["VmRSS"]
                    finally:
                        services.maps.rebuild.enumerate_journal = enum_t.fn
                        app.gm.maps.store.apply = replace_t.fn
                        services.maps.world_maps._build = build_t.fn
                    rows.append(
                        dict(
                            label=f"GMService.refresh #{run}",
                            entries=reply.data["total"],
                            complete=reply.data["complete"],
                            requests=reply.data["requests"],
                            total=total,
                            enumerate=enum_t.seconds,
                            replace=replace_t.seconds,
                            build=build_t.seconds,
                            peak_extra=mb(status["VmHWM"] - before) if peak_ok else float("nan"),
                            retained=mb(after - before),
                            enum_peak=mb(enum_t.hwm - before) if peak_ok else float("nan"),
                        )
                    )
                    if prof is not None:
                        import pstats

                        print("cProfile of the last refresh (top 15 by cumulative time):")
                        pstats.Stats(prof).sort_stats("cumulative").print_stats(15)

                # The relay's share: the same /structure and /search requests, bare aiohttp, no parsing.
                headers = {"x-api-key": RELAY_KEY}
                async with aiohttp.ClientSession() as session:
                    for route, params in (
                        ("/structure", {"types": "JournalEntry", "recursive": "true", "clientId": WORLD_ID}),
                        (
                            "/search",
                            {
                                "filter": "documentType:JournalEntry",
                                "excludeCompendiums": "true",
                                "limit": "500",
                                "clientId": WORLD_ID,
                            },
                        ),
                    ):
                        started = time.perf_counter()
                        async with session.get(relay.base_url + route, params=params, headers=headers) as resp:
                            body = await resp.read()
                        rows.append(
                            dict(
                                label=f"bare GET {route} (stand-in serves, no parsing)",
                                total=time.perf_counter() - started,
                                size=len(body),
                            )
                        )

                # What a complete refresh applies once it has all N entries: replace + index, no relay.
                entries = [NameEntry(uuid=u, name=n, folder=f) for u, n, f in relay.entries]
                for label, world_id in (
                    ("apply N entries to an empty map", "bench-direct"),
                    ("apply N entries over the same map", "bench-direct"),
                ):
                    replace_t = Timer(app.gm.maps.store.apply)
                    build_t = SyncTimer(services.maps.world_maps._build)
                    app.gm.maps.store.apply, services.maps.world_maps._build = replace_t, build_t
                    try:
                        gc.collect()
                        before = proc_status()["VmRSS"]
                        peak_ok = reset_peak()
                        started = time.perf_counter()
                        counts = await app.gm.maps.replace(world_id, list(entries), complete=True, note=None)
                        total = time.perf_counter() - started
                        status = proc_status()
                        gc.collect()
                        after = proc_status()["VmRSS"]
                    finally:
                        app.gm.maps.store.apply = replace_t.fn
                        services.maps.world_maps._build = build_t.fn
                    rows.append(
                        dict(
                            label=f"NameMaps.replace: {label}",
                            entries=counts.total,
                            total=total,
                            replace=replace_t.seconds,
                            build=build_t.seconds,
                            peak_extra=mb(status["VmHWM"] - before) if peak_ok else float("nan"),
                            retained=mb(after - before),
                        )
                    )
            finally:
                await app.close()
    return rows


def _fmt(value, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "–"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=2, help="refreshes in a row (first into an empty map)")
    parser.add_argument("--profile", action="store_true", help="cProfile the last refresh")
    # child-process mode (RelayProcess)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rich", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--worst", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.names, args.rich, args.seed, args.manifest, args.latency, args.worst))
        return 0

    rows = asyncio.run(measure_refresh(args.names, args.runs, args.profile))
    print(
        f"/refresh: {args.names:,} journal entries in the stand-in relay (child process, no latency); "
        f"python {sys.version.split()[0]}\n"
    )
    print(
        "| what | entries | relay requests | total s | enumerate s | SQLite replace s | index build s | "
        "peak extra RSS MB | of which by the end of enumerate | retained MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "size" in r:
            print(f"| {r['label']} | {r['size'] / 1e6:.1f} MB body | 1 | {r['total']:.3f} | | | | | | |")
            continue
        entries = f"{r['entries']:,}" + ("" if r.get("complete", True) else " (incomplete)")
        print(
            f"| {r['label']} | {entries} | {_fmt(r.get('requests'), 'd')} | {r['total']:.3f} | "
            f"{_fmt(r.get('enumerate'), '.3f')} | {r['replace']:.3f} | {r['build']:.3f} | "
            f"{r['peak_extra']:.1f} | {_fmt(r.get('enum_peak'), '.1f')} | {r['retained']:.1f} |"
        )
    refreshes = [r for r in rows if r["label"].startswith("GMService.refresh")]
    if refreshes and any(r["entries"] < args.names for r in refreshes):
        got = max(r["entries"] for r in refreshes)
        print(
            f"\nNOTE: enumerate_journal returned {got:,} of {args.names:,} entries: the refresh total is not a "
            "refresh of the whole world (see the NameMaps.replace rows for applying all of them)."
        )
    for r in refreshes:
        verdict_t = "MET" if r["total"] <= 3 else f"MISSED by {r['total'] - 3:.2f} s"
        verdict_m = "MET" if r["peak_extra"] <= 50 else f"MISSED by {r['peak_extra'] - 50:.1f} MB"
        print(f"{r['label']}: total <= 3 s {verdict_t}; extra RSS <= 50 MB {verdict_m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
