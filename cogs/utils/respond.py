"""Sending replies so they arrive, and only where they may: follow-ups after a defer, and once the token
has expired a private reply by direct message, a public one in the channel.

Interaction tokens last 15 minutes. A confirmation answered late, or a very slow relay, can outlive
it. Then a reply that was ephemeral (or holds GM-only content) goes to the invoker by DM, or is dropped
with a log line when their DMs are closed: never to the channel. Progress edits are dropped; only a
final public result may go to the channel.
"""

from __future__ import annotations

import asyncio
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
    """Answer the interaction however far it has got; returns the message when Discord gives one.
    Late, an ephemeral reply goes by DM; a public one to the channel."""
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
    if ephemeral:
        return await send_by_dm(interaction, reply, content=content)
    return await send_to_channel(interaction, reply, content=content)


async def edit_reply(
    interaction: discord.Interaction,
    reply: Reply,
    *,
    view: discord.ui.View | None = None,
    progress: bool = False,
) -> None:
    """Replace the original response (progress updates, a preview becoming a result). Late: a progress
    edit is dropped; a result goes by DM (every edited response of this bot was deferred privately)."""
    try:
        await interaction.edit_original_response(embed=to_embed(reply), view=view, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException as error:
        if not _token_gone(error):
            raise
        if progress:
            log.info("Dropped a progress update for /%s: its interaction token has expired", _command(interaction))
        else:
            await send_by_dm(interaction, reply)


# Seconds the result waits for a progress edit still on its way (Discord retrying a 5xx) before cutting it off.
PROGRESS_SETTLE = 2.0


class ProgressEdits:
    """Progress shown by editing a deferred response, never in the command's way: each edit runs in the
    background (the newest text wins), one Discord refuses is logged and dropped, and ``finish`` ends them
    before the result is edited in (so a late progress line never covers it)."""

    def __init__(self, interaction: discord.Interaction):
        self._interaction = interaction
        self._next: Reply | None = None
        self._task: asyncio.Task | None = None

    async def show(self, reply: Reply) -> None:
        self._next = reply
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="progress-edits")

    async def _run(self) -> None:
        while self._next is not None:
            reply, self._next = self._next, None
            try:
                await edit_reply(self._interaction, reply, progress=True)
            except discord.HTTPException as error:
                log.info(
                    "Dropped a progress update for /%s: Discord answered %s", _command(self._interaction), error.status
                )

    async def finish(self) -> None:
        task, self._task, self._next = self._task, None, None
        if task is None:
            return
        _, running = await asyncio.wait({task}, timeout=PROGRESS_SETTLE)
        for stuck in running:
            stuck.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _command(interaction: discord.Interaction) -> str:
    return interaction.command.qualified_name if interaction.command else "your command"


async def send_by_dm(
    interaction: discord.Interaction, reply: Reply | None, *, content: str | None = None
) -> discord.Message | None:
    """A private reply after the token expired: to the invoker alone, or dropped with a log line."""
    command = _command(interaction)
    lead = f"/{command} finished after Discord stopped accepting replies to it; here is its private answer:"
    text = "\n".join(part for part in (lead, content) if part)
    try:
        return await interaction.user.send(
            content=text[:2000], embed=to_embed(reply) if reply is not None else None, allowed_mentions=NO_MENTIONS
        )
    except discord.HTTPException as error:
        log.warning(
            "Dropped a late private reply for /%s to user %s: direct messages refused (HTTP %s)",
            command,
            interaction.user.id,
            error.status,
        )
        return None


async def send_to_channel(
    interaction: discord.Interaction, reply: Reply | None, *, content: str | None = None
) -> discord.Message | None:
    channel = interaction.channel
    if channel is None or not hasattr(channel, "send"):
        log.warning("Could not deliver a late reply to %s: no channel", interaction.user)
        return None
    command = _command(interaction)
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
