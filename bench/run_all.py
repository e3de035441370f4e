"""Run every benchmark with its defaults, one after the other, and print their tables.

    python -m bench.run_all [--only autocomplete,refresh,...]

Each script runs in its own process (so one's memory does not colour the next's). About 3 minutes on
2 cores. Exit status: 0, or the first failing script's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = (
    "autocomplete",
    "refresh",
    "lookup",
    "lookup_image",
    "ack_latency",
    "loop_lag",
    "idle_memory",
    "visibility",
    "soak",
    "many_worlds",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(SCRIPTS))
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",")] if args.only else list(SCRIPTS)
    unknown = [s for s in chosen if s not in SCRIPTS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in chosen:
        command = [sys.executable, "-m", f"bench.{name}"]
        print(f"\n$ python -m bench.{name}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(command, cwd=ROOT).returncode
        print(f"({name}: {time.perf_counter() - started:.0f} s, exit {code})", flush=True)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
