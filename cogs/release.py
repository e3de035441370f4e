"""/release dry-run and /release publish for package maintainers."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.checks import require_role
from cogs.utils.confirm import confirm_in_discord
from cogs.utils.embeds import to_embed
from cogs.utils.respond import NO_MENTIONS, edit_reply
from cogs.utils.servers import server_of
from core.replies import Reply
from core.textsafe import echo
from services.maintainers.service import AnnouncementFailed, ReleaseOptions

log = logging.getLogger(__name__)

Text = app_commands.Range[str, 1, 300]

# Both subcommands take the same options.
OPTION_HELP = dict(
    package="Package id (from the manifest)",
    manifest="URL of THIS version's manifest (not a /releases/latest/ URL)",
    version="Version to release (read from the manifest when left out)",
    minimum="Minimum Foundry version (read from the manifest when left out)",
    verified="Verified Foundry version (read from the manifest when left out)",
    maximum="Maximum Foundry version (optional)",
    notes="URL of this version's release notes: a GitHub release or a CHANGELOG.md (optional)",
    package_check="Check the zip Foundry will install (default True; False only for a package without a zip)",
)


class ReleaseCommands(commands.GroupCog, group_name="release", group_description="Release Foundry packages"):
    def __init__(self, bot):
        self.bot = bot

    async def package_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.casefold()
        found = [p for p in server_of(interaction).releases.packages() if typed in p.casefold()]
        found.sort(key=lambda p: (not p.casefold().startswith(typed), p))
        return [app_commands.Choice(name=p[:100], value=p[:100]) for p in found[:25]]

    async def _start(
        self, interaction: discord.Interaction, *options: str | None, package_check: bool
    ) -> ReleaseOptions:
        """What both subcommands do first: check the package's role, defer privately, collect the options."""
        package = options[0]
        require_role(interaction, server_of(interaction).settings.maintainer_role_for(package), f"release {package}")
        await interaction.response.defer(ephemeral=True, thinking=True)
        return ReleaseOptions(*options, package_check=package_check)

    @app_commands.command(name="dry-run", description="Check a release with Foundry without saving it")
    @app_commands.describe(**OPTION_HELP)
    @app_commands.autocomplete(package=package_autocomplete)
    async def dry_run(
        self,
        interaction: discord.Interaction,
        package: app_commands.Range[str, 1, 100],
        manifest: Text,
        version: app_commands.Range[str, 1, 50] | None = None,
        minimum: app_commands.Range[str, 1, 50] | None = None,
        verified: app_commands.Range[str, 1, 50] | None = None,
        maximum: app_commands.Range[str, 1, 50] | None = None,
        notes: Text | None = None,
        package_check: bool = True,
    ) -> None:
        options = await self._start(
            interaction, package, manifest, version, minimum, verified, maximum, notes, package_check=package_check
        )
        reply = await server_of(interaction).releases.dry_run(options, actor=_actor(interaction))
        await edit_reply(interaction, reply)

    @app_commands.command(
        name="publish", description="Release a new version: dry run, confirm, then publish and announce"
    )
    @app_commands.describe(**OPTION_HELP)
    @app_commands.autocomplete(package=package_autocomplete)
    async def publish(
        self,
        interaction: discord.Interaction,
        package: app_commands.Range[str, 1, 100],
        manifest: Text,
        version: app_commands.Range[str, 1, 50] | None = None,
        minimum: app_commands.Range[str, 1, 50] | None = None,
        verified: app_commands.Range[str, 1, 50] | None = None,
        maximum: app_commands.Range[str, 1, 50] | None = None,
        notes: Text | None = None,
        package_check: bool = True,
    ) -> None:
        options = await self._start(
            interaction, package, manifest, version, minimum, verified, maximum, notes, package_check=package_check
        )
        channel_id = server_of(interaction).settings.announce_channel_id
        published = await server_of(interaction).releases.publish(
            options,
            actor=_actor(interaction),
            confirm=confirm_in_discord(interaction, ephemeral=True),
            released_by=_released_by(interaction),
            announce=ChannelAnnouncer(self.bot, channel_id) if channel_id else None,
        )
        # A failed announcement is a warning on this reply: the release went through all the same.
        await edit_reply(interaction, published.reply)


class ChannelAnnouncer:
    """Posts the announcement in ANNOUNCE_CHANNEL_ID, every mention disabled."""

    def __init__(self, bot, channel_id: int):
        self.bot = bot
        self.channel_id = channel_id
        self.where = f"in <#{channel_id}>"

    async def __call__(self, announcement: Reply) -> None:
        channel = self.bot.get_partial_messageable(self.channel_id)
        try:
            await channel.send(embed=to_embed(announcement), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            log.warning("Could not announce in channel %s: %s %s", self.channel_id, error.status, error.text[:200])
            raise AnnouncementFailed(announce_failure(error)) from None


def announce_failure(error: discord.HTTPException) -> str:
    if error.status == 403:
        return "the bot lacks permission there (it needs View Channel, Send Messages and Embed Links)"
    if error.status == 404:
        return "Discord does not know that channel (check ANNOUNCE_CHANNEL_ID)"
    return f"Discord answered {error.status}"


def _actor(interaction: discord.Interaction) -> str:
    return f"{interaction.user} ({interaction.user.id})"


def _released_by(interaction: discord.Interaction) -> str:
    """The releaser as people know them: display name and a mention (mentions in embeds never ping,
    and the announcement is sent with every mention disabled)."""
    return f"{echo(interaction.user.display_name, 80)} ({interaction.user.mention})"


async def setup(bot) -> None:
    await bot.add_cog(ReleaseCommands(bot))
