"""/refresh, /lookup, /push and /world through discord.py's real command tree, against the stand-in relay."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import FOUNDRY_PLAYER, WORLD_ID
from tests.helpers import run_until_button
from tests.stand_ins.codex_rules import sheet_type

DESCRIPTION = (
    "<p>The baron rules from <strong>Castle Vell</strong>. Ally: @UUID[JournalEntry.{ally}]{{Mira Thorn}}.</p>"
    '<section class="secret"><p>He is a vampire.</p></section>'
)


def npc(description: str, **data) -> dict:
    return {
        "campaign-codex": {"type": "npc", "image": None, "data": {"description": description, **data}},
        "other-module": {"keep": True},
    }


async def refresh(env):
    result = await env.h.slash(env.gm, env.channel, "refresh")
    assert not result.errors, result.errors
    return result


@pytest.fixture
async def baron(gm_env):
    """A small world: an NPC with a secret and notes, an ally, a location; the map refreshed."""
    ally = gm_env.world.add_entry("Mira Thorn", flags=npc("<p>A knight.</p>"))
    ally_id = ally.split(".")[1]
    castle = gm_env.world.add_entry("Castle Vell", flags={"campaign-codex": {"type": "location", "data": {}}})
    uuid = gm_env.world.add_entry(
        "Baron Vell",
        flags=npc(DESCRIPTION.format(ally=ally_id), notes="<p>Weak to silver.</p>", linkedLocations=[castle]),
        pages=["Overview"],
    )
    await refresh(gm_env)
    return {"baron": uuid, "ally": ally, "castle": castle}


# --- /lookup ----------------------------------------------------------------------------------


async def test_a_player_sees_the_entry_in_the_channel_without_secrets_or_notes(gm_env, baron):
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Baron Vell")

    assert result.deferred and not result.ephemeral
    [message] = result.messages
    [embed] = message.embeds
    assert embed.title == "Baron Vell"
    assert "**Castle Vell**" in embed.description and "Mira Thorn" in embed.description
    assert "@UUID" not in embed.description
    assert "vampire" not in result.text and "silver" not in result.text
    assert "NPC" in result.text
    assert any("Castle Vell" in f.value for f in embed.fields)  # linked entries shown by name
    assert message.allowed_mentions == {"parse": []}


async def test_a_gm_also_gets_secrets_and_notes_but_only_ephemerally(gm_env, baron):
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "lookup", name="Baron Vell")

    private, public = result.messages  # the GM's own view first (the defer is private), then the channel's
    assert not public.ephemeral and "vampire" not in public.text
    assert private.ephemeral and "vampire" in private.text and "silver" in private.text


async def test_private_lookup_answers_only_the_person_who_asked(gm_env, baron):
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Baron Vell", private=True)
    assert result.ephemeral and all(m.ephemeral for m in result.messages)
    assert "vampire" not in result.text


async def test_an_entry_without_campaign_codex_flags_shows_its_pages(gm_env):
    gm_env.world.add_entry("Session Log", pages=["Session 1", "Session 2"])
    await refresh(gm_env)
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Session Log")
    assert "Session 1" in result.text and "Session 2" in result.text


@pytest.mark.parametrize("settings_overrides", [{"foundry_public_url": "https://vtt.example.com"}])
async def test_a_relative_image_is_made_absolute_with_foundry_public_url(gm_env):
    gm_env.world.add_entry(
        "Map Room", flags={"campaign-codex": {"type": "location", "image": "worlds/x/map room.webp", "data": {}}}
    )
    await refresh(gm_env)
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Map Room")
    [embed] = result.response.embeds
    assert embed.image.url == "https://vtt.example.com/worlds/x/map%20room.webp"


async def test_the_worlds_public_url_is_used_and_without_any_base_there_is_no_image(gm_env):
    gm_env.world.add_entry(
        "Map Room", flags={"campaign-codex": {"type": "location", "image": "worlds/x/map.webp", "data": {}}}
    )
    await refresh(gm_env)
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Map Room")
    assert result.response.embeds[0].image.url is None  # never a broken relative link

    gm_env.world.public_url = "https://foundry.example.org"
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Map Room")
    assert result.response.embeds[0].image.url == "https://foundry.example.org/worlds/x/map.webp"


async def test_an_unknown_name_says_so_with_close_matches(gm_env, baron):
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Baron Vel")
    assert "No entry named “Baron Vel”" in result.text
    assert "Baron Vell" in result.text
    assert not gm_env.relay.requests("/get")  # nothing asked of Foundry


async def test_an_entry_deleted_in_foundry_says_the_map_is_stale(gm_env, baron):
    del gm_env.world.entries[baron["baron"].split(".")[1]]
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Baron Vell")
    assert "stale" in result.text and "/refresh" in result.text


async def test_an_empty_map_asks_for_a_refresh(gm_env):
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "lookup", name="Anything")
    assert "empty" in result.text and "run /refresh" in result.text
    # A player can't run /refresh: they are told who can.
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Anything")
    assert result.text == "The bot doesn't know this world's entries yet: ask the GM to run /refresh."


async def test_autocomplete_offers_best_matches_and_tells_same_names_apart_by_folder(gm_env):
    for n in range(40):
        gm_env.world.add_entry(f"Bandit {n:02d}")
    villains = gm_env.world.add_folder("Villains")
    allies = gm_env.world.add_folder("Allies")
    gm_env.world.add_entry("Bandit", folder=villains)
    gm_env.world.add_entry("Bandit", folder=allies)
    await refresh(gm_env)

    choices = await gm_env.h.autocomplete(gm_env.player, gm_env.channel, "lookup", "name", "band")

    assert len(choices) == 25
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
    first_two = sorted(c["name"] for c in choices[:2])
    assert first_two[0].startswith("Bandit") and "Allies" in first_two[0] and "Villains" in first_two[1]
    assert choices[0]["value"] != choices[1]["value"]


async def test_choosing_a_suggestion_looks_up_that_exact_entry(gm_env):
    villains = gm_env.world.add_folder("Villains")
    allies = gm_env.world.add_folder("Allies")
    gm_env.world.add_entry("Bandit", folder=villains, flags=npc("<p>Bad bandit.</p>"))
    gm_env.world.add_entry("Bandit", folder=allies, flags=npc("<p>Good bandit.</p>"))
    await refresh(gm_env)

    ambiguous = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Bandit")
    assert "2 entries are named" in ambiguous.text

    choices = await gm_env.h.autocomplete(gm_env.player, gm_env.channel, "lookup", "name", "Bandit")
    good = next(c for c in choices if "Allies" in c["name"])
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name=good["value"])
    assert "Good bandit" in result.text


# --- /refresh ---------------------------------------------------------------------------------


async def test_refresh_reports_counts_and_time(gm_env):
    first = gm_env.world.add_entry("First")
    gm_env.world.add_entry("Second")
    result = await refresh(gm_env)
    assert result.ephemeral
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert (fields["Entries"], fields["Added"], fields["Removed"], fields["Renamed"]) == ("2", "2", "0", "0")
    assert fields["Took"].endswith(" s")

    gm_env.world.entries[first.split(".")[1]]["name"] = "First, renamed"
    gm_env.world.add_entry("Third")
    gm_env.world.add_entry("Fourth")
    result = await refresh(gm_env)
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert (fields["Entries"], fields["Added"], fields["Removed"], fields["Renamed"]) == ("4", "2", "0", "1")

    choices = await gm_env.h.autocomplete(gm_env.player, gm_env.channel, "lookup", "name", "First")
    assert [c["name"] for c in choices] == ["First, renamed"]


async def test_a_failed_refresh_keeps_the_previous_map_row_for_row(gm_env, baron):
    before = await gm_env.app.gm.maps.store.entries(WORLD_ID)
    gm_env.world.add_entry("Newcomer")
    gm_env.relay.force("/search", 500, {"error": "Failed to send request to Foundry client"}, times=5)
    gm_env.relay.force("/structure", 500, {"error": "Failed to send request to Foundry client"}, times=5)

    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")

    assert "relay" in result.text.lower()
    assert await gm_env.app.gm.maps.store.entries(WORLD_ID) == before
    lookup = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Baron Vell")
    assert lookup.response.embeds[0].title == "Baron Vell"


async def test_a_second_refresh_while_one_runs_is_told_so(gm_env):
    gm_env.world.add_entry("Only")
    gm_env.relay.add_latency("/search", 0.6)
    gm_env.relay.add_latency("/structure", 0.6)
    first = asyncio.create_task(gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh"))
    while not gm_env.relay.requests("/structure"):  # the first refresh is under way
        await asyncio.sleep(0.01)
    second = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    assert "already running" in second.text
    assert "Name map refreshed" in (await first).text


async def test_refresh_needs_the_gm_role(gm_env):
    result = await gm_env.h.slash(gm_env.player, gm_env.channel, "refresh")
    assert "Only members with the GM role" in result.text and result.ephemeral
    assert not gm_env.relay.requests("/search")


# --- /push ------------------------------------------------------------------------------------


def push_file(obj) -> tuple[str, bytes]:
    return ("codex.json", json.dumps(obj).encode())


async def test_push_previews_then_writes_exactly_the_narrow_diff(gm_env, baron):
    h = gm_env.h
    new = {"type": "npc", "data": {"description": "<p>The baron is dead.</p>"}}
    task, preview_id = await run_until_button(
        h, gm_env.gm, gm_env.channel, "push", name="Baron Vell", data=push_file(new)
    )

    preview = h.fake.messages[preview_id]
    assert "data.description" in json.dumps(preview.payload["embeds"])
    assert not gm_env.relay.requests("/update")  # nothing written before Confirm

    await h.click(gm_env.gm, preview_id, label="Confirm")
    result = await task

    [update] = gm_env.relay.requests("/update")
    # The entry had the npc type but no sheet class (it opened as a plain journal): the push sets it.
    assert update.json == {
        "data": {
            "flags.campaign-codex.data.description": "<p>The baron is dead.</p>",
            "flags.core.sheetClass": "campaign-codex.NPCSheet",
        }
    }
    assert update.query["uuid"] == baron["baron"] and update.query["clientId"] == WORLD_ID
    live = gm_env.world.entry(baron["baron"])
    assert live["flags"]["other-module"] == {"keep": True}  # sibling flags survive
    assert live["flags"]["campaign-codex"]["data"]["notes"] == "<p>Weak to silver.</p>"
    assert "Pushed to Baron Vell" in result.text
    assert h.fake.messages[preview_id].payload.get("components") in (None, [])  # buttons gone


async def test_cancel_and_expiry_send_nothing(gm_env, baron, monkeypatch):
    h = gm_env.h
    change = push_file({"data": {"description": "<p>x</p>"}})
    task, preview_id = await run_until_button(h, gm_env.gm, gm_env.channel, "push", name="Baron Vell", data=change)
    await h.click(gm_env.gm, preview_id, label="Cancel")
    assert "Cancelled; nothing was sent" in (await task).text

    import cogs.utils.confirm as confirm

    monkeypatch.setattr(confirm, "CONFIRM_TIMEOUT", 0.2)
    result = await h.slash(gm_env.gm, gm_env.channel, "push", name="Baron Vell", data=change)
    assert "expired; nothing was sent" in result.text
    assert not gm_env.relay.requests("/update")


async def test_only_the_invoking_gm_can_press_confirm(gm_env, baron):
    h = gm_env.h
    other_gm = h.member(gm_env.guild, "cogm", roles=["GM"])
    task, preview_id = await run_until_button(
        h, gm_env.gm, gm_env.channel, "push", name="Baron Vell", data=push_file({"data": {"description": "<p>x</p>"}})
    )
    # The preview is ephemeral, so the harness lets nobody else see it; press through the same message id
    # as the other GM would if it were public.
    h.fake.messages[preview_id].payload["flags"] = 0
    refused = await h.click(other_gm, preview_id, label="Confirm")
    assert "Only the person who ran this command" in refused.text
    assert not gm_env.relay.requests("/update")
    await h.click(gm_env.gm, preview_id, label="Confirm")
    await task
    assert len(gm_env.relay.requests("/update")) == 1


async def test_pushing_what_is_already_there_sends_nothing(gm_env, baron):
    live = gm_env.world.entry(baron["baron"])["flags"]["campaign-codex"]
    result = await gm_env.h.slash(
        gm_env.gm,
        gm_env.channel,
        "push",
        name="Baron Vell",
        data=push_file({"data": {"description": live["data"]["description"]}}),
    )
    assert "already holds exactly this data; nothing was sent" in result.text
    assert not gm_env.relay.requests("/update")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "object"),
        (json.dumps({"type": "dragon"}).encode(), "dragon"),
        (json.dumps({"type": "npc", "data": {"linkedLocations": "Castle Vell"}}).encode(), "linkedLocations"),
        (b" " * 1_000_001, "over the limit"),
    ],
    ids=["invalid-json", "not-an-object", "unknown-type", "wrong-kind", "over-1-MB"],
)
async def test_a_bad_push_file_is_refused_before_anything_is_sent(gm_env, baron, content, expected):
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "push", name="Baron Vell", data=("codex.json", content))
    assert expected in result.text, result.text
    assert result.ephemeral
    assert not gm_env.relay.requests("/update") and not gm_env.relay.requests("/create")


async def test_push_can_rename_and_the_map_follows(gm_env, baron):
    h = gm_env.h
    task, preview_id = await run_until_button(
        h,
        gm_env.gm,
        gm_env.channel,
        "push",
        name="Baron Vell",
        rename="Baron Vell the Elder",
        data=push_file({"data": {"description": "<p>Older now.</p>"}}),
    )
    await h.click(gm_env.gm, preview_id, label="Confirm")
    await task
    [update] = gm_env.relay.requests("/update")
    assert update.json["data"]["name"] == "Baron Vell the Elder"
    assert "flags" not in update.json["data"] and "_id" not in update.json["data"]
    # Players' names follow once their view's map is rebuilt (autocomplete never waits for that build).
    table = await gm_env.app.gm.viewers.public(WORLD_ID)
    await gm_env.app.gm.visibility.map_for(WORLD_ID, table.user_id)
    choices = await h.autocomplete(gm_env.player, gm_env.channel, "lookup", "name", "Elder")
    assert choices and choices[0]["value"] == baron["baron"]


async def test_push_to_a_new_name_offers_to_create_it(gm_env, baron):
    h = gm_env.h
    task, preview_id = await run_until_button(
        h,
        gm_env.gm,
        gm_env.channel,
        "push",
        name="Old Mill",
        data=push_file({"type": "location", "data": {"description": "<p>Creaky.</p>"}}),
    )
    assert "Create" in json.dumps(h.fake.messages[preview_id].payload["embeds"])
    await h.click(gm_env.gm, preview_id, label="Confirm")
    result = await task

    [create] = gm_env.relay.requests("/create")
    assert create.json["entityType"] == "JournalEntry"
    assert create.json["data"]["name"] == "Old Mill"
    # As Campaign Codex's own "create" buttons write it: the sheet, the type, its defaults; hidden.
    assert create.json["data"]["flags"] == {
        "core": {"sheetClass": "campaign-codex.LocationSheet"},
        "campaign-codex": {
            "type": "location",
            "data": {
                "description": "<p>Creaky.</p>",
                "linkedNPCs": [],
                "linkedScene": None,
                "linkedShops": [],
                "notes": "",
            },
        },
    }
    assert create.json["data"]["ownership"] == {"default": 0}
    assert "Created Old Mill" in result.text
    assert sheet_type(gm_env.world.entry(create_uuid(gm_env))) == "location"  # opens as a Location sheet
    lookup = await h.slash(gm_env.gm, gm_env.channel, "lookup", name="Old Mill")
    assert "Creaky." in lookup.text
    # Created as Foundry does, hidden from players: they are not told it exists.
    hidden = await h.slash(gm_env.player, gm_env.channel, "lookup", name="Old Mill")
    assert "No entry named “Old Mill”" in hidden.text and "Creaky." not in hidden.text


def create_uuid(env) -> str:
    return next(f"JournalEntry.{i}" for i, d in env.world.entries.items() if d["name"] == "Old Mill")


async def test_push_needs_the_gm_role(gm_env, baron):
    result = await gm_env.h.slash(
        gm_env.player, gm_env.channel, "push", name="Baron Vell", data=push_file({"data": {"description": "<p>x</p>"}})
    )
    assert "Only members with the GM role" in result.text
    assert not gm_env.relay.requests("/get")


# --- /world -----------------------------------------------------------------------------------


async def test_with_several_worlds_online_commands_point_to_world_and_world_picks_one(gm_env):
    gm_env.bot.settings.relay_client_id = None
    other = gm_env.relay.add_world("client-two", "Second Campaign", online=True)
    gm_env.relay.add_world("client-off", "Old Campaign", online=False)
    other.add_entry("Only In Two")
    other.add_user(FOUNDRY_PLAYER)

    refused = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    assert "Several Foundry worlds" in refused.text and "/world" in refused.text

    h = gm_env.h
    newest = max(h.fake.messages, default=0)
    task = asyncio.create_task(h.slash(gm_env.gm, gm_env.channel, "world"))
    menu = await h.wait_for(
        lambda: next((m for m in h.fake.messages.values() if m.id > newest and m.payload.get("components")), None)
    )
    assert "Old Campaign" not in json.dumps(menu.payload)  # offline worlds are not offered
    select = menu.payload["components"][0]["components"][0]
    await h.click(gm_env.gm, menu.id, custom_id=select["custom_id"], values=["client-two"])
    assert "Second Campaign" in (await task).text

    await refresh(gm_env)
    assert gm_env.relay.requests("/search")[-1].query["clientId"] == "client-two"
    lookup = await h.slash(gm_env.player, gm_env.channel, "lookup", name="Only In Two")
    assert lookup.response.embeds[0].title == "Only In Two"


async def test_with_no_world_online_the_gm_is_told_foundry_is_not_connected(gm_env):
    gm_env.world.online = False
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "world")
    assert "not connected" in result.text
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    assert "No Foundry world is connected" in result.text
