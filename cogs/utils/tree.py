"""The command tree: every command error goes through cogs/utils/errors.py, every command is logged once."""

from __future__ import annotations

import logging
import time

import discord
from discord import app_commands

from cogs.utils import errors

log = logging.getLogger("bot.commands")


class BotTree(app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        interaction.extras["started"] = time.perf_counter()
        return True

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
        command, interaction.user, interaction.user.id, interaction.guild_id, outcome, took,
    )
