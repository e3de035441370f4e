"""Hosted mode in tests: a bot any server may add, and servers that set it up from Discord as their admins would.

``hosted_settings`` is a hosted operator's .env: no relay, no world, no tokens of its own (``operator`` adds a
listed server with its own .env relay, as a self-hosting operator who turns HOSTED on has). ``new_server`` makes a
Discord server with an admin (Manage Server), a GM, a player and a maintainer; ``set_up`` runs /setup relay (the
modal), /setup world, /setup roles and /setup player through the real command tree, reading every reply.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord
from pydantic import SecretStr

from core.sealing import new_key_text
from core.settings import Settings
from tests.harness import DiscordHarness
from tests.stand_ins.relay_server import ALL_SCOPES, StandInRelay, StandInWorld

SECRETS_KEY = new_key_text()
MANAGE = discord.Permissions(manage_guild=True).value
PLAYER_USER = "Table"  # the plain Foundry user each server's members without a link see as


def hosted_settings(tmp_path, foundry, **overrides) -> Settings:
    values = dict(
        discord_token="discord-token-not-used-by-the-fake",
        hosted=True,
        secrets_key=SECRETS_KEY,
        relay_timeout=5.0,
        database_path=tmp_path / "bot.sqlite3",
        release_api_url=foundry.release_url,
        refresh_interval=0,  # tests run background passes themselves
        allow_private_relay_hosts=True,  # the stand-in relays listen on 127.0.0.1
        allow_private_manifest_hosts=True,  # and so does the stand-in serving manifests
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


def relay_for(key: str, scopes=ALL_SCOPES) -> StandInRelay:
    return StandInRelay(keys={key: set(scopes)})


@dataclass
class Tenant:
    """One Discord server of the hosted bot, with its own relay and key."""

    name: str
    relay: StandInRelay
    key: str
    world: StandInWorld
    guild: object = None
    channel: object = None
    announce: object = None
    admin: object = None
    gm: object = None
    player: object = None
    maintainer: object = None

    @property
    def secret(self) -> SecretStr:
        return SecretStr(self.key)


def new_server(h: DiscordHarness, tenant: Tenant) -> Tenant:
    guild = h.guild(tenant.name, roles=[("Admin", MANAGE), "GM", "Maintainer", "Player"])
    tenant.guild = guild
    tenant.channel = h.channel(guild, "table")
    tenant.announce = h.channel(guild, "releases")
    tenant.admin = h.member(guild, f"{tenant.name}-admin", roles=["Admin"])
    tenant.gm = h.member(guild, f"{tenant.name}-gm", roles=["GM"])
    tenant.player = h.member(guild, f"{tenant.name}-player", roles=["Player"])
    tenant.maintainer = h.member(guild, f"{tenant.name}-dev", roles=["Maintainer"])
    return tenant


async def setup_relay(h: DiscordHarness, tenant: Tenant, *, url: str | None = None, key: str | None = None):
    shown = await h.slash(tenant.admin, tenant.channel, "setup relay")
    assert shown.modal is not None, shown.text
    return await h.submit_modal(
        tenant.admin, shown, {"Relay URL": url or tenant.relay.base_url, "Scoped API key": key or tenant.key}
    )


async def set_up(h: DiscordHarness, tenant: Tenant) -> list:
    """Every /setup step an admin takes for a campaign server; returns the replies (each asserted to succeed)."""
    replies = [await setup_relay(h, tenant)]
    assert "Relay set" in replies[-1].text, replies[-1].text
    replies.append(await h.slash(tenant.admin, tenant.channel, "setup world", world=tenant.world.client_id))
    assert "World chosen" in replies[-1].text, replies[-1].text
    replies.append(
        await h.slash(
            tenant.admin,
            tenant.channel,
            "setup roles",
            gm=tenant.guild.role("GM"),
            maintainer=tenant.guild.role("Maintainer"),
        )
    )
    assert "Roles set" in replies[-1].text, replies[-1].text
    replies.append(await h.slash(tenant.admin, tenant.channel, "setup player", user=PLAYER_USER))
    assert "Player view set" in replies[-1].text, replies[-1].text
    replies.append(await h.slash(tenant.admin, tenant.channel, "setup announce", opts={"channel": tenant.announce}))
    assert "announced in" in replies[-1].text, replies[-1].text
    return replies


async def store_token(h: DiscordHarness, tenant: Tenant, package: str, token: str, *, who=None):
    who = who or tenant.maintainer
    shown = await h.slash(who, tenant.channel, "release token set", package=package)
    assert shown.modal is not None, shown.text
    return await h.submit_modal(who, shown, {"Package release token": token})
