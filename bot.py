"""The Foundry campaign bot: `python bot.py` runs it; `python bot.py <command>` is its command-line twin.

`create_bot(settings)` builds the bot with its cogs and resources without connecting to Discord,
for tests and the CLI.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys

import aiohttp
import discord
from discord.ext import commands, tasks

from cli.main import main as cli_main
from cli.parser import build_parser
from cogs.utils.budget_note import note_near_limit
from cogs.utils.confirm import Previews, answer_stale_press
from cogs.utils.tree import BotTree, log_command
from core.errors import ConfigurationError
from core.health import Heartbeat
from core.logsafe import setup_logging
from core.settings import Settings, load_settings
from services.resources import App
from services.status import release_endpoint_warning
from storage import StorageError

log = logging.getLogger("bot")

EXTENSIONS = (
    "cogs.gm",
    "cogs.reveal",
    "cogs.worlds",
    "cogs.release",
    "cogs.release_tokens",  # hosted mode: /release token, under cogs.release's group
    "cogs.setup",  # hosted mode: /setup
    "cogs.status",
    "cogs.players",
)
# On stop, running commands get this long to finish before they are cancelled (docker stop waits 10 s).
SHUTDOWN_GRACE = 8.0


# The bot never joins voice: discord.py's start-up warnings about voice libraries would only confuse.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


class FoundryBot(commands.Bot):
    def __init__(self, settings: Settings, *, sync_global: bool = False, app: App | None = None, **shards):
        intents = discord.Intents.none()
        intents.guilds = True  # role names for role checks come from the guild cache
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=BotTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            **shards,
        )
        self.settings = settings
        self.sync_global = sync_global
        self.app: App | None = app
        self.health = Heartbeat()
        self.previews = Previews()
        self.stopping = False

    async def setup_hook(self) -> None:
        self.health.reset()  # a beat from an earlier run must not report this one healthy
        if self.app is None:
            self.app = await App.open(self.settings)
        endpoint = release_endpoint_warning(self.settings)
        if endpoint:
            log.warning(endpoint)
        for extension in EXTENSIONS:
            try:
                await self.load_extension(extension)
            except Exception:
                log.exception("Could not load %s; its commands are unavailable", extension)
        await self.sync_commands()
        self.heartbeat.start()
        await self.app.start()

    async def sync_commands(self) -> None:
        # Discord allows 200 command creates a day per guild: sync only where asked.
        if self.settings.hosted:
            await self._sync_hosted()
        elif self.settings.guild_ids:
            for guild_id in sorted(self.settings.guild_ids):
                await self._sync_guild(guild_id)
        elif self.sync_global:
            synced = await self.tree.sync()
            log.info("Synced %d commands globally (may take up to an hour to show)", len(synced))
        else:
            log.warning("Commands not synced: set DISCORD_GUILD_ID, or start once with --sync-global")

    async def _sync_guild(self, guild_id: int) -> None:
        """One listed guild; a guild Discord refuses (a typo, the bot never invited) is one line, and the
        other guilds are synced all the same."""
        guild = discord.Object(guild_id)
        self.tree.copy_global_to(guild=guild)
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.Forbidden:
            log.warning(
                "Commands not synced to guild %s: Discord says the bot is not in it (403 Missing Access). "
                "Invite the bot to that server (with the applications.commands scope), or remove %s from "
                "DISCORD_GUILD_ID; the other servers work as usual.",
                guild_id,
                guild_id,
            )
            return
        except discord.HTTPException as error:
            log.warning(
                "Commands not synced to guild %s: Discord answered HTTP %s; they will be synced at the next start.",
                guild_id,
                error.status,
            )
            return
        log.info("Synced %d commands to guild %s", len(synced), guild_id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await answer_stale_press(interaction, self.previews)

    async def _sync_hosted(self) -> None:
        """Hosted: every server gets the commands, so they are global; one process (the one running shard 0)
        syncs them."""
        shards = self.settings.shard_ids or range(self.settings.shard_count or 1)
        if 0 not in shards:
            return
        synced = await self.tree.sync()
        log.info("Synced %d commands globally (new servers see them at once, changes within an hour)", len(synced))

    @tasks.loop(seconds=30)
    async def heartbeat(self) -> None:
        self.health.beat()

    # discord.py keeps is_ready() true while it reconnects: the gateway's own events say when it is up.
    async def on_resumed(self) -> None:
        self.health.connected = True
        self.health.beat()

    async def on_disconnect(self) -> None:
        self.health.connected = False

    async def on_app_command_completion(self, interaction: discord.Interaction, command) -> None:
        log_command(interaction, "ok")
        server = interaction.extras.get("server")  # this server's own relay count (hosted: its own key's)
        if server is not None:
            await note_near_limit(interaction, server.budget)

    async def on_ready(self) -> None:
        self.health.connected = True
        self.health.beat()
        log.info("Connected as %s (%s) in %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))
        for guild in list(self.guilds):  # added while the bot was offline
            await self.leave_if_foreign(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.leave_if_foreign(guild)

    async def leave_if_foreign(self, guild: discord.Guild) -> None:
        """Only the servers in DISCORD_GUILD_ID are served (hosted: any server): the bot leaves any other."""
        if self.settings.hosted or guild.id in self.settings.guild_ids:
            return
        log.warning("Leaving server %s (%s): it is not listed in DISCORD_GUILD_ID", guild.id, guild.name)
        try:
            await guild.leave()
        except discord.HTTPException as error:
            log.warning("Could not leave server %s: HTTP %s", guild.id, error.status)

    async def close(self) -> None:
        """Stop within SHUTDOWN_GRACE: no write begins any more, previews waiting for Confirm end with
        "nothing was sent", running commands finish (a write cut off says what may have been written), and
        writes still running are logged with what to check."""
        self.stopping = True
        self.heartbeat.cancel()
        self.health.reset()
        deadline = asyncio.get_running_loop().time() + SHUTDOWN_GRACE
        if self.app is not None:
            self.app.writes.closing = True
        self.previews.expire_all()
        await self.tree.drain(SHUTDOWN_GRACE)
        if self.app is not None:
            await self.app.writes.drain(max(0.0, deadline - asyncio.get_running_loop().time()))
        try:
            await super().close()
        finally:
            if self.app is not None:
                await self.app.close()
                self.app = None


def freeze_start_up_objects() -> None:
    """Once per process, at start-up: the modules, classes and settings live as long as the process, so the
    cyclic garbage collector need not walk them at every full collection. Everything made later (name maps
    included) is collected as usual, so nothing that dies later is kept alive. Collected first: nothing
    already dead is frozen."""
    gc.collect()
    gc.freeze()


class ShardedFoundryBot(FoundryBot, commands.AutoShardedBot):
    """SHARD_COUNT set: this process runs the shards listed in SHARD_IDS (all when unset) of SHARD_COUNT, and
    shares the database with the processes running the others."""


def create_bot(settings: Settings | None = None, *, sync_global: bool = False) -> FoundryBot:
    settings = settings or load_settings()
    if settings.shard_count:
        shard_ids = list(settings.shard_ids) or None
        return ShardedFoundryBot(
            settings, sync_global=sync_global, shard_count=settings.shard_count, shard_ids=shard_ids
        )
    return FoundryBot(settings, sync_global=sync_global)


async def _run(bot: FoundryBot, token: str) -> None:
    """Start the bot and close it cleanly on SIGINT or SIGTERM (docker stop)."""
    if bot.app is None:
        # The database opens (and migrates) before the bot logs in: a broken one stops start-up early.
        bot.app = await App.open(bot.settings)
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
    # One parser for the bot and its command-line twin: an unknown flag or command exits 2 instead of starting.
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return 0 if exit_.code in (0, None) else 2
    if args.command:
        return cli_main(args)
    try:
        settings = load_settings()
    except ConfigurationError as error:
        print(f"Configuration error: {error.message}", file=sys.stderr)
        return 2
    problem = settings.start_up_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    setup_logging(settings)
    bot = create_bot(settings, sync_global=args.sync_global)
    freeze_start_up_objects()
    try:
        asyncio.run(_run(bot, settings.discord_token.get_secret_value()))
    except StorageError as error:  # raised before Discord is contacted: the database opens first
        print(f"Database error: {error.message}", file=sys.stderr)
        return 2
    except ConfigurationError as error:  # SECRETS_KEY does not open the stored secrets (checked as it opens)
        print(f"Configuration error: {error.message}", file=sys.stderr)
        return 2
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
