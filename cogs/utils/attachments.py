"""Replies with an entry image that Discord cannot fetch itself: the bot uploads the file with the message.

The text never waits on the picture for more than ``ImageService.wait`` seconds (IMAGE_WAIT, 2 s): when the
image is ready by then it goes out with the text in one message; otherwise the text goes alone and the image
is edited in when it arrives (the relay may take up to 45 s), or the message is left as it is when the image
cannot be had. An image never makes a reply fail.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass, replace

import discord

from cogs.utils.embeds import to_embed
from cogs.utils.respond import NO_MENTIONS, send_reply
from core.replies import Reply
from services.entries.images import DISCORD_UPLOAD_LIMIT, ImageService, PreparedImage

log = logging.getLogger(__name__)


@dataclass
class PendingImage:
    """A reply sent without its image, which is still being fetched."""

    message: discord.Message | discord.WebhookMessage | None
    reply: Reply
    task: asyncio.Task


def upload_limit(interaction: discord.Interaction) -> int:
    """The server's upload limit (10 MiB unless boosted)."""
    guild = interaction.guild
    return guild.filesize_limit if guild is not None else DISCORD_UPLOAD_LIMIT


def _with_image(reply: Reply, image: PreparedImage | None) -> tuple[Reply, discord.File | None]:
    """The reply showing ``image`` (a link, or ``attachment://`` with the file to upload) and its note."""
    if image is None:
        return reply, None
    shown = replace(reply, image=None)
    if image.note:
        shown.footer = f"{reply.footer} · {image.note}" if reply.footer else image.note
    if image.url:
        shown.image_url = image.url
        return shown, None
    if image.data is None or image.filename is None:
        return shown, None
    shown.image_url = f"attachment://{image.filename}"
    return shown, discord.File(io.BytesIO(image.data), filename=image.filename)


def _left_out(reply: Reply, note: str) -> Reply:
    shown = replace(reply, image=None, image_url=None)
    shown.footer = f"{reply.footer} · {note}" if reply.footer else note
    return shown


async def _outcome(task: asyncio.Task) -> PreparedImage | None:
    try:
        return await task
    except Exception:  # ImageService.prepare does not raise; this is only a guard
        log.exception("Fetching an image failed")
        return None


async def send_with_image(
    interaction: discord.Interaction, reply: Reply, images: ImageService, world_id: str, *, ephemeral: bool
) -> PendingImage | None:
    """Send ``reply``, with its image when it is ready within ``images.wait`` seconds; otherwise send the text
    and return what ``finish_images`` needs to edit the image in later."""
    if reply.image is None:
        await send_reply(interaction, reply, ephemeral=ephemeral)
        return None
    task = asyncio.ensure_future(images.prepare(world_id, reply.image, limit=upload_limit(interaction)))
    try:
        done, _ = await asyncio.wait({task}, timeout=images.wait)
        if task in done:
            shown, file = _with_image(reply, await _outcome(task))
            if file is None:
                await send_reply(interaction, shown, ephemeral=ephemeral)
                return None
            try:
                await send_reply(interaction, shown, ephemeral=ephemeral, files=[file])
            except discord.HTTPException as error:
                if error.status != 413:
                    raise
                # Over this server's limit after all (Discord's numbers changed?): the text goes without it.
                log.warning("Discord refused an image upload (%s); sending the reply without it", error)
                await send_reply(
                    interaction, _left_out(reply, "Image left out: Discord refused the upload."), ephemeral=ephemeral
                )
            return None
        message = await send_reply(interaction, replace(reply, image=None), ephemeral=ephemeral)
    except BaseException:
        task.cancel()
        raise
    return PendingImage(message, reply, task)


async def finish_images(pending: list[PendingImage | None]) -> None:
    """Edit each late image into the message sent without it (or leave the message as it is)."""
    try:
        for item in pending:
            if item is None:
                continue
            image = await _outcome(item.task)
            shown, file = _with_image(item.reply, image)
            if item.message is None or image is None or (file is None and not image.url and not image.note):
                continue
            try:
                await item.message.edit(
                    embed=to_embed(shown),
                    attachments=[file] if file else discord.utils.MISSING,
                    allowed_mentions=NO_MENTIONS,
                )
            except discord.HTTPException as error:  # the text is already there: leave it as it is
                log.warning("Could not add an image to a reply: %s", error)
    finally:
        for item in pending:
            if item is not None and not item.task.done():
                item.task.cancel()
