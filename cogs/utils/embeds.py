"""Turn a neutral Reply into a Discord embed that always fits Discord's limits."""

from __future__ import annotations

import discord

from replies import Reply, Tone

COLOURS = {
    Tone.INFO: discord.Colour.blurple(),
    Tone.SUCCESS: discord.Colour.green(),
    Tone.WARNING: discord.Colour.gold(),
    Tone.ERROR: discord.Colour.red(),
}

# Discord's limits (an embed over any of them is refused with 400 Invalid Form Body).
TITLE, DESCRIPTION, FIELDS, FIELD_NAME, FIELD_VALUE, FOOTER, TOTAL = 256, 4096, 25, 256, 1024, 2048, 6000


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def to_embed(reply: Reply) -> discord.Embed:
    embed = discord.Embed(colour=COLOURS[reply.tone])
    budget = TOTAL
    if reply.title:
        embed.title = clip(reply.title, TITLE)
        budget -= len(embed.title)
    if reply.footer:
        footer = clip(reply.footer, min(FOOTER, 512))
        embed.set_footer(text=footer)
        budget -= len(footer)
    if reply.url:
        embed.url = reply.url
    if reply.image_url:
        embed.set_image(url=reply.image_url)
    if reply.thumbnail_url:
        embed.set_thumbnail(url=reply.thumbnail_url)
    # Fields get their share first; the description takes what is left, up to its own limit.
    for field in reply.fields[:FIELDS]:
        name = clip(field.name or "\u200b", FIELD_NAME)
        value = clip(field.value or "\u200b", FIELD_VALUE)
        if len(name) + len(value) > budget - 200:
            break
        embed.add_field(name=name, value=value, inline=field.inline)
        budget -= len(name) + len(value)
    if reply.description:
        embed.description = clip(reply.description, min(DESCRIPTION, max(budget, 1)))
    return embed
