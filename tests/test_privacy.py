"""Players see exactly what Foundry lets them see: players, linked players and GMs through the command tree.

The world holds entries shared with everyone, hidden from players, LIMITED (title only), shared with one
Foundry user, and pages hidden inside a shared entry. Every Discord request the bot makes while serving a
non-GM (messages, edits, autocomplete answers) and every log line is scanned for the hidden words.
"""

from __future__ import annotations

import pytest

from tests.conftest import WORLD_ID
from tests.helpers import no_leak

HIDDEN_WORDS = ("Vault of Ash", "Sorrowmere", "Hidden Plot", "Rumour text", "Letter to Ana", "inkwell")


def npc(description: str, **data) -> dict:
    return {"campaign-codex": {"type": "npc", "image": None, "data": {"description": description, **data}}}


@pytest.fixture
async def secrets(gm_env):
    world = gm_env.world
    ana = world.add_user("Ana")
    vault = world.add_entry("Vault of Ash", flags=npc("<p>Lich Sorrowmere sleeps here.</p>"), ownership={"default": 0})
    letter = world.add_entry(
        "Letter to Ana", flags=npc("<p>Written in green inkwell.</p>"), ownership={"default": 0, ana: 2}
    )
    rumour = world.add_entry(
        "Rumour Mill",
        flags=npc("<p>Rumour text nobody may read.</p>"),
        img="worlds/x/rumour.webp",
        ownership={"default": 1},
    )
    harbor = world.add_entry(
        "Harbor",
        flags=npc(f"<p>Salt air. See @UUID[{vault}].</p>", associates=[vault, letter], linkedLocations=[rumour]),
    )
    log = world.add_entry(
        "Session Log",
        pages=["Session 1", {"_id": "pageHidden000001", "name": "Hidden Plot", "ownership": {"default": 0}}],
    )
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    assert "Name map refreshed" in result.text, result.text
    gm_env.extra.update(ana=ana, vault=vault, letter=letter, rumour=rumour, harbor=harbor, log=log)
    return gm_env


async def link_to_ana(env, member):
    result = await env.h.slash(env.gm, env.channel, "players link", member=member, user="Ana")
    assert "Player linked" in result.text, result.text


# --- a player seeing as FOUNDRY_PLAYER ----------------------------------------------------------------


async def test_a_hidden_entry_is_no_entry_at_all_for_a_player(secrets):
    env = secrets
    with no_leak(env, [w for w in HIDDEN_WORDS if w != "Vault of Ash"], "hidden lookup"):
        result = await env.h.slash(env.player, env.channel, "lookup", name="Vault of Ash")
        near = await env.h.slash(env.player, env.channel, "lookup", name="Vault of As")
    assert "No entry named “Vault of Ash”" in result.text  # only the typed words come back
    assert "Vault of Ash" not in near.text.replace("Vault of As”", "")  # no "did you mean" to a hidden entry
    assert all(r.query.get("userId") for r in env.relay.requests("/get"))  # asked as the player, if at all


async def test_autocomplete_and_did_you_mean_offer_only_what_the_player_may_see(secrets):
    env = secrets
    with no_leak(env, HIDDEN_WORDS, what="player autocomplete"):
        everything = await env.h.autocomplete(env.player, env.channel, "lookup", "name", "")
        typed = await env.h.autocomplete(env.player, env.channel, "lookup", "name", "Va")
        near = await env.h.slash(env.player, env.channel, "lookup", name="Ruomur Mil")
    assert {c["name"] for c in everything} == {"Harbor", "Rumour Mill", "Session Log"}
    assert typed == [] or all("Vault" not in c["name"] for c in typed)
    assert "Rumour Mill" in near.text  # a LIMITED entry's title is the player's to know
    gm_sees = await env.h.autocomplete(env.gm, env.channel, "lookup", "name", "Va")
    assert [c["name"] for c in gm_sees] == ["Vault of Ash"]


async def test_a_shared_entry_shows_no_hidden_link_nor_hidden_page(secrets):
    env = secrets
    with no_leak(env, HIDDEN_WORDS, what="shared entry"):
        harbor = await env.h.slash(env.player, env.channel, "lookup", name="Harbor")
        log = await env.h.slash(env.player, env.channel, "lookup", name="Session Log")
    assert "Salt air." in harbor.text and "Rumour Mill" in harbor.text  # the LIMITED link keeps its name
    assert "Session 1" in log.text
    [get] = [r for r in env.relay.requests("/get") if r.query["uuid"] == env.extra["log"]]
    assert get.query["userId"]  # Foundry itself enforces the entry's permission


async def test_a_limited_entry_shows_only_its_title_and_image(secrets):
    env = secrets
    env.world.public_url = "https://vtt.example.org"
    with no_leak(env, HIDDEN_WORDS, what="limited entry"):
        result = await env.h.slash(env.player, env.channel, "lookup", name="Rumour Mill")
    [embed] = result.response.embeds
    assert embed.title == "Rumour Mill" and "shared only this entry's title" in embed.description
    assert embed.image.url == "https://vtt.example.org/worlds/x/rumour.webp"


async def test_an_entry_hidden_after_the_refresh_is_no_entry_for_the_player(secrets):
    env = secrets
    env.world.entry(env.extra["harbor"])["ownership"] = {"default": 0}  # the GM hides it again in Foundry
    with no_leak(env, ["Salt air"], "hidden since refresh"):
        result = await env.h.slash(env.player, env.channel, "lookup", name="Harbor")
    assert "No entry named “Harbor”" in result.text


@pytest.mark.parametrize("settings_overrides", [{"foundry_player": None}])
async def test_without_foundry_player_an_unlinked_member_gets_one_line_and_no_content(secrets):
    env = secrets
    with no_leak(env, HIDDEN_WORDS + ("Salt air",), "no player view"):
        result = await env.h.slash(env.player, env.channel, "lookup", name="Harbor")
        choices = await env.h.autocomplete(env.player, env.channel, "lookup", "name", "")
    assert result.ephemeral and "has not set up player lookups" in result.text
    assert choices == []
    assert not [r for r in env.relay.requests("/get") if r.query.get("userId")]


# --- linked players -----------------------------------------------------------------------------------


async def test_a_linked_player_sees_what_their_foundry_user_may_see_and_no_one_else_does(secrets):
    env = secrets
    ana_member = env.h.member(env.guild, "ana", roles=["Player"])
    await link_to_ana(env, ana_member)
    with no_leak(env, ["Vault of Ash", "Sorrowmere", "Hidden Plot", "Rumour text"], "linked player"):
        letter = await env.h.slash(ana_member, env.channel, "lookup", name="Letter to Ana")
        choices = await env.h.autocomplete(ana_member, env.channel, "lookup", "name", "Let")
    assert "green inkwell" in letter.text
    assert [c["name"] for c in choices] == ["Letter to Ana"]
    assert [r.query["userId"] for r in env.relay.requests("/get")][-1] == env.extra["ana"]
    typed_back = [w for w in HIDDEN_WORDS if w != "Letter to Ana"]  # the asker's own words may come back
    with no_leak(env, typed_back, "the other player"):
        other = await env.h.slash(env.player, env.channel, "lookup", name="Letter to Ana")
    assert "No entry named" in other.text

    unlinked = await env.h.slash(env.gm, env.channel, "players unlink", member=ana_member)
    assert "Player unlinked" in unlinked.text
    with no_leak(env, typed_back, "unlinked player"):
        again = await env.h.slash(ana_member, env.channel, "lookup", name="Letter to Ana")
    assert "No entry named" in again.text


async def test_players_lists_foundry_users_and_links_for_gms_only(secrets):
    env = secrets
    ana_member = env.h.member(env.guild, "ana", roles=["Player"])
    await link_to_ana(env, ana_member)
    listed = await env.h.slash(env.gm, env.channel, "players list")
    assert listed.ephemeral and "Ana" in listed.text and "Gamemaster" in listed.text and "Table" in listed.text
    assert f"<@{ana_member.id}>" in listed.text
    refused = await env.h.slash(env.player, env.channel, "players list")
    assert "Only members with the GM role" in refused.text and "Ana" not in refused.text


async def test_a_member_cannot_link_themselves_nor_anyone_to_a_gm_user(secrets):
    env = secrets
    player_tries = await env.h.slash(env.player, env.channel, "players link", member=env.player, user="Ana")
    assert "Only members with the GM role" in player_tries.text
    gm_self = await env.h.slash(env.gm, env.channel, "players link", member=env.gm, user="Ana")
    assert "can't link yourself" in gm_self.text
    to_gm = await env.h.slash(env.gm, env.channel, "players link", member=env.player, user="Gamemaster")
    assert "is a GM user" in to_gm.text
    unknown = await env.h.slash(env.gm, env.channel, "players link", member=env.player, user="Nobody")
    assert "no Foundry user" in unknown.text
    assert await env.app.gm.viewers.links.for_guild(env.guild.id, WORLD_ID) == []


# --- GMs -------------------------------------------------------------------------------------------


async def test_a_gms_public_lookup_of_a_hidden_entry_posts_nothing_to_the_channel(secrets):
    env = secrets
    result = await env.h.slash(env.gm, env.channel, "lookup", name="Vault of Ash")
    assert result.messages and all(m.ephemeral for m in result.messages)
    assert "Sorrowmere" in result.text and "nothing was posted to the channel" in result.text
    assert not env.h.messages_in(env.channel)


async def test_a_gms_public_lookup_posts_only_the_players_view(secrets):
    env = secrets
    result = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    public = [m for m in result.messages if not m.ephemeral]
    private = [m for m in result.messages if m.ephemeral]
    assert len(public) == 1 and "Salt air." in public[0].text
    for word in HIDDEN_WORDS:
        assert word not in public[0].text
    assert any("Vault of Ash" in m.text for m in private)  # the GM's own view names every link


@pytest.mark.parametrize("settings_overrides", [{"foundry_player": "Gamemaster"}])
async def test_foundry_player_naming_a_gm_user_is_ignored_fail_closed(secrets):
    env = secrets
    result = await env.h.slash(env.player, env.channel, "lookup", name="Vault of Ash")
    assert "Sorrowmere" not in result.text
    status = await env.h.slash(env.gm, env.channel, "status")
    assert "names a GM user" in status.text


async def test_after_a_restart_player_autocomplete_comes_back_without_any_command(secrets):
    env = secrets
    viewers = env.app.gm.viewers
    viewers._users.clear()  # as after a restart: the world's users are not known yet
    with no_leak(env, HIDDEN_WORDS, what="autocomplete after restart"):
        first = await env.h.autocomplete(env.player, env.channel, "lookup", "name", "Har")
        assert first == []  # nothing proven about this player's view yet: fail closed
        await env.h.wait_for(lambda: WORLD_ID in viewers._users, what="the users to be read in the background")
        again = await env.h.autocomplete(env.player, env.channel, "lookup", "name", "Har")
    assert [c["name"] for c in again] == ["Harbor"]


async def test_a_linked_user_made_gm_in_foundry_serves_no_view_after_the_next_refresh(secrets):
    env = secrets
    ana_member = env.h.member(env.guild, "ana", roles=["Player"])
    await link_to_ana(env, ana_member)
    env.world.users[env.extra["ana"]]["role"] = 4  # promoted in Foundry: as "Ana" the module shows everything
    await env.h.slash(env.gm, env.channel, "refresh")
    with no_leak(env, [w for w in HIDDEN_WORDS if w != "Vault of Ash"], "promoted link"):
        result = await env.h.slash(ana_member, env.channel, "lookup", name="Vault of Ash")
        choices = await env.h.autocomplete(ana_member, env.channel, "lookup", "name", "")
    assert "No entry named" in result.text and choices == []


async def test_a_view_the_refresh_could_not_learn_shows_the_player_nothing(secrets):
    from relay import RelayTimeout

    env = secrets
    relay = env.app.relay
    real = relay.structure_reply

    async def failing_for_players(**kwargs):
        if kwargs.get("user_id"):
            raise RelayTimeout(seconds=1)
        return await real(**kwargs)

    relay.structure_reply = failing_for_players
    refreshed = await env.h.slash(env.gm, env.channel, "refresh")
    assert "Player views not updated" in refreshed.text
    with no_leak(env, ["Salt air"], "unlearnt view"):
        result = await env.h.slash(env.player, env.channel, "lookup", name="Harbor")
        choices = await env.h.autocomplete(env.player, env.channel, "lookup", "name", "")
    # Fail closed: the view is read again for the lookup, fails again, and the player is told so; no content.
    assert "didn't answer" in result.text and "Salt air" not in result.text and choices == []


async def test_player_autocomplete_never_waits_for_a_name_map_being_built(gm_env, monkeypatch):
    """Autocomplete has 3 s and cannot defer: while a player's new name map builds (behind a refresh in the
    worker), they get the view's previous names at once, never a name hidden from them."""
    import asyncio

    from services.players import visibility as visibility_module

    gm_env.world.add_entry("Harbor", ownership={"default": 2})
    await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    first = await gm_env.h.autocomplete(gm_env.player, gm_env.channel, "lookup", "name", "")
    assert [c["name"] for c in first] == ["Harbor"]

    gate, real = asyncio.Event(), visibility_module.build_off_loop

    async def held(entries):
        await gate.wait()
        return await real(entries)

    monkeypatch.setattr(visibility_module, "build_off_loop", held)
    monkeypatch.setattr(visibility_module, "AUTOCOMPLETE_WAIT", 0)
    gm_env.world.add_entry("Cult Lair", ownership={"default": 0})  # the GM's map changes, the player's view not
    await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")

    during = await gm_env.h.autocomplete(gm_env.player, gm_env.channel, "lookup", "name", "")
    assert [c["name"] for c in during] == ["Harbor"]
    gate.set()


# --- names hidden since the last refresh -------------------------------------------------------------


def later(env, seconds: float) -> None:
    """Move the clock player views are dated by (no refresh runs: REFRESH_INTERVAL=0 in these tests)."""
    visibility = env.app.gm.visibility
    now = visibility.clock
    visibility.clock = lambda: now() + seconds


async def test_an_entry_hidden_since_the_last_refresh_is_named_nowhere_once_its_view_is_a_minute_old(secrets):
    from services.players.visibility import VIEW_MAX_AGE

    env = secrets
    env.world.entry(env.extra["rumour"])["ownership"] = {"default": 0}  # hidden in Foundry; no /refresh follows
    later(env, VIEW_MAX_AGE + 1)
    structures = len(env.relay.requests("/structure"))
    with no_leak(env, ("Rumour Mill", "Rumour text"), "hidden since the refresh"):
        choices = await env.h.autocomplete(env.player, env.channel, "lookup", "name", "")
        near = await env.h.slash(env.player, env.channel, "lookup", name="Ruomur Mil")
        harbor = await env.h.slash(env.player, env.channel, "lookup", name="Harbor")
    assert {c["name"] for c in choices} == {"Harbor", "Session Log"}
    assert "No entry named" in near.text and "Salt air." in harbor.text
    assert len(env.relay.requests("/structure")) == structures + 1  # the view was read once, for all of them
    gm = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    assert "Salt air." in posted(gm) and "Rumour Mill" not in posted(gm)


# --- the channel rule ---------------------------------------------------------------------------------


def posted(result) -> str:
    return "\n".join(m.text for m in result.messages if not m.ephemeral and not m.deleted)


async def test_a_linked_players_personal_entry_goes_to_them_privately_never_to_the_channel(secrets):
    env = secrets
    ana_member = env.h.member(env.guild, "ana", roles=["Player"])
    await link_to_ana(env, ana_member)
    result = await env.h.slash(ana_member, env.channel, "lookup", name="Letter to Ana")
    assert "green inkwell" in result.text  # Ana reads her own entry…
    assert "inkwell" not in posted(result) and "Letter to Ana" not in posted(result)  # …and the channel does not
    private = [m for m in result.messages if m.ephemeral]
    assert private and "so nothing was posted to the channel; this is for you alone" in private[-1].text


async def test_what_only_one_linked_player_may_see_of_a_shared_entry_stays_theirs(secrets):
    env = secrets
    ana = env.extra["ana"]
    env.world.entry(env.extra["harbor"])["pages"] = [
        {"_id": "pageAll000000001", "name": "Docks", "ownership": {"default": -1}},
        {"_id": "pageAna000000001", "name": "Ana's Map", "ownership": {"default": 0, ana: 2}},
    ]
    env.world.entry(env.extra["harbor"])["flags"] = {}  # a plain journal: its pages are what it shows
    ana_member = env.h.member(env.guild, "ana", roles=["Player"])
    await link_to_ana(env, ana_member)
    result = await env.h.slash(ana_member, env.channel, "lookup", name="Harbor")
    assert "Docks" in posted(result) and "Ana's Map" not in posted(result)
    [own] = [m for m in result.messages if m.ephemeral]
    assert "Ana's Map" in own.text and "You see more of this entry than every player here may" in own.text

    gm = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    assert "Docks" in posted(gm) and "Ana's Map" not in posted(gm)


async def test_a_gms_post_holds_nothing_a_linked_player_of_the_server_is_denied(secrets):
    env = secrets
    ana = env.extra["ana"]
    denied = env.world.add_entry("Ana's Nightmare", flags=npc("<p>Dread words.</p>"), ownership={"default": 2, ana: 0})
    env.world.entry(env.extra["harbor"])["flags"]["campaign-codex"]["data"]["associates"] = [denied]
    await env.h.slash(env.gm, env.channel, "refresh")
    ana_member = env.h.member(env.guild, "ana", roles=["Player"])
    before = await env.h.slash(env.gm, env.channel, "lookup", name="Ana's Nightmare")
    assert "Dread words." in posted(before)  # nobody here is denied it yet
    await link_to_ana(env, ana_member)

    nightmare = await env.h.slash(env.gm, env.channel, "lookup", name="Ana's Nightmare")
    harbor = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    table = await env.h.slash(env.player, env.channel, "lookup", name="Ana's Nightmare")
    assert posted(nightmare) == "" and "Not every player here may see this entry" in nightmare.text
    assert "Salt air." in posted(harbor) and "Ana's Nightmare" not in posted(harbor)  # nor its name as a link
    assert "Dread words." not in posted(table)  # Table may read it, but Ana reads the channel too
    assert "Dread words." in table.text  # privately, to the member who may


async def test_a_reveal_posts_nothing_when_a_linked_player_of_the_server_is_still_denied(secrets):
    from tests.helpers import run_until_button

    env = secrets
    ana = env.extra["ana"]
    grudge = env.world.add_entry("Old Grudge", flags=npc("<p>Grudge words.</p>"), ownership={"default": 0, ana: 0})
    await env.h.slash(env.gm, env.channel, "refresh")
    ana_member = env.h.member(env.guild, "ana", roles=["Player"])
    await link_to_ana(env, ana_member)
    task, preview = await run_until_button(env.h, env.gm, env.channel, "reveal", name="Old Grudge")
    await env.h.click(env.gm, preview, label="Confirm")
    done = await task
    assert env.world.entry(grudge)["ownership"]["default"] == 2  # revealed to the players…
    assert "Not posted in the channel: not every player here may see this entry" in done.text
    assert env.h.messages_in(env.channel) == []  # …but Ana, who reads this channel, is still denied it
