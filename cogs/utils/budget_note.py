"""The GM's private heads-up once the month's relay requests pass 80 % of RELAY_MONTHLY_LIMIT (once a day)."""

from __future__ import annotations

import logging

import discord

from cogs.utils.checks import has_role
from cogs.utils.respond import NO_MENTIONS
from cogs.utils.servers import server_of
from services.relay_budget import RelayBudget

log = logging.getLogger(__name__)


async def note_near_limit(interaction: discord.Interaction, budget: RelayBudget) -> None:
    """After a GM's command has answered: one ephemeral follow-up, never anything in the channel."""
    settings = server_of(interaction).settings
    if not interaction.response.is_done() or not has_role(interaction.user, settings.gm_role, settings.guild_ids):
        return
    line = budget.warning_for(interaction.user.id)
    if line is None:
        return
    try:
        await interaction.followup.send(line, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as error:  # the token may have expired: the line goes nowhere else
        log.info("Could not give %s the relay budget note (HTTP %s)", interaction.user.id, error.status)
