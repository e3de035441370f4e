"""Hosted mode, one server at a time: any server may add the bot, is told how to set it up, and sets it up from
Discord (/setup, /release token); the relay key and release tokens are never shown again, in any reply or log."""

from __future__ import annotations

import logging

import pytest

from bot import create_bot
from cogs.utils.tree import NOT_SET_UP
from tests.conftest import RELAY_KEY, RELEASE_TOKEN
from tests.harness import DiscordHarness, HarnessError
from tests.harness.driver import CommandNotAvailable
from tests.helpers import run_until_button
from tests.hosted import PLAYER_USER, Tenant, hosted_settings, new_server, relay_for, set_up, setup_relay, store_token

KEY = "relay-key-hosted-3e5b7d9f1a2c"
TOKEN = "fvttp_hosted0a1b2c3d4e5f6a7b"
SCOPES_WITHOUT_WRITES = {"entity:read", "search", "clients:read", "structure:read"}


@pytest.fixture
async def hosted(tmp_path, foundry, caplog):
    caplog.set_level(logging.DEBUG)
    relay = relay_for(KEY)
    async with relay:
        world = relay.add_world("client-main", "Ashes of the Valley", online=True)
        world.add_user(PLAYER_USER)
        foundry.add_package("my-module", TOKEN)  # this server's own token for the package
        settings = hosted_settings(tmp_path, foundry)
        bot = create_bot(settings)
        async with DiscordHarness(bot, token=settings.discord_token.get_secret_value()) as h:
            tenant = new_server(h, Tenant("Campaign", relay, KEY, world))
            h.foundry = foundry
            yield h, bot, tenant
            _assert_never_shown(h, caplog, (KEY, TOKEN))


def _assert_never_shown(h, caplog, secrets) -> None:
    fragments = {piece for secret in secrets for piece in (secret, secret[-12:], secret[6:18])}
    for request in h.fake.requests:
        text = f"{request.path} {request.query} {request.json} {request.raw_body[:100_000]!r}"
        assert not any(f in text for f in fragments), f"a secret reached Discord: {request.method} {request.path}"
    for record in caplog.records:
        assert not any(f in record.getMessage() for f in fragments), f"a secret reached the log: {record.name}"


async def test_a_server_that_has_not_set_up_gets_one_line_and_stays(hosted):
    h, bot, tenant = hosted
    lookup = await h.slash(tenant.gm, tenant.channel, "lookup", name="Harbor")
    choices = await h.autocomplete(tenant.gm, tenant.channel, "lookup", "name", "Ha")
    status = await h.slash(tenant.admin, tenant.channel, "status")

    assert lookup.ephemeral and lookup.text == NOT_SET_UP
    assert status.text == NOT_SET_UP
    assert choices == []
    assert "/setup" in (await h.slash(tenant.player, tenant.channel, "help")).text
    assert tenant.guild.id not in h.fake.left_guilds
    assert tenant.relay.log == []  # nothing reaches any relay before the server has one


async def test_setup_relay_checks_the_key_at_once_names_missing_scopes_and_never_shows_it(hosted):
    h, bot, tenant = hosted
    tenant.relay.keys[KEY] = set(SCOPES_WITHOUT_WRITES)
    tenant.world.add_entry("Harbor")
    before = {uuid: dict(doc) for uuid, doc in tenant.world.entries.items()}

    reply = await setup_relay(h, tenant)

    assert reply.ephemeral
    assert "Relay set, with scopes missing" in reply.text
    assert "`entity:write`: /push, /reveal, /hide" in reply.text
    assert "`file:read`: entry images" in reply.text
    assert "/lookup, /players" in reply.text.split("What works")[1]
    assert "Ashes of the Valley" in reply.text  # the worlds the key sees
    # Every scope was tried with a request naming no world (the relay checks the scope before it picks one),
    # each of something that does not exist: nothing changed in the world.
    probes = [r for r in tenant.relay.log if r.path not in ("/api/status", "/clients")]
    assert {r.path for r in probes} == {"/get", "/get-folder", "/search", "/update", "/download"}
    assert all("clientId" not in r.query for r in probes)
    assert tenant.world.entries == before

    shown = await h.slash(tenant.admin, tenant.channel, "setup show")
    assert "sealed, set on <t:" in shown.text and f"by <@{tenant.admin.id}>" in shown.text
    assert tenant.relay.base_url in shown.text


async def test_a_key_the_relay_refuses_saves_nothing(hosted):
    h, bot, tenant = hosted
    reply = await setup_relay(h, tenant, key="not-the-key-0000")

    assert "The relay refused this API key (HTTP 401)" in reply.text and "Nothing was saved." in reply.text
    assert (await h.slash(tenant.gm, tenant.channel, "lookup", name="Harbor")).text == NOT_SET_UP
    assert "Relay key\nnot set" in (await h.slash(tenant.admin, tenant.channel, "setup show")).text


async def test_a_relay_at_an_internal_address_is_refused_before_any_request(hosted, tmp_path, foundry):
    h, bot, tenant = hosted
    bot.app.shared.policy.allow_private = False  # a real hosted bot: the stand-in's 127.0.0.1 is internal

    reply = await setup_relay(h, tenant)
    by_name = await setup_relay(h, tenant, url=tenant.relay.base_url.replace("127.0.0.1", "localhost"))

    assert "internal address" in reply.text and "Nothing was saved." in reply.text
    assert "Nothing was saved." in by_name.text  # a name resolving to 127.0.0.1: refused as it resolves
    assert tenant.relay.log == []


async def test_only_members_who_may_manage_the_server_are_offered_setup(hosted):
    h, bot, tenant = hosted
    with pytest.raises(CommandNotAvailable):
        await h.slash(tenant.gm, tenant.channel, "setup relay")


async def test_a_set_up_server_serves_its_gm_and_its_players_with_its_own_settings(hosted):
    h, bot, tenant = hosted
    tenant.world.add_entry("Harbor", ownership={"default": 2})
    tenant.world.add_entry("Vault of Ash", ownership={"default": 0})  # the GM's alone

    await set_up(h, tenant)
    refresh = await h.slash(tenant.gm, tenant.channel, "refresh")
    gm_choices = await h.autocomplete(tenant.gm, tenant.channel, "lookup", "name", "")
    player_choices = await h.autocomplete(tenant.player, tenant.channel, "lookup", "name", "")
    player_lookup = await h.slash(tenant.player, tenant.channel, "lookup", name="Vault of Ash")
    refused = await h.slash(tenant.player, tenant.channel, "refresh")

    assert "Name map refreshed" in refresh.text, refresh.text
    assert {c["name"] for c in gm_choices} == {"Harbor", "Vault of Ash"}
    assert {c["name"] for c in player_choices} == {"Harbor"}
    assert player_lookup.text.startswith("No entry named")  # as if it did not exist
    assert "Only members with the" in refused.text  # the GM role is the one /setup roles named


async def test_setup_show_names_every_setting_and_who_set_it_never_a_secret(hosted):
    h, bot, tenant = hosted
    await set_up(h, tenant)
    await store_token(h, tenant, "my-module", TOKEN)
    shown = await h.slash(tenant.admin, tenant.channel, "setup show")

    for line in (
        "Ashes of the Valley (`client-main`)",
        f"<@&{tenant.guild.role('GM').id}>",
        f"<@&{tenant.guild.role('Maintainer').id}>",
        f"{PLAYER_USER} (set on <t:",
        f"<#{tenant.announce.id}>",
        "1 package(s)",
    ):
        assert line in shown.text, (line, shown.text)


async def test_release_tokens_are_stored_listed_used_and_removed_never_shown(hosted):
    h, bot, tenant = hosted
    await set_up(h, tenant)
    other_dev = h.member(tenant.guild, "other-dev", roles=["Maintainer"])
    manifest = h.foundry.serve_manifest(
        "manifests/my-module/v1.1.0/module.json",
        {
            "id": "my-module",
            "title": "My Module",
            "version": "1.1.0",
            "compatibility": {"minimum": "12", "verified": "13"},
        },
    )

    stored = await store_token(h, tenant, "my-module", TOKEN)
    listed = await h.slash(other_dev, tenant.channel, "release token list")
    dry_run = await h.slash(
        tenant.maintainer,
        tenant.channel,
        "release dry-run",
        package="my-module",
        manifest=manifest,
    )
    not_theirs = await h.slash(other_dev, tenant.channel, "release token remove", package="my-module")
    removed = await h.slash(tenant.maintainer, tenant.channel, "release token remove", package="my-module")
    after = await h.slash(tenant.maintainer, tenant.channel, "release token list")

    assert "Release token stored" in stored.text
    assert "**my-module**: set on <t:" in listed.text and f"<@{tenant.maintainer.id}>" in listed.text
    assert "not ready" not in dry_run.text and "No release token" not in dry_run.text, dry_run.text
    assert [r.auth for r in h.foundry.requests if r.method == "POST"] == ["token-of:my-module"]
    assert "only they, or a member with Manage Server" in not_theirs.text
    assert "Release token removed" in removed.text
    assert "No release token is stored" in after.text


async def test_a_token_that_is_not_a_release_token_is_refused(hosted):
    h, bot, tenant = hosted
    await set_up(h, tenant)
    reply = await store_token(h, tenant, "my-module", "Bearer fvttp_abcdef0123456789")
    assert "Bearer" in reply.text and "Nothing was saved." in reply.text
    assert "No release token is stored" in (await h.slash(tenant.maintainer, tenant.channel, "release token list")).text


async def test_setup_clear_forgets_everything_after_confirm(hosted):
    h, bot, tenant = hosted
    await set_up(h, tenant)
    await store_token(h, tenant, "my-module", TOKEN)

    task, message = await run_until_button(h, tenant.admin, tenant.channel, "setup clear")
    await h.click(tenant.admin, message, label="Confirm")
    cleared = await task

    assert "Setup cleared" in cleared.text
    assert (await h.slash(tenant.gm, tenant.channel, "lookup", name="Harbor")).text == NOT_SET_UP


async def test_without_hosted_there_is_no_setup(gm_env):
    with pytest.raises(HarnessError, match="not a synced slash command"):
        await gm_env.h.slash(gm_env.gm, gm_env.channel, "setup show")


async def test_the_operators_listed_server_keeps_env_and_no_other_server_sees_it(tmp_path, foundry, relay):
    """HOSTED on a bot that already served its own campaign: the listed server keeps .env's relay, world and tokens;
    another server that set only its roles gets none of them, and is told how to set its own."""
    world = relay.add_world("client-main", "Operator's campaign", online=True)
    world.add_entry("Operator secret place")
    settings = hosted_settings(
        tmp_path,
        foundry,
        relay_url=relay.base_url,
        relay_api_key=RELAY_KEY,
        relay_client_id="client-main",
        release_tokens={"my-module": RELEASE_TOKEN},
        maintainer_role="Maintainer",
    )
    bot = create_bot(settings)
    async with DiscordHarness(bot, token=settings.discord_token.get_secret_value()) as h:
        listed = new_server(h, Tenant("Operator", relay, RELAY_KEY, world))
        other = new_server(h, Tenant("Stranger", relay, RELAY_KEY, world))
        bot.settings.discord_guild_id = (listed.guild.id,)
        roles = await h.slash(
            other.admin,
            other.channel,
            "setup roles",
            gm=other.guild.role("GM"),
            maintainer=other.guild.role("Maintainer"),
        )
        assert "Roles set" in roles.text

        own = await h.slash(listed.gm, listed.channel, "refresh")
        before = len(relay.log)
        theirs = await h.slash(other.gm, other.channel, "lookup", name="Operator secret place")
        names = await h.autocomplete(other.gm, other.channel, "lookup", "name", "Oper")
        release = await h.slash(
            other.maintainer,
            other.channel,
            "release dry-run",
            package="my-module",
            manifest="https://example.invalid/m.json",
        )

        assert "Name map refreshed" in own.text
        assert theirs.text == "This server's relay is not set up: a member with Manage Server runs /setup relay."
        assert names == []
        assert "No release token is configured for my-module: a maintainer stores it with /release token set" in (
            release.text
        )
        assert len(relay.log) == before  # nothing of the stranger's reached the operator's relay
