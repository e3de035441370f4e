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


def role_id(role: str) -> int | None:
    """The role id an all-digit setting names; None for a role name."""
    wanted = role.strip()
    return int(wanted) if wanted.isascii() and wanted.isdigit() else None


def has_role(member: discord.abc.User, role: str | None, home: Collection[int]) -> bool:
    """`role` is a role id (all digits: it matches ids only) or a role name (case-insensitive: it matches
    names only, so a role *named* like an id's digits is not that role). Only inside the servers listed in
    DISCORD_GUILD_ID (``home``): anyone can make a role named "GM" in a server of their own."""
    if role is None or not isinstance(member, discord.Member) or member.guild.id not in home:
        return False
    wanted_id = role_id(role)
    if wanted_id is not None:
        return any(r.id == wanted_id for r in member.roles)
    wanted = role.strip().casefold()
    return any(r.name.casefold() == wanted for r in member.roles)


def role_label(guild: discord.Guild | None, role: str | None) -> str:
    """How a role setting is named to members: a role id becomes that role's name in this server (never the
    id itself), or "the configured" when this server has no such role."""
    if role is None:
        return "(unset)"
    wanted_id = role_id(role)
    if wanted_id is None:
        return role.strip()
    found = guild.get_role(wanted_id) if guild is not None else None
    return found.name if found is not None else "configured"


def check_guild(interaction: discord.Interaction) -> None:
    if interaction.guild_id is None:
        raise NotAllowed("This command works only in the campaign's server, not in direct messages.")
    if interaction.guild_id not in server_of(interaction).settings.guild_ids:
        raise NotAllowed("This bot serves only its own servers; its commands can't be used here.")


def require_role(interaction: discord.Interaction, role: str | None, what: str) -> None:
    check_guild(interaction)
    if not has_role(interaction.user, role, server_of(interaction).settings.guild_ids):
        raise NotAllowed(f"Only members with the {role_label(interaction.guild, role)} role can {what}.")


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
