"""Posting one message through Discord's REST API without a gateway connection (for the CLI in CI)."""

from __future__ import annotations

import asyncio
import logging
import os

import aiohttp
import discord
import discord.http
from pydantic import SecretStr

from cogs.utils.embeds import to_embed
from core.replies import Reply

log = logging.getLogger(__name__)

TIMEOUT = 30.0


async def post_embed(token: SecretStr, channel_id: int, reply: Reply) -> str | None:
    """Post `reply` as an embed in `channel_id`, every mention disabled. None when posted, else why not
    (a short cause; never the token)."""
    # Test-only: the tests point this at their local fake Discord. Unset, discord.py's own base
    # (https://discord.com/api/v10) is used.
    base = os.environ.get("DISCORD_API_BASE")
    saved = discord.http.Route.__dict__.get("BASE")
    if base:
        discord.http.Route.BASE = base.rstrip("/")
    client = discord.Client(intents=discord.Intents.none(), allowed_mentions=discord.AllowedMentions.none())
    try:
        async with asyncio.timeout(TIMEOUT):
            await client.login(token.get_secret_value())  # REST only: GET /users/@me, no gateway
            await client.get_partial_messageable(channel_id).send(
                embed=to_embed(reply), allowed_mentions=discord.AllowedMentions.none()
            )
        return None
    except discord.LoginFailure:
        problem = "Discord rejected DISCORD_TOKEN"
    except discord.Forbidden:
        problem = "the bot lacks permission there (it needs View Channel, Send Messages and Embed Links)"
    except discord.NotFound:
        problem = "Discord does not know that channel (check ANNOUNCE_CHANNEL_ID)"
    except discord.HTTPException as error:
        problem = f"Discord answered {error.status}"
    except TimeoutError:
        problem = f"Discord did not answer within {TIMEOUT:g} s"
    except (aiohttp.ClientError, OSError) as error:
        problem = f"could not reach Discord ({type(error).__name__})"
    finally:
        await client.close()
        if base:
            if saved is None:
                del discord.http.Route.BASE
            else:
                discord.http.Route.BASE = saved
    log.debug("Announcement to channel %s failed: %s", channel_id, problem)  # the caller says it
    return problem
