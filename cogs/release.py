"""/release dry-run and /release publish for package maintainers."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.checks import require_role
from cogs.utils.confirm import confirm_in_discord
from cogs.utils.embeds import to_embed
from cogs.utils.respond import NO_MENTIONS, edit_reply, send_reply
from cogs.utils.servers import server_of
from core.replies import Reply, Tone
from core.textsafe import echo
from services.maintainers.service import ReleaseOptions

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
    notes="URL of this version's release notes (optional)",
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

    async def _start(self, interaction: discord.Interaction, *options: str | None) -> ReleaseOptions:
        """What both subcommands do first: check the package's role, defer privately, collect the options."""
        package = options[0]
        require_role(interaction, server_of(interaction).settings.maintainer_role_for(package), f"release {package}")
        await interaction.response.defer(ephemeral=True, thinking=True)
        return ReleaseOptions(*options)

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
    ) -> None:
        options = await self._start(interaction, package, manifest, version, minimum, verified, maximum, notes)
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
    ) -> None:
        options = await self._start(interaction, package, manifest, version, minimum, verified, maximum, notes)
        published = await server_of(interaction).releases.publish(
            options,
            actor=_actor(interaction),
            confirm=confirm_in_discord(interaction, ephemeral=True),
            released_by=_released_by(interaction),
        )
        await edit_reply(interaction, published.reply)
        if published.announcement is not None:
            problem = await self.announce(published.announcement, server_of(interaction).settings.announce_channel_id)
            if problem:
                # The release went through; the maintainer must know the channel did not hear of it.
                await send_reply(interaction, Reply(description=problem, tone=Tone.WARNING), ephemeral=True)

    async def announce(self, reply: Reply, channel_id: int | None) -> str | None:
        """Post the announcement in the server's announcement channel; None when posted (or not configured),
        else why not."""
        if not channel_id:
            return None
        channel = self.bot.get_partial_messageable(channel_id)
        try:
            await channel.send(embed=to_embed(reply), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            log.warning("Could not announce in channel %s: %s %s", channel_id, error.status, error.text[:200])
            return announce_failure(channel_id, error)
        return None


def announce_failure(channel_id: int, error: discord.HTTPException) -> str:
    if error.status == 403:
        why = "the bot lacks permission there (it needs View Channel, Send Messages and Embed Links)"
    elif error.status == 404:
        why = "Discord does not know that channel (check ANNOUNCE_CHANNEL_ID)"
    else:
        why = f"Discord answered {error.status}"
    return f"Released, but the announcement could not be posted in <#{channel_id}>: {why}."


def _actor(interaction: discord.Interaction) -> str:
    return f"{interaction.user} ({interaction.user.id})"


def _released_by(interaction: discord.Interaction) -> str:
    """The releaser as people know them: display name and a mention (mentions in embeds never ping,
    and the announcement is sent with every mention disabled)."""
    return f"{echo(interaction.user.display_name, 80)} ({interaction.user.mention})"


async def setup(bot) -> None:
    await bot.add_cog(ReleaseCommands(bot))
