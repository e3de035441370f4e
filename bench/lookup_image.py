"""/lookup of an entry with an image when Foundry has no public address: cached vs uncached image.

    python -m bench.lookup_image [--calls 200 --big-calls 10 --relay-ms 0]

A stand-in relay (in this process, 127.0.0.1) serves one world whose entries carry Campaign Codex flags and a
picture; FOUNDRY_PUBLIC_URL is unset, so the image comes through ``GET /download`` and is attached. Each call
runs what ``/lookup`` does minus the Discord calls: ``GMService.resolve_world`` + ``GMService.lookup`` +
``ImageService.prepare`` of the image the view asks for + ``to_embed``. Configurations:
  * no image: an entry without a picture (the floor);
  * cached: the picture was fetched before (the cache answers; no relay request);
  * uncached, 1 MB PNG: the cache is emptied before each call (one /download, bytes sent as they are);
  * uncached, 12 MB PNG: over Discord's 10 MiB, so each call also scales it down with Pillow (in a thread).
``--relay-ms`` adds latency to /download only (a real relay pulls the file through the GM's browser, base64 over
a WebSocket: seconds for a large map, which is what the cache saves).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench.autocomplete import pct  # noqa: E402

WORLD_ID = "bench-world"
KEY = "bench-key"


def picture(width: int, height: int) -> bytes:
    """A PNG that compresses like a photo would not: about width × height × 3 bytes."""
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG", compress_level=1)
    return out.getvalue()


async def run(calls: int, big_calls: int, relay_ms: float) -> list[tuple[str, list[float], int]]:
    from cogs.utils.embeds import to_embed
    from relay.pacing import Pacer
    from services.entries.images import ImageCache
    from services.resources import App
    from storage import NameEntry
    from tests.stand_ins.relay_server import ALL_SCOPES, StandInRelay

    relay = StandInRelay(keys={KEY: set(ALL_SCOPES)})
    world = relay.add_world(WORLD_ID, "Bench")
    small, big = picture(600, 580), picture(2100, 1900)
    world.add_file("worlds/bench/small.png", small, "image/png")
    world.add_file("worlds/bench/big.png", big, "image/png")
    entries = {}
    for name, image in (("Plain", None), ("Small", "worlds/bench/small.png"), ("Big", "worlds/bench/big.png")):
        flags = {"campaign-codex": {"type": "location", "image": image, "data": {"description": "<p>x</p>" * 50}}}
        entries[name] = world.add_entry(name, flags=flags)
    if relay_ms:
        relay.add_latency("/download", relay_ms / 1000)
    results = []
    async with relay:
        from core.settings import Settings

        with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
            settings = Settings(
                _env_file=None,
                relay_url=relay.base_url,
                relay_api_key=KEY,
                relay_client_id=WORLD_ID,
                database_path=Path(tmp) / "bot.sqlite3",
            )
            app = await App.open(settings)
            try:
                app.relay.pacer = Pacer(capacity=10**9, per_second=1e9)  # the relay's budget is not the bot's cost
                names = [NameEntry(uuid=u, name=n, folder=None) for n, u in entries.items()]
                await app.gm.maps.replace(WORLD_ID, names, complete=True, note=None)

                async def lookup(uuid: str) -> None:
                    found_world = await app.gm.resolve_world(None)
                    found = await app.gm.lookup(found_world, uuid)
                    reply = found.player
                    if reply.image is not None:
                        image = await app.images.prepare(found_world.client_id, reply.image)
                        assert image is not None and image.data, "the bench expects an attached image"
                    to_embed(reply)

                for label, uuid, n, cold in (
                    ("no image", entries["Plain"], calls, False),
                    ("image, cached", entries["Small"], calls, False),
                    (f"image, uncached, {len(small) / 1e6:.1f} MB PNG", entries["Small"], calls, True),
                    (f"image, uncached, {len(big) / 1e6:.1f} MB PNG (scaled down)", entries["Big"], big_calls, True),
                ):
                    await lookup(uuid)  # warm-up (and, for "cached", the one download)
                    before = app.images.downloads
                    times = []
                    for _ in range(n):
                        if cold:
                            app.images.cache = ImageCache()
                        t0 = time.perf_counter_ns()
                        await lookup(uuid)
                        times.append((time.perf_counter_ns() - t0) / 1e6)
                    results.append((label, times, app.images.downloads - before))
            finally:
                await app.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--big-calls", type=int, default=10, help="calls of the 12 MB picture (each one scales)")
    parser.add_argument("--relay-ms", type=float, default=0.0, help="latency added to /download")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.calls, args.big_calls, args.relay_ms))
    print(
        f"/lookup with an image, FOUNDRY_PUBLIC_URL unset; /download latency {args.relay_ms:g} ms; "
        f"python {sys.version.split()[0]}\n"
    )
    print("| configuration | calls | /download requests | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for label, times, downloads in results:
        print(
            f"| {label} | {len(times)} | {downloads} | {statistics.median(times):.2f} | {pct(times, 95):.2f} | "
            f"{max(times):.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
