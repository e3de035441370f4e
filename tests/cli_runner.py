"""Running `python bot.py ...` as a newcomer would, in a clean directory with only the given environment."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot.py"
SEAMED = Path(__file__).resolve().parent / "seamed_bot.py"

# Settings a developer may have exported; a test decides every one it needs.
SETTINGS = (
    "DISCORD_TOKEN",
    "DISCORD_GUILD_ID",
    "RELAY_URL",
    "RELAY_API_KEY",
    "RELAY_CLIENT_ID",
    "RELAY_MONTHLY_LIMIT",
    "RELAY_TIMEOUT",
    "GM_ROLE",
    "FOUNDRY_PLAYER",
    "FOUNDRY_PUBLIC_URL",
    "DATABASE_PATH",
    "RELEASE_API_URL",
    "RELEASE_TOKENS",
    "FOUNDRY_RELEASE_TOKEN",
    "MAINTAINER_ROLE",
    "ANNOUNCE_CHANNEL_ID",
    "ALLOW_PRIVATE_MANIFEST_HOSTS",
    "GITHUB_TOKEN",
    "DATABASE_URL",
    "SECRETS_KEY",
    "HOSTED",
    "SHARD_COUNT",
    "SHARD_IDS",
    "CODEX_HIDDEN_TABS",
    "MAP_MEMORY_MB",
    "ALLOW_PRIVATE_RELAY_HOSTS",
)


@dataclass
class Run:
    code: int
    out: str
    err: str


def seamed_command(seams: dict[str, str] | None) -> list[str]:
    """How to start bot.py: directly, or through tests/seamed_bot.py with the given seams."""
    if not seams:
        return [sys.executable, str(BOT)]
    return [sys.executable, str(SEAMED), json.dumps(seams), str(BOT)]


async def run_bot(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 60,
    seams: dict[str, str] | None = None,
    started: list | None = None,
    stdin: bytes | None = None,
) -> Run:
    """Runs bot.py with `args` in `cwd` (so no stray .env is read), without blocking the test's event loop,
    which keeps serving the stand-ins the command talks to. `seams`: see tests/seamed_bot.py. `started`: the
    process is appended to it, for a test that signals it. `stdin`: what is typed in (default: nothing)."""
    full_env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    full_env.update(env)
    proc = await asyncio.create_subprocess_exec(
        *seamed_command(seams),
        *args,
        cwd=cwd,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
    )
    if started is not None:
        started.append(proc)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        raise
    return Run(proc.returncode, out.decode(), err.decode())
