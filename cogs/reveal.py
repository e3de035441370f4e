"""/reveal and /hide: share a journal entry with the players, or hide it again (GM role)."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.checks import gm_only
from cogs.utils.confirm import confirm_in_discord
from cogs.utils.embeds import to_embed
from cogs.utils.respond import NO_MENTIONS, edit_reply, send_reply
from cogs.utils.servers import server_of
from services.writes.outcome import WriteInterrupted

log = logging.getLogger(__name__)


class RevealCommands(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    async def name_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        gm_cog = self.bot.get_cog("GMCommands")
        return await gm_cog.name_autocomplete(interaction, current) if gm_cog else []

    @app_commands.command(name="reveal", description="Show a journal entry to the players (as Campaign Codex's eye)")
    @app_commands.describe(name="The entry to share", post="Also post what the players now see in this channel")
    @app_commands.autocomplete(name=name_autocomplete)
    @gm_only()
    async def reveal(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 200], post: bool = True):
        await self._set(interaction, name, visible=True, post=post)

    @app_commands.command(name="hide", description="Hide a journal entry from the players again")
    @app_commands.describe(name="The entry to hide")
    @app_commands.autocomplete(name=name_autocomplete)
    @gm_only()
    async def hide(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 200]):
        await self._set(interaction, name, visible=False, post=False)

    async def _set(self, interaction: discord.Interaction, name: str, *, visible: bool, post: bool) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        service = server_of(interaction).gm
        world = await service.resolve_world(interaction.guild_id)
        try:
            done = await service.set_visibility(
                world,
                name,
                visible=visible,
                confirm=confirm_in_discord(interaction, ephemeral=True),
                guild_id=interaction.guild_id,
            )
        except WriteInterrupted as stopped:  # the bot is stopping: what may have been written, then the stop
            await edit_reply(interaction, stopped.reply)
            raise asyncio.CancelledError from None
        await edit_reply(interaction, done.reply)
        if post and done.players_view is not None:
            await self._post(interaction, done)

    async def _post(self, interaction: discord.Interaction, done) -> None:
        channel = interaction.channel
        try:
            await channel.send(embed=to_embed(done.players_view), allowed_mentions=NO_MENTIONS)
        except (discord.HTTPException, AttributeError):
            log.warning("Could not post the revealed entry in channel %s", getattr(channel, "id", "?"))
            await send_reply(
                interaction,
                content="Revealed, but the bot could not post it in this channel (check its Send Messages permission).",
                ephemeral=True,
            )


async def setup(bot) -> None:
    await bot.add_cog(RevealCommands(bot))
