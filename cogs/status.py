"""/status and /help."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.checks import NotAllowed, check_guild, has_role, role_label
from cogs.utils.respond import send_reply
from cogs.utils.servers import server_of
from core.replies import Reply
from services.status import status_report

HELP = [
    (
        "/lookup name [private]",
        "everyone in the server",
        "`/lookup name:Baron Vell` — shows what your Foundry user may see; GMs get their full view privately.",
    ),
    (
        "/push name data [rename]",
        "GM role",
        "`/push name:Baron Vell data:vell.json` — previews the changes, then writes them on Confirm.",
    ),
    (
        "/reveal name [post]",
        "GM role",
        "`/reveal name:Harbor` — shares the entry with the players and posts what they now see.",
    ),
    ("/hide name", "GM role", "`/hide name:Harbor` — hides the entry from the players again."),
    (
        "/refresh",
        "GM role",
        "`/refresh` — rebuilds the name map from the live world and reports added/removed/renamed.",
    ),
    ("/world", "GM role", "`/world` — lists the online Foundry worlds and lets you pick this server's."),
    (
        "/players list | link member user | unlink member",
        "GM role",
        "`/players link member:@Ana user:Ana` — Ana now sees entries as her own Foundry user.",
    ),
    (
        "/release dry-run package manifest [version minimum verified maximum notes]",
        "maintainer role",
        "`/release dry-run package:my-module manifest:https://…/v1.2.0/module.json` — checks a release without saving it.",
    ),
    ("/release publish …", "maintainer role", "Same options: dry run, Confirm, release, and an announcement."),
    ("/status", "GM or maintainer role", "Relay, world, name map, packages and cooldowns at a glance."),
    ("/help", "everyone", "This list."),
]
# Hosted mode's own commands (cogs/setup.py, cogs/release_tokens.py).
HOSTED_HELP = [
    (
        "/setup relay | world | roles | player | announce | show | clear",
        "Manage Server",
        "`/setup relay` — this server's relay URL and scoped key (checked at once, never shown again); then its "
        "world, GM and maintainer roles, player view and announcement channel.",
    ),
    (
        "/release token set package | list | remove package",
        "maintainer role",
        "`/release token set package:my-module` — stores the package's release token for this server (in a form).",
    ),
]


class StatusCommands(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    @app_commands.command(name="status", description="Relay, world, name map, release packages and cooldowns")
    async def status(self, interaction: discord.Interaction) -> None:
        check_guild(interaction)
        server = server_of(interaction)
        settings = server.settings
        roles = {settings.gm_role, *settings.maintainer_role.values()}
        if not any(has_role(interaction.user, role, settings.guild_ids) for role in roles):
            raise NotAllowed("Only GMs and maintainers can see the bot's status.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        names = {g.id: g.name for g in self.bot.guilds if g.id in settings.guild_ids}
        report = await status_report(server, interaction.guild_id, names)
        await send_reply(interaction, report, ephemeral=True)

    @app_commands.command(name="help", description="What each command does and who may use it")
    async def help(self, interaction: discord.Interaction) -> None:
        reply = Reply(title="Commands")
        server = interaction.extras.get("server")  # None: a hosted server that has not set up yet
        settings = server.settings if server is not None else self.bot.settings
        gm_role = role_label(interaction.guild, settings.gm_role)  # a role id is never shown
        for usage, who, example in (HOSTED_HELP if settings.hosted else []) + HELP:
            who = who.replace("GM role", f"GM role ({gm_role})")
            reply.add_field(usage, f"*{who}*\n{example}")
        await send_reply(interaction, reply, ephemeral=True)


async def setup(bot) -> None:
    await bot.add_cog(StatusCommands(bot))
