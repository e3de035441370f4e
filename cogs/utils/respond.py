"""Sending replies so they always arrive: follow-ups after a defer, the channel once the token has expired.

Interaction tokens last 15 minutes. A confirmation answered late, or a very slow relay, can outlive
it: then the reply goes to the channel instead of being lost.
"""

from __future__ import annotations

import logging

import discord

from cogs.utils.embeds import to_embed
from core.replies import Reply

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


async def send_reply(
    interaction: discord.Interaction,
    reply: Reply | None = None,
    *,
    content: str | None = None,
    ephemeral: bool = False,
    view: discord.ui.View | None = None,
    files: list[discord.File] | None = None,
) -> discord.Message | None:
    """Answer the interaction however far it has got; returns the message when Discord gives one."""
    embed = to_embed(reply) if reply is not None else None
    kwargs: dict = {"content": content, "allowed_mentions": NO_MENTIONS}
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    if files:
        kwargs["files"] = files
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(ephemeral=ephemeral, **kwargs)
            return await interaction.original_response()
        return await interaction.followup.send(ephemeral=ephemeral, wait=True, **kwargs)
    except discord.HTTPException as error:
        if not _token_gone(error):
            raise
    return await send_to_channel(interaction, reply, content=content)


async def edit_reply(interaction: discord.Interaction, reply: Reply, *, view: discord.ui.View | None = None) -> None:
    """Replace the original response (progress updates, a preview becoming a result)."""
    try:
        await interaction.edit_original_response(embed=to_embed(reply), view=view, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as error:
        if not _token_gone(error):
            raise
        await send_to_channel(interaction, reply)


async def send_to_channel(
    interaction: discord.Interaction, reply: Reply | None, *, content: str | None = None
) -> discord.Message | None:
    channel = interaction.channel
    if channel is None or not hasattr(channel, "send"):
        log.warning("Could not deliver a late reply to %s: no channel", interaction.user)
        return None
    command = interaction.command.qualified_name if interaction.command else "your command"
    # Only the person who asked is pinged; nothing else in the text can mention anyone.
    lead = f"{interaction.user.mention}, /{command} finished after Discord stopped accepting replies to it:"
    text = "\n".join(part for part in (lead, content) if part)
    try:
        return await channel.send(
            content=text[:2000],
            embed=to_embed(reply) if reply is not None else None,
            allowed_mentions=discord.AllowedMentions(users=[interaction.user], everyone=False, roles=False),
        )
    except discord.HTTPException:
        log.warning("Could not deliver a late reply for /%s in channel %s", command, getattr(channel, "id", "?"))
        return None


def _token_gone(error: discord.HTTPException) -> bool:
    # 10062 Unknown interaction, 10015 Unknown Webhook, 50027 Invalid Webhook Token: the 15 minutes are over.
    return error.code in (10062, 10015, 50027) or (error.status in (401, 404) and error.code == 0)
