"""/setup: a hosted server sets the bot up from Discord (members with Manage Server). Registered in hosted mode only.

The relay's key is typed into a modal (never a command option, which Discord shows in the channel's command
line and logs); the reply says what works and never repeats the key.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands
from pydantic import SecretStr

from cogs.utils import errors
from cogs.utils.checks import NotAllowed
from cogs.utils.confirm import confirm_in_discord
from cogs.utils.respond import edit_reply, send_reply

log = logging.getLogger(__name__)


def may_manage(interaction: discord.Interaction) -> bool:
    permissions = interaction.permissions
    return permissions.manage_guild or permissions.administrator


def manage_server_only():
    async def predicate(interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            raise NotAllowed("/setup works only in a server, not in direct messages.")
        if not may_manage(interaction):
            raise NotAllowed("Only members with the Manage Server permission can set the bot up.")
        return True

    return app_commands.check(predicate)


class RelayModal(discord.ui.Modal, title="This server's relay"):
    def __init__(self, bot, url: str | None):
        super().__init__(timeout=600)
        self.bot = bot
        self.url = discord.ui.TextInput(
            label="Relay URL", default=url, placeholder="https://foundryvtt-rest-api-relay.fly.dev", max_length=200
        )
        self.key = discord.ui.TextInput(
            label="Scoped API key", placeholder="The key made for this bot on the relay's dashboard", max_length=200
        )
        self.add_item(self.url)
        self.add_item(self.key)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.bot.app.setup.relay(
            interaction.guild_id, self.url.value, SecretStr(self.key.value), member_id=interaction.user.id
        )
        await edit_reply(interaction, reply)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await errors.report(interaction, error)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SetupCommands(commands.GroupCog, group_name="setup", group_description="Set the bot up for this server"):
    def __init__(self, bot):
        self.bot = bot
        super().__init__()

    @property
    def setup_service(self):
        return self.bot.app.setup

    @app_commands.command(name="relay", description="The relay URL and this server's scoped API key (checked at once)")
    @manage_server_only()
    async def relay(self, interaction: discord.Interaction) -> None:
        saved = await self.bot.app.servers.store.get(interaction.guild_id)
        await interaction.response.send_modal(RelayModal(self.bot, saved.relay_url or self.bot.settings.relay_url))

    async def world_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice]:
        if not may_manage(interaction):
            return []
        try:
            worlds = await self.setup_service.worlds(interaction.guild_id)
        except Exception:  # no relay yet, or it is down: no suggestions (the command says why)
            return []
        typed = current.casefold()
        found = [w for w in worlds if typed in w.label.casefold() or typed in w.client_id.casefold()]
        found.sort(key=lambda w: not w.online)
        return [
            app_commands.Choice(name=f"{w.label}{'' if w.online else ' (offline)'}"[:100], value=w.client_id[:100])
            for w in found[:25]
        ]

    @app_commands.command(name="world", description="This server's Foundry world (on its relay)")
    @app_commands.describe(world="The world (left out: the only online one)")
    @app_commands.autocomplete(world=world_autocomplete)
    @manage_server_only()
    async def world(self, interaction: discord.Interaction, world: app_commands.Range[str, 1, 100] | None = None):
        await interaction.response.defer(ephemeral=True, thinking=True)
        await edit_reply(
            interaction, await self.setup_service.world(interaction.guild_id, world, member_id=interaction.user.id)
        )

    @app_commands.command(
        name="roles", description="Which role is this server's GM role, and which its maintainer role"
    )
    @app_commands.describe(gm="Members who run the GM commands", maintainer="Members who release packages")
    @manage_server_only()
    async def roles(
        self, interaction: discord.Interaction, gm: discord.Role | None = None, maintainer: discord.Role | None = None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.setup_service.roles(
            interaction.guild_id,
            gm_role_id=gm.id if gm else None,
            maintainer_role_id=maintainer.id if maintainer else None,
            member_id=interaction.user.id,
        )
        await edit_reply(interaction, reply)

    @app_commands.command(name="player", description="The Foundry user whose view members without a link get")
    @app_commands.describe(user="A plain player user of the world (name or id), never a GM")
    @manage_server_only()
    async def player(self, interaction: discord.Interaction, user: app_commands.Range[str, 1, 100]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.setup_service.player(interaction.guild_id, user, member_id=interaction.user.id)
        await edit_reply(interaction, reply)

    @app_commands.command(name="announce", description="The channel where releases are announced")
    @manage_server_only()
    async def announce(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.setup_service.announce(interaction.guild_id, channel.id, member_id=interaction.user.id)
        await edit_reply(interaction, reply)

    @app_commands.command(name="show", description="What this server has set (secrets never shown)")
    @manage_server_only()
    async def show(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await send_reply(interaction, await self.setup_service.show(interaction.guild_id), ephemeral=True)

    @app_commands.command(name="clear", description="Forget everything this server has set")
    @manage_server_only()
    async def clear(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.setup_service.clear(
            interaction.guild_id, confirm=confirm_in_discord(interaction, ephemeral=True)
        )
        await edit_reply(interaction, reply)


async def setup(bot) -> None:
    if bot.settings.hosted:
        await bot.add_cog(SetupCommands(bot))
