"""One bot process for the tests of several processes: the real bot (settings from the environment, its database,
its shards) logged in to a fake Discord of its own, driven by JSON lines on stdin, answering on stdout.

    python -m tests.bot_process GUILD_ID [GUILD_ID ...]

The listed servers exist in this process's Discord (each with a GM); the bot serves those of its shards. Commands:
``{"do": "loaded"}`` the servers the bot has loaded; ``{"do": "pass", "now": T}`` one background refresh pass of
every loaded server at time T (the tests' clock, the same in both processes); ``{"do": "names", "guild": G}``
what a GM's /lookup autocomplete offers in server G; ``{"do": "quit"}``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from bot import create_bot
from core.settings import Settings
from tests.harness import DiscordHarness

INTERVAL = 900.0


def answer(value) -> None:
    print(json.dumps(value), flush=True)


async def main(guild_ids: list[int]) -> None:
    settings = Settings(_env_file=None)  # the environment only: never a developer's .env
    bot = create_bot(settings)
    async with DiscordHarness(bot, token=settings.discord_token.get_secret_value(), timeout=60) as h:
        places = {}
        for guild_id in guild_ids:
            guild = h.guild(f"Server {guild_id}", roles=["GM"], id=guild_id)
            places[guild_id] = (h.member(guild, "gm", roles=["GM"]), h.channel(guild, "table"))
        answer({"ready": True})
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            command = json.loads(line)
            servers = [s for s in bot.app.servers.loaded() if s.guild_id is not None]
            if command["do"] == "loaded":
                answer(sorted(s.guild_id for s in servers))
            elif command["do"] == "pass":
                outcomes = {}
                now = float(command["now"])
                for server in servers:
                    server.refresher.clock = lambda now=now: now
                    server.refresher.interval = INTERVAL
                    outcomes[str(server.guild_id)] = await server.refresher.run_due()
                answer(outcomes)
            elif command["do"] == "names":
                gm, channel = places[command["guild"]]
                choices = await h.autocomplete(gm, channel, "lookup", "name", "")
                answer(sorted(c["name"] for c in choices))
            elif command["do"] == "quit":
                answer({"bye": True})
                return


if __name__ == "__main__":
    asyncio.run(main([int(arg) for arg in sys.argv[1:]]))
