"""/players list|link|unlink: which Foundry user each member sees as (GM only)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.checks import gm_only, has_role
from cogs.utils.respond import send_reply
from services.players.roster import PlayersService

log = logging.getLogger(__name__)


class PlayerCommands(commands.GroupCog, group_name="players", group_description="Foundry users and player links"):
    def __init__(self, bot):
        self.bot = bot
        super().__init__()

    @property
    def service(self) -> PlayersService:
        return PlayersService(self.bot.app.gm.viewers, self.bot.app.gm.visibility)

    async def user_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        # GMs only (a player's autocomplete gets nothing), from the users already read: no relay call here.
        if not has_role(interaction.user, self.bot.settings.gm_role, self.bot.settings.guild_ids):
            return []
        world = await self.bot.app.gm.local_world_id(interaction.guild_id)
        if world is None:
            return []
        users = await self.bot.app.gm.viewers.users(world, local=True)
        typed = current.casefold()
        return [
            app_commands.Choice(name=u.name[:100], value=u.id[:100])
            for u in users
            if not u.is_gm and typed in u.name.casefold()
        ][:25]

    @app_commands.command(name="list", description="The world's Foundry users and which members are linked to them")
    @gm_only()
    async def list(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        world = await self.bot.app.gm.resolve_world(interaction.guild_id)
        reply = await self.service.overview(interaction.guild_id, world.client_id, world.label)
        await send_reply(interaction, reply, ephemeral=True)

    @app_commands.command(name="link", description="Let a member see entries as their own Foundry user")
    @app_commands.describe(member="The Discord member", user="Their Foundry user (name or id)")
    @app_commands.autocomplete(user=user_autocomplete)
    @gm_only()
    async def link(
        self, interaction: discord.Interaction, member: discord.Member, user: app_commands.Range[str, 1, 100]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        world = await self.bot.app.gm.resolve_world(interaction.guild_id)
        reply = await self.service.link(interaction.guild_id, world.client_id, member.id, user, interaction.user.id)
        await send_reply(interaction, reply, ephemeral=True)

    @app_commands.command(name="unlink", description="Make a member see entries as FOUNDRY_PLAYER again")
    @app_commands.describe(member="The Discord member")
    @gm_only()
    async def unlink(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        world = await self.bot.app.gm.resolve_world(interaction.guild_id)
        reply = await self.service.unlink(interaction.guild_id, world.client_id, member.id)
        await send_reply(interaction, reply, ephemeral=True)


async def setup(bot) -> None:
    await bot.add_cog(PlayerCommands(bot))
