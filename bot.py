"""The Foundry campaign bot: `python bot.py` runs it; `python bot.py <command>` is its command-line twin.

`create_bot(settings)` builds the bot with its cogs and resources without connecting to Discord,
for tests and the CLI.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import aiohttp
import discord
from discord.ext import commands, tasks

from cogs.utils.tree import BotTree, log_command
from core.errors import ConfigurationError
from core.health import HEARTBEAT_NAME
from core.settings import Settings, load_settings
from services.resources import App

log = logging.getLogger("bot")

EXTENSIONS = ("cogs.gm", "cogs.worlds", "cogs.release", "cogs.status")
# On stop, running commands get this long to finish before they are cancelled (docker stop waits 10 s).
SHUTDOWN_GRACE = 8.0

MISSING_TOKEN = (
    "DISCORD_TOKEN is not set: copy .env.example to .env and put your bot's token there "
    "(Discord Developer Portal > your application > Bot > Reset Token), or export DISCORD_TOKEN."
)


# The bot never joins voice: discord.py's start-up warnings about voice libraries would only confuse.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


class FoundryBot(commands.Bot):
    def __init__(self, settings: Settings, *, sync_global: bool = False, app: App | None = None):
        intents = discord.Intents.none()
        intents.guilds = True  # role names for role checks come from the guild cache
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=BotTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
        )
        self.settings = settings
        self.sync_global = sync_global
        self.app: App | None = app

    async def setup_hook(self) -> None:
        if self.app is None:
            self.app = await App.open(self.settings)
        for extension in EXTENSIONS:
            try:
                await self.load_extension(extension)
            except Exception:
                log.exception("Could not load %s; its commands are unavailable", extension)
        await self.sync_commands()
        self.heartbeat.start()
        self.app.refresher.start()

    async def sync_commands(self) -> None:
        # Discord allows 200 command creates a day per guild: sync only where asked.
        if self.settings.discord_guild_id:
            guild = discord.Object(self.settings.discord_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to guild %s", len(synced), self.settings.discord_guild_id)
        elif self.sync_global:
            synced = await self.tree.sync()
            log.info("Synced %d commands globally (may take up to an hour to show)", len(synced))
        else:
            log.warning("Commands not synced: set DISCORD_GUILD_ID, or start once with --sync-global")

    @tasks.loop(seconds=30)
    async def heartbeat(self) -> None:
        # The Docker healthcheck reads this file's age: fresh while the gateway connection is up.
        if self.is_ready() and not self.is_closed():
            (self.settings.database_path.parent / HEARTBEAT_NAME).touch()

    async def on_app_command_completion(self, interaction: discord.Interaction, command) -> None:
        log_command(interaction, "ok")

    async def on_ready(self) -> None:
        log.info("Connected as %s (%s) in %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))

    async def close(self) -> None:
        self.heartbeat.cancel()
        await self.tree.drain(SHUTDOWN_GRACE)
        try:
            await super().close()
        finally:
            if self.app is not None:
                await self.app.close()
                self.app = None


def create_bot(settings: Settings | None = None, *, sync_global: bool = False) -> FoundryBot:
    return FoundryBot(settings or load_settings(), sync_global=sync_global)


async def _run(bot: FoundryBot, token: str) -> None:
    """Start the bot and close it cleanly on SIGINT or SIGTERM (docker stop)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(token))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            stopper.cancel()
            runner.result()  # re-raise a login failure
            return
        log.info("Stopping: finishing running commands, then the HTTP session and database")
        await bot.close()
        # start() returns once the gateway is closed; never let a stuck connection hold the stop.
        _, stuck = await asyncio.wait({runner}, timeout=5)
        for task in stuck:
            task.cancel()
        await asyncio.gather(runner, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and not argv[0].startswith("-"):
        from cli.main import main as cli_main

        return cli_main(argv)
    if any(arg in ("-h", "--help") for arg in argv):
        print("usage: python bot.py [--sync-global] | python bot.py {refresh,lookup,push,worlds,release} ...")
        return 0
    try:
        settings = load_settings()
    except ConfigurationError as error:
        print(f"Configuration error: {error.message}", file=sys.stderr)
        return 2
    if settings.discord_token is None:
        print(MISSING_TOKEN, file=sys.stderr)
        return 2
    if not settings.relay_configured and not settings.release_tokens:
        print(
            "Nothing to serve: set RELAY_URL and RELAY_API_KEY (GM commands) and/or RELEASE_TOKENS "
            "(release commands) in .env.",
            file=sys.stderr,
        )
        return 2
    from core.logsafe import setup_logging

    setup_logging(settings)
    bot = create_bot(settings, sync_global="--sync-global" in argv)
    try:
        asyncio.run(_run(bot, settings.discord_token.get_secret_value()))
    except discord.LoginFailure:
        print(
            "Discord rejected DISCORD_TOKEN: reset the token in the Developer Portal and update .env.", file=sys.stderr
        )
        return 2
    except (aiohttp.ClientConnectionError, OSError) as error:
        print(
            f"Cannot reach Discord ({type(error).__name__}); check this machine's network and try again.",
            file=sys.stderr,
        )
        return 75
    return 0


if __name__ == "__main__":
    sys.exit(main())
