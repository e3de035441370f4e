"""/players list|link|unlink: which Foundry user each member sees as (GM only)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.checks import gm_only, has_role
from cogs.utils.respond import send_reply
from cogs.utils.servers import server_of
from services.players.roster import PlayersService

log = logging.getLogger(__name__)


class PlayerCommands(commands.GroupCog, group_name="players", group_description="Foundry users and player links"):
    def __init__(self, bot):
        self.bot = bot
        super().__init__()

    @staticmethod
    def service(interaction: discord.Interaction) -> PlayersService:
        gm = server_of(interaction).gm
        return PlayersService(gm.viewers, gm.visibility)

    async def user_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        # GMs only (a player's autocomplete gets nothing), from the users already read: no relay call here.
        server = server_of(interaction)
        if not has_role(interaction.user, server.settings.gm_role, server.settings.guild_ids):
            return []
        world = await server.gm.local_world_id(interaction.guild_id)
        if world is None:
            return []
        users = await server.gm.viewers.users(world, local=True)
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
        world = await server_of(interaction).gm.resolve_world(interaction.guild_id)
        reply = await self.service(interaction).overview(interaction.guild_id, world.client_id, world.label)
        await send_reply(interaction, reply, ephemeral=True)

    @app_commands.command(name="link", description="Let a member see entries as their own Foundry user")
    @app_commands.describe(member="The Discord member", user="Their Foundry user (name or id)")
    @app_commands.autocomplete(user=user_autocomplete)
    @gm_only()
    async def link(
        self, interaction: discord.Interaction, member: discord.Member, user: app_commands.Range[str, 1, 100]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        world = await server_of(interaction).gm.resolve_world(interaction.guild_id)
        reply = await self.service(interaction).link(
            interaction.guild_id, world.client_id, member.id, user, interaction.user.id
        )
        await send_reply(interaction, reply, ephemeral=True)

    @app_commands.command(name="unlink", description="Make a member see entries as FOUNDRY_PLAYER again")
    @app_commands.describe(member="The Discord member")
    @gm_only()
    async def unlink(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        world = await server_of(interaction).gm.resolve_world(interaction.guild_id)
        reply = await self.service(interaction).unlink(interaction.guild_id, world.client_id, member.id)
        await send_reply(interaction, reply, ephemeral=True)


async def setup(bot) -> None:
    await bot.add_cog(PlayerCommands(bot))
