"""Role checks for GM and maintainer commands: in the configured guild, with the configured role."""

from __future__ import annotations

from collections.abc import Collection

import discord
from discord import app_commands

from cogs.utils.servers import server_of


class NotAllowed(app_commands.CheckFailure):
    """A refused invocation; `message` is what the person is told."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def has_role(member: discord.abc.User, role: str | None, home: Collection[int]) -> bool:
    """`role` is a role name (case-insensitive) or a numeric role id. Only inside the servers listed in
    DISCORD_GUILD_ID (``home``): anyone can make a role named "GM" in a server of their own."""
    if role is None or not isinstance(member, discord.Member) or member.guild.id not in home:
        return False
    wanted = role.strip()
    return any(str(r.id) == wanted or r.name.casefold() == wanted.casefold() for r in member.roles)


def check_guild(interaction: discord.Interaction) -> None:
    if interaction.guild_id is None:
        raise NotAllowed("This command works only in the campaign's server, not in direct messages.")
    if interaction.guild_id not in server_of(interaction).settings.guild_ids:
        raise NotAllowed("This bot serves only its own servers; its commands can't be used here.")


def require_role(interaction: discord.Interaction, role: str | None, what: str) -> None:
    check_guild(interaction)
    if not has_role(interaction.user, role, server_of(interaction).settings.guild_ids):
        raise NotAllowed(f"Only members with the {role or '(unset)'} role can {what}.")


def gm_only():
    """An app command check: the invoker has GM_ROLE in the bot's guild."""

    async def predicate(interaction: discord.Interaction) -> bool:
        require_role(interaction, server_of(interaction).settings.gm_role, "use this GM command")
        return True

    return app_commands.check(predicate)


def guild_member():
    async def predicate(interaction: discord.Interaction) -> bool:
        check_guild(interaction)
        return True

    return app_commands.check(predicate)
