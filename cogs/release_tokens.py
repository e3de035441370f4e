"""/release token set|list|remove: a hosted server's maintainers store their packages' release tokens.

A token is typed into a modal, stored sealed for this server only, and bound to the member who set it and the
server's maintainer role of that moment (releasing the package then needs that role). Listing names packages,
setters and dates, never a token. Registered in hosted mode only, as a subgroup of /release.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from cogs.setup import may_manage
from cogs.utils import errors
from cogs.utils.checks import has_role, require_role
from cogs.utils.respond import edit_reply, send_reply
from cogs.utils.servers import server_of


def _maintainer_role_id(role: str | None) -> int | None:
    """The role a new token is bound to: the server's maintainer role when it is given by id (/setup roles)."""
    return int(role) if role and role.isascii() and role.isdigit() else None


class TokenModal(discord.ui.Modal):
    def __init__(self, bot, package: str, role_id: int | None):
        super().__init__(title=f"Release token: {package}"[:45], timeout=600)
        self.bot = bot
        self.package = package
        self.role_id = role_id
        self.token = discord.ui.TextInput(
            label="Package release token",
            placeholder="fvttp_… from the package's page on foundryvtt.com",
            max_length=200,
        )
        self.add_item(self.token)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.bot.app.setup.set_token(
            interaction.guild_id,
            self.package,
            self.token.value,
            member_id=interaction.user.id,
            role_id=self.role_id,
            may_replace=may_manage(interaction),
        )
        await edit_reply(interaction, reply)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await errors.report(interaction, error)


class TokenCommands(app_commands.Group):
    def __init__(self, bot):
        super().__init__(name="token", description="This server's package release tokens")
        self.bot = bot

    async def stored_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice]:
        settings = server_of(interaction).settings
        if not (
            may_manage(interaction) or has_role(interaction.user, settings.maintainer_role_for("*"), settings.guild_ids)
        ):
            return []
        typed = current.casefold()
        stored = await self.bot.app.setup.stored_packages(interaction.guild_id)
        return [app_commands.Choice(name=p[:100], value=p[:100]) for p in stored if typed in p.casefold()][:25]

    @app_commands.command(name="set", description="Store a package's release token for this server (in a form)")
    @app_commands.describe(package="The package id (the manifest's id)")
    async def set(self, interaction: discord.Interaction, package: app_commands.Range[str, 1, 100]) -> None:
        settings = server_of(interaction).settings
        require_role(interaction, settings.maintainer_role_for(package), f"store {package}'s release token")
        role_id = _maintainer_role_id(settings.maintainer_role_for("*"))
        await interaction.response.send_modal(TokenModal(self.bot, package.strip(), role_id))

    @app_commands.command(name="list", description="The packages with a token here, who stored each and when")
    async def list(self, interaction: discord.Interaction) -> None:
        settings = server_of(interaction).settings
        if not may_manage(interaction):
            require_role(interaction, settings.maintainer_role_for("*"), "list the release tokens")
        await interaction.response.defer(ephemeral=True, thinking=True)
        await send_reply(interaction, await self.bot.app.setup.list_tokens(interaction.guild_id), ephemeral=True)

    @app_commands.command(name="remove", description="Forget a package's release token in this server")
    @app_commands.autocomplete(package=stored_autocomplete)
    async def remove(self, interaction: discord.Interaction, package: app_commands.Range[str, 1, 100]) -> None:
        settings = server_of(interaction).settings
        if not may_manage(interaction):
            require_role(interaction, settings.maintainer_role_for(package), f"remove {package}'s release token")
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.bot.app.setup.remove_token(
            interaction.guild_id, package, member_id=interaction.user.id, may_remove_any=may_manage(interaction)
        )
        await edit_reply(interaction, reply)


async def setup(bot: commands.Bot) -> None:
    if not bot.settings.hosted:
        return
    release = bot.get_cog("ReleaseCommands")
    if release is None:
        raise RuntimeError("cogs.release_tokens needs cogs.release loaded first")
    release.app_command.add_command(TokenCommands(bot))
