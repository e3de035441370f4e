"""The one place that turns any error into what a Discord user reads."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from cogs.utils.checks import NotAllowed
from cogs.utils.respond import send_reply
from core.errors import UserFacingError
from core.replies import Reply, Tone
from services.relay_budget import worded_for

log = logging.getLogger("bot.errors")


def describe(error: BaseException, command: str | None = None) -> Reply:
    """A short, actionable reply for `error`; unexpected errors are logged, never shown as a traceback.
    ``command`` lets a refusal name what stopped working ("lookups work again on 1 January")."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserFacingError):
        error = worded_for(error, command)
        reply = Reply(description=error.message, tone=Tone.WARNING if error.temporary else Tone.ERROR)
        if error.details:
            reply.description += "\n" + "\n".join(f"• {line}" for line in error.details)
        return reply
    if isinstance(error, NotAllowed):
        return Reply(description=error.message, tone=Tone.ERROR)
    if isinstance(error, app_commands.NoPrivateMessage):
        return Reply(
            description="This command works only in the campaign's server, not in direct messages.", tone=Tone.ERROR
        )
    if isinstance(error, app_commands.TransformerError):
        return Reply(description=f"That value for this option isn't valid: {error.value!r:.80}.", tone=Tone.ERROR)
    if isinstance(error, app_commands.CheckFailure):
        return Reply(description="You can't use this command here.", tone=Tone.ERROR)
    if isinstance(error, discord.HTTPException):
        return Reply(
            description=f"Discord refused the bot's reply ({error.status}); the error was logged.", tone=Tone.ERROR
        )
    return Reply(
        description=f"Something went wrong inside the bot ({type(error).__name__}); the error was logged for its operator.",
        tone=Tone.ERROR,
    )


def is_expected(error: BaseException) -> bool:
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    return isinstance(error, (UserFacingError, app_commands.CheckFailure, app_commands.TransformerError))


async def report(interaction: discord.Interaction, error: BaseException) -> None:
    if not is_expected(error):
        original = getattr(error, "original", error)
        log.error(
            "Unhandled error in /%s", _name(interaction), exc_info=(type(original), original, original.__traceback__)
        )
    try:
        await send_reply(interaction, describe(error, _name(interaction)), ephemeral=True)
    except discord.HTTPException:
        log.warning("Could not tell %s about an error in /%s", interaction.user.id, _name(interaction))


def _name(interaction: discord.Interaction) -> str:
    return interaction.command.qualified_name if interaction.command else "?"
