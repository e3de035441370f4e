"""Turn a neutral Reply into a Discord embed that always fits Discord's limits."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import discord

from core.replies import Reply, Tone
from core.textsafe import valid_unicode

COLOURS = {
    Tone.INFO: discord.Colour.blurple(),
    Tone.SUCCESS: discord.Colour.green(),
    Tone.WARNING: discord.Colour.gold(),
    Tone.ERROR: discord.Colour.red(),
}

# Discord's limits (an embed over any of them is refused with 400 Invalid Form Body).
TITLE, DESCRIPTION, FIELDS, FIELD_NAME, FIELD_VALUE, FOOTER, TOTAL = 256, 4096, 25, 256, 1024, 2048, 6000
URL = 2048  # and it must be a well-formed http(s) URL ("Not a well formed URL." otherwise)


def clip(text: str, limit: int) -> str:
    text = valid_unicode(text)  # JSON from Foundry may hold unpaired surrogates; Discord takes UTF-8 only
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_url(url: object) -> str | None:
    """`url` when Discord will take it as an embed link or image (http(s), a host, no spaces, at most
    2048 characters), else None: a URL from Foundry or a manifest must not make Discord refuse the reply."""
    if not isinstance(url, str):
        return None
    url = valid_unicode(url.strip())
    if not url or len(url) > URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return url


def _attachment_url(url: object) -> str | None:
    """``attachment://<name>``: a file uploaded with the same message (cogs/utils/attachments.py names it)."""
    if isinstance(url, str) and re.fullmatch(r"attachment://[A-Za-z0-9._-]{1,80}", url):
        return url
    return None


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
    if safe_url(reply.url):
        embed.url = safe_url(reply.url)
    image = safe_url(reply.image_url) or _attachment_url(reply.image_url)
    if image:
        embed.set_image(url=image)
    if safe_url(reply.thumbnail_url):
        embed.set_thumbnail(url=safe_url(reply.thumbnail_url))
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
