"""Posting one message through Discord's REST API without a gateway connection (for the CLI in CI)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord
import discord.http
from pydantic import SecretStr

from cogs.utils.embeds import to_embed
from core.replies import Reply
from services.maintainers.service import AnnouncementFailed

log = logging.getLogger(__name__)

TIMEOUT = 30.0
# Where the bot token goes. Never read from the environment: tests replace it inside the process they run.
DISCORD_API = discord.http.Route.BASE


class RestAnnouncer:
    """The release service's announcer for the command line: ANNOUNCE_CHANNEL_ID over Discord's REST API."""

    def __init__(self, token: SecretStr, channel_id: int):
        self.token = token
        self.channel_id = channel_id
        self.where = f"in channel {channel_id}"

    async def __call__(self, announcement: Reply) -> None:
        problem = await post_embed(self.token, self.channel_id, announcement)
        if problem:
            raise AnnouncementFailed(problem)


async def post_embed(token: SecretStr, channel_id: int, reply: Reply) -> str | None:
    """Post `reply` as an embed in `channel_id`, every mention disabled. None when posted, else why not
    (a short cause; never the token)."""
    saved = discord.http.Route.BASE
    discord.http.Route.BASE = DISCORD_API.rstrip("/")
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
        discord.http.Route.BASE = saved
    log.debug("Announcement to channel %s failed: %s", channel_id, problem)  # the caller says it
    return problem
