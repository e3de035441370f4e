"""Posting one message through Discord's REST API without a gateway connection (for the CLI in CI)."""

from __future__ import annotations

import logging

import discord
from pydantic import SecretStr

from cogs.utils.embeds import to_embed
from replies import Reply

log = logging.getLogger(__name__)


async def post_embed(token: SecretStr, channel_id: int, reply: Reply) -> bool:
    client = discord.Client(intents=discord.Intents.none(), allowed_mentions=discord.AllowedMentions.none())
    try:
        await client.login(token.get_secret_value())  # REST only: GET /users/@me, no gateway
        await client.get_partial_messageable(channel_id).send(embed=to_embed(reply))
        return True
    except (discord.HTTPException, discord.LoginFailure) as error:
        log.warning("Announcement to channel %s failed: %s", channel_id, type(error).__name__)
        return False
    finally:
        await client.close()
