"""The command tree: every command error goes through cogs/utils/errors.py, every command is logged once."""

from __future__ import annotations

import asyncio
import logging
import time

import discord
from discord import app_commands

from cogs.utils import errors

log = logging.getLogger("bot.commands")

FOREIGN_SERVER = "This bot serves only its own servers; its commands can't be used here."
NOT_SET_UP = (
    "The bot isn't set up in this server yet: a member with Manage Server runs /setup relay (GM commands) "
    "or /setup roles (release commands only)."
)
# What a hosted server that has not set up may use.
BEFORE_SETUP = ("setup", "help")


class BotTree(app_commands.CommandTree):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.in_flight: set[asyncio.Task] = set()

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        interaction.extras["started"] = time.perf_counter()
        if interaction.guild_id is None and interaction.type is discord.InteractionType.autocomplete:
            # Every command that suggests values works only in a server (the commands refuse DMs): the same
            # check, so a globally synced command never lists entry names, users or packages in a DM.
            await interaction.response.autocomplete([])
            return False
        if interaction.client.settings.hosted:
            return await self._hosted_check(interaction)
        if interaction.guild_id is not None and interaction.guild_id not in interaction.client.settings.guild_ids:
            # A server not in DISCORD_GUILD_ID: one line, nothing else (autocomplete gets no choices).
            log.warning(
                "Refused an interaction from unlisted server %s by %s", interaction.guild_id, interaction.user.id
            )
            if interaction.type is discord.InteractionType.application_command:
                await interaction.response.send_message(FOREIGN_SERVER, ephemeral=True)
            elif interaction.type is discord.InteractionType.autocomplete:
                await interaction.response.autocomplete([])
            return False
        interaction.extras["server"] = await interaction.client.app.servers.get(interaction.guild_id)
        self._track()
        return True

    async def _hosted_check(self, interaction: discord.Interaction) -> bool:
        """Hosted: any server is served, with its own settings; one that has not set up gets one line."""
        server = await interaction.client.app.servers.get(interaction.guild_id)
        if server is None and interaction.data.get("name") not in BEFORE_SETUP:
            if interaction.type is discord.InteractionType.application_command:
                await interaction.response.send_message(NOT_SET_UP, ephemeral=True)
            elif interaction.type is discord.InteractionType.autocomplete:
                await interaction.response.autocomplete([])
            return False
        interaction.extras["server"] = server
        self._track()
        return True

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)

    async def drain(self, grace: float) -> None:
        """Let running commands finish for up to `grace` seconds, then cancel the rest.

        Cancelled commands roll back their SQLite transaction (storage/db.py), so a stop never leaves
        half a write; a command waiting for Confirm is cancelled before it has written anything.
        """
        running = [t for t in self.in_flight if t is not asyncio.current_task()]
        if not running:
            return
        log.info("Waiting up to %.0f s for %d running command(s)", grace, len(running))
        _, pending = await asyncio.wait(running, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        log_command(interaction, f"failed: {type(getattr(error, 'original', error)).__name__}")
        await errors.report(interaction, error)


def log_command(interaction: discord.Interaction, outcome: str) -> None:
    """One line per command: who, what, outcome, duration. Option values are left out (they may be long)."""
    if interaction.type is not discord.InteractionType.application_command:
        return
    started = interaction.extras.get("started")
    took = f"{(time.perf_counter() - started) * 1000:.0f} ms" if started else "?"
    command = interaction.command.qualified_name if interaction.command else "?"
    log.info(
        "/%s by %s (%s) in guild %s: %s in %s",
        command,
        interaction.user,
        interaction.user.id,
        interaction.guild_id,
        outcome,
        took,
    )
