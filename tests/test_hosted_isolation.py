"""Isolation, the law of hosted mode: two servers, each with its own relay stand-in and key, worlds with the same
client id and overlapping entry names. Everything each server does (commands, autocomplete, background
refreshes, images, releases) uses only its own key, world and tokens, and nothing of one ever reaches the other:
every request sent to the fake Discord is traced to its server and scanned for the other's names, pictures and
secrets, every request each relay saw carried its own server's key, and no log line holds a secret."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from dataclasses import dataclass

import pytest
from PIL import Image

from bot import create_bot
from tests.harness import DiscordHarness
from tests.helpers import run_until_button
from tests.hosted import PLAYER_USER, Tenant, hosted_settings, new_server, relay_for, set_up, store_token

WORLD = "client-main"  # the same client id on both relays
PICTURE = "worlds/shared/harbor.png"  # the same image path in both worlds
PACKAGE = "shared-module"  # the same package id in both servers


def png(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(out, "PNG")
    return out.getvalue()


SIDES = {
    "A": dict(
        key="relay-key-server-a-4c8e1f3a5b7d",
        token="fvttp_serverA0c2e4a6b8d0f1e3a",
        text="Tides of Ashford",
        hidden="Vault of Ash",
        renamed="Ashford Quay",
        version="2.0.0",
        picture=png((200, 30, 30)),
    ),
    "B": dict(
        key="relay-key-server-b-9d7b5f3e1c0a",
        token="fvttp_serverB1d3f5b7d9f0e2c4b",
        text="Salt of Brinemoor",
        hidden="Obsidian Crypt",
        renamed="Brinemoor Docks",
        version="2.1.0",
        picture=png((30, 30, 200)),
    ),
}


def codex(text: str) -> dict:
    return {"campaign-codex": {"type": "location", "image": PICTURE, "data": {"description": f"<p>{text}.</p>"}}}


@pytest.fixture
async def two_servers(tmp_path, foundry, caplog):
    caplog.set_level(logging.DEBUG)
    relays = {side: relay_for(spec["key"]) for side, spec in SIDES.items()}
    foundry.cooldown = 0  # Foundry's minute per package is everyone's: here the two releases follow each other
    async with relays["A"], relays["B"]:
        tenants = {}
        for side, spec in SIDES.items():
            world = relays[side].add_world(WORLD, f"World of {side}", online=True)
            world.add_user(PLAYER_USER)
            spec["harbor"] = world.add_entry("Harbor", flags=codex(spec["text"]), ownership={"default": 2})
            spec["mira"] = world.add_user("Mira")  # the Foundry user the server's player is linked to
            world.add_entry(spec["hidden"], ownership={"default": 0})
            world.add_file(PICTURE, spec["picture"], "image/png")
            foundry.add_package(PACKAGE, spec["token"])
            tenants[side] = Tenant(f"Server {side}", relays[side], spec["key"], world)
            spec["manifest"] = foundry.serve_manifest(
                f"manifests/shared-module/v{spec['version']}/module.json",
                {
                    "id": PACKAGE,
                    "title": "Shared",
                    "version": spec["version"],
                    "compatibility": {"minimum": "12", "verified": "13"},
                },
            )
        settings = hosted_settings(tmp_path, foundry)
        bot = create_bot(settings)
        async with DiscordHarness(bot, token=settings.discord_token.get_secret_value()) as h:
            # Room for one map at a time: the servers' maps keep leaving memory and are read back from the store.
            bot.app.shared.memory.limit = 1
            for tenant in tenants.values():
                new_server(h, tenant)
            yield h, bot, tenants, foundry, caplog


def _marks(side: str) -> set[str]:
    spec = SIDES[side]
    return {spec["key"][-12:], spec["token"][-12:], spec["text"], spec["hidden"], spec["renamed"]}


def _origin(h: DiscordHarness, request) -> tuple[int | None, int | None]:
    """(server, interaction) a request to the fake Discord was made for: its interaction's, or its channel's."""
    found = re.search(r"/interactions/(\d+)/", request.path)
    if found:
        interaction = h.fake.interactions[int(found.group(1))]
        return interaction.guild_id, interaction.id
    found = re.search(r"/webhooks/\d+/([^/]+)", request.path)
    if found:
        interaction = next(i for i in h.fake.interactions.values() if i.token == found.group(1))
        return interaction.guild_id, interaction.id
    found = re.search(r"/channels/(\d+)/", request.path)
    if found:
        cid = int(found.group(1))
        return next(g.id for g in h.guilds for c in g.channels if c.id == cid), None
    return None, None


@dataclass
class Side:
    tenant: Tenant
    spec: dict
    other: dict  # the other server's spec
    seen: dict


async def _player_names_once_known(h, tenant: Tenant) -> set[str]:
    """After a restart the first keystroke starts reading the world's Foundry users; the next ones answer."""
    for _ in range(100):
        names = {c["name"] for c in await h.autocomplete(tenant.player, tenant.channel, "lookup", "name", "")}
        if names:
            return names
        await asyncio.sleep(0.05)
    return set()


async def _run_everything(h, bot, tenants: dict[str, Tenant], foundry) -> dict:
    """What each server's GM, player and maintainer do, every reply read, one step for both servers at a time
    (so each server's maps are read back from the store after the other's were written)."""
    seen = {side: {} for side in tenants}

    def each() -> list[Side]:
        return [Side(t, SIDES[side], SIDES["B" if side == "A" else "A"], seen[side]) for side, t in tenants.items()]

    for x in each():
        await set_up(h, x.tenant)
        x.seen["refresh"] = await h.slash(x.tenant.gm, x.tenant.channel, "refresh")
        assert "Name map refreshed" in x.seen["refresh"].text, x.seen["refresh"].text
    for x in each():
        x.seen["gm names"] = {
            c["name"] for c in await h.autocomplete(x.tenant.gm, x.tenant.channel, "lookup", "name", "")
        }
        x.seen["player names"] = {
            c["name"] for c in await h.autocomplete(x.tenant.player, x.tenant.channel, "lookup", "name", "")
        }
    for x in each():
        x.seen["gm lookup"] = await h.slash(x.tenant.gm, x.tenant.channel, "lookup", name="Harbor", private=True)
        x.seen["player lookup"] = await h.slash(x.tenant.player, x.tenant.channel, "lookup", name="Harbor")
        x.seen["hidden"] = await h.slash(x.tenant.player, x.tenant.channel, "lookup", name=x.other["hidden"])
        x.seen["status"] = await h.slash(x.tenant.gm, x.tenant.channel, "status")
        x.seen["link"] = await h.slash(
            x.tenant.gm, x.tenant.channel, "players link", member=x.tenant.player, user=x.spec["mira"]
        )
        x.seen["players"] = await h.slash(x.tenant.gm, x.tenant.channel, "players list")

    # A background refresh after each GM renames the entry in Foundry: its own world, with its own key.
    for x in each():
        x.tenant.world.rename_entry(x.spec["harbor"], x.spec["renamed"])
        server = await bot.app.servers.get(x.tenant.guild.id)
        x.seen["background"] = await server.refresher.run_one(WORLD)
    for x in each():
        x.seen["after background"] = {
            c["name"] for c in await h.autocomplete(x.tenant.gm, x.tenant.channel, "lookup", "name", "")
        }

    # Releases: the same package id in both servers, each with its own token (the other's is not at Foundry now).
    for x in each():
        assert "Release token stored" in (await store_token(h, x.tenant, PACKAGE, x.spec["token"])).text
    for x in each():
        others_token = x.other["token"]
        del foundry.tokens[others_token]
        try:
            task, message = await run_until_button(
                h,
                x.tenant.maintainer,
                x.tenant.channel,
                "release publish",
                package=PACKAGE,
                manifest=x.spec["manifest"],
            )
            await h.click(x.tenant.maintainer, message, label="Confirm")
            x.seen["publish"] = await task
        finally:
            foundry.tokens[others_token] = PACKAGE
        x.seen["tokens"] = await h.slash(x.tenant.maintainer, x.tenant.channel, "release token list")

    # Foundry's minute: A releases again too soon and is told to wait; B's bookkeeping knows nothing of it.
    foundry.cooldown = 60
    tenant = tenants["A"]
    del foundry.tokens[SIDES["B"]["token"]]
    again = foundry.serve_manifest(
        "manifests/shared-module/v2.0.1/module.json",
        {"id": PACKAGE, "title": "Shared", "version": "2.0.1", "compatibility": {"minimum": "12", "verified": "13"}},
    )
    task, message = await run_until_button(
        h, tenant.maintainer, tenant.channel, "release publish", package=PACKAGE, manifest=again
    )
    await h.click(tenant.maintainer, message, label="Confirm")
    seen["A"]["cooled"] = await task

    # As after a restart: every server's clients built again from the store alone.
    for x in each():
        await bot.app.servers.reload(x.tenant.guild.id)
    for x in each():
        x.seen["restarted gm names"] = {
            c["name"] for c in await h.autocomplete(x.tenant.gm, x.tenant.channel, "lookup", "name", "")
        }
        x.seen["restarted player names"] = await _player_names_once_known(h, x.tenant)
        x.seen["restarted status"] = await h.slash(x.tenant.maintainer, x.tenant.channel, "status")
    return seen


async def test_nothing_of_one_server_reaches_the_other(two_servers):
    h, bot, tenants, foundry, caplog = two_servers
    seen = await _run_everything(h, bot, tenants, foundry)

    for side, other in (("A", "B"), ("B", "A")):
        spec, mine = SIDES[side], seen[side]
        assert mine["gm names"] == {"Harbor", spec["hidden"]}
        assert mine["player names"] == {"Harbor"}
        assert spec["text"] in mine["gm lookup"].text and spec["text"] in mine["player lookup"].text
        [(_, picture)] = [a for m in mine["player lookup"].messages for a in m.attachments]
        assert picture == spec["picture"]  # the same path in both worlds: each server's own file
        assert mine["hidden"].text.startswith("No entry named")
        assert f"World of {side}" in mine["status"].text
        assert mine["background"] == "updated" and mine["after background"] == {spec["renamed"], spec["hidden"]}
        assert "Released" in mine["publish"].text or "released" in mine["publish"].text, mine["publish"].text
        assert f"**{PACKAGE}**" in mine["tokens"].text
        assert mine["restarted gm names"] == {spec["renamed"], spec["hidden"]}
        assert mine["restarted player names"] == {spec["renamed"]}
        [announcement] = h.messages_in(tenants[side].announce)  # its own release only, in its own channel
        shown = f"{announcement.embeds[0].title} {announcement.embeds[0].description} {announcement.payload}"
        assert spec["version"] in shown and SIDES[other]["version"] not in shown

    assert "one release per package per minute" in seen["A"]["cooled"].text
    assert "Release cooldowns" in seen["A"]["restarted status"].text
    assert "Release cooldowns" not in seen["B"]["restarted status"].text

    # Every request to the fake Discord: traced to its server, holding nothing of the other's (but the name a
    # player typed, echoed in "No entry named …").
    echoes = {seen[side]["hidden"].interaction_id for side in SIDES}
    for request in h.fake.requests:
        text = f"{request.path} {request.query} {request.json} {request.raw_body[:200_000]!r}"
        guild, interaction = _origin(h, request)
        if interaction in echoes:
            continue
        for side, tenant in tenants.items():
            for mark in _marks(side):
                if mark in text:
                    assert guild == tenant.guild.id, f"{side}'s {mark!r} went to {guild}: {request.method} {text[:600]}"
            if SIDES[side]["picture"] in request.raw_body:
                assert guild == tenant.guild.id, f"{side}'s picture went to {guild}"
        for spec in SIDES.values():
            assert spec["key"][-12:] not in text and spec["token"][-12:] not in text, "a secret reached Discord"

    # Every request each relay saw: that server's key, that server's names only.
    for side, tenant in tenants.items():
        other = "B" if side == "A" else "A"
        assert set(tenant.relay.keys_used) <= {SIDES[side]["key"], None}  # None: the unkeyed /api/status
        assert SIDES[side]["key"] in tenant.relay.keys_used
        logged = repr([(r.path, r.query, r.json) for r in tenant.relay.log])
        assert SIDES[other]["mira"] not in logged  # the other server's linked user: never a view here
        assert not any(mark in logged for mark in _marks(other))

    # Foundry's release API: one dry run and one release per server, each with its own token.
    posts = [r for r in foundry.requests if r.method == "POST"]
    # (A's second release: a dry run, then Foundry's 429.)
    assert len(posts) == 6 and all(r.auth == f"token-of:{PACKAGE}" for r in posts)

    for record in caplog.records:
        message = record.getMessage()
        for spec in SIDES.values():
            assert spec["key"][-12:] not in message and spec["token"][-12:] not in message, record.name


async def test_one_servers_big_refresh_never_slows_anothers_lookups(two_servers):
    """The relay's 300 requests a minute are per key: each server's key has its own pacer."""
    h, bot, tenants, foundry, caplog = two_servers
    for tenant in tenants.values():
        await set_up(h, tenant)
        await h.slash(tenant.gm, tenant.channel, "refresh")
    a = await bot.app.servers.get(tenants["A"].guild.id)
    b = await bot.app.servers.get(tenants["B"].guild.id)
    assert a.relay.pacer is not b.relay.pacer

    a.relay.pacer.drain()  # server A's big refresh has spent its key's minute
    a.relay.pacer.per_second = 0.5
    b_before = b.relay.pacer.waited
    lookup = await h.slash(tenants["B"].gm, tenants["B"].channel, "lookup", name="Harbor", private=True)

    assert SIDES["B"]["text"] in lookup.text
    assert b.relay.pacer.waited == b_before  # B never waited for a token


async def test_each_servers_background_refresh_reads_only_its_own_world(two_servers):
    h, bot, tenants, foundry, caplog = two_servers
    worlds = {"A": "client-alpha", "B": "client-beta"}
    for side, tenant in tenants.items():
        tenant.world = tenant.relay.add_world(worlds[side], f"Second world of {side}", online=True)
        tenant.world.add_user(PLAYER_USER)
        tenant.world.add_entry(f"Only in {worlds[side]}")
        await set_up(h, tenant)
    for tenant in tenants.values():
        server = await bot.app.servers.get(tenant.guild.id)
        server.refresher.interval = 900.0
        assert await server.refresher.run_due() == {tenant.world.client_id: "updated"}
    for side, tenant in tenants.items():
        other = worlds["B" if side == "A" else "A"]
        assert {r.query.get("clientId") for r in tenant.relay.log} <= {worlds[side], None}
        assert other not in repr([r.query for r in tenant.relay.log])
