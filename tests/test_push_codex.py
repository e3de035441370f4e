"""/push writing Campaign Codex the way its own sheets do, and /reveal, /hide — through the real command tree."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.helpers import pending_with_button, run_until_button
from tests.stand_ins.codex_rules import sheet_type


def codex(codex_type: str, sheet: bool = True, **data) -> dict:
    flags = {"campaign-codex": {"type": codex_type, "data": data}}
    if sheet:
        flags["core"] = {"sheetClass": f"campaign-codex.{ {'npc': 'NPC'}.get(codex_type, codex_type.title()) }Sheet"}
    return flags


def push_file(obj: dict) -> tuple[str, bytes]:
    return ("push.json", json.dumps(obj).encode())


def data_of(env, uuid: str) -> dict:
    return env.world.entry(uuid)["flags"]["campaign-codex"]["data"]


def embeds(env, message_id: int) -> str:
    return json.dumps(env.h.fake.messages[message_id].payload["embeds"], ensure_ascii=False)


async def refresh(env):
    result = await env.h.slash(env.gm, env.channel, "refresh")
    assert not result.errors, result.errors


async def push(env, name: str, obj: dict, who=None):
    """Run /push to its preview; returns (task, preview message id)."""
    return await run_until_button(env.h, who or env.gm, env.channel, "push", name=name, data=push_file(obj))


async def confirm(env, preview_id: int, who=None):
    await env.h.click(who or env.gm, preview_id, label="Confirm")


@pytest.fixture
async def town(gm_env):
    w = gm_env.world
    ids = {}
    ids["mira"] = w.add_entry("Mira Thorn", flags=codex("npc", associates=[], linkedLocations=[]))
    ids["old"] = w.add_entry("Old Quarter", flags=codex("location", linkedShops=[]))
    ids["inn"] = w.add_entry("Gilded Inn", flags=codex("shop", linkedLocation=None, linkedNPCs=[]))
    # Hidden from players, as Foundry creates journals.
    ids["harbor"] = w.add_entry(
        "Harbor", flags=codex("location", linkedNPCs=[], linkedShops=[]), ownership={"default": 0}
    )
    # The inn sits in the Old Quarter, both sides linked.
    data_of(gm_env, ids["old"])["linkedShops"] = [ids["inn"]]
    data_of(gm_env, ids["inn"])["linkedLocation"] = ids["old"]
    await refresh(gm_env)
    return ids


# --- two-way links -------------------------------------------------------------------------------


async def test_a_pushed_link_is_written_on_both_sides_and_previewed_by_name(gm_env, town):
    task, preview = await push(gm_env, "Harbor", {"data": {"linkedNPCs": [town["mira"]]}})
    shown = embeds(gm_env, preview)
    assert "Mira Thorn" in shown and "Linked entries that will change" in shown
    assert "JournalEntry." not in shown  # names, never bare uuids
    assert "Hidden from players" in shown
    await confirm(gm_env, preview)
    result = await task
    assert data_of(gm_env, town["harbor"])["linkedNPCs"] == [town["mira"]]
    assert data_of(gm_env, town["mira"])["linkedLocations"] == [town["harbor"]]
    assert "Linked entries updated" in result.text and "Mira Thorn" in result.text
    # One by one: the pushed entry first, then the other side, each a narrow write.
    updates = gm_env.relay.requests("/update")
    assert [u.query["uuid"] for u in updates] == [town["harbor"], town["mira"]]
    assert updates[1].json == {"data": {"flags.campaign-codex.data.linkedLocations": [town["harbor"]]}}


async def test_a_shop_moved_to_another_location_leaves_its_old_locations_list(gm_env, town):
    task, preview = await push(gm_env, "Harbor", {"data": {"linkedShops": [town["inn"]]}})
    shown = embeds(gm_env, preview)
    assert "Gilded Inn" in shown and "Old Quarter" in shown
    await confirm(gm_env, preview)
    result = await task
    assert data_of(gm_env, town["inn"])["linkedLocation"] == town["harbor"]
    assert data_of(gm_env, town["old"])["linkedShops"] == []
    assert "Old Quarter" in result.text and "Gilded Inn" in result.text


async def test_removing_a_link_removes_the_other_side(gm_env, town):
    task, preview = await push(gm_env, "Old Quarter", {"data": {"linkedShops": []}})
    await confirm(gm_env, preview)
    await task
    assert data_of(gm_env, town["inn"])["linkedLocation"] is None


async def test_a_failing_second_write_names_what_was_and_was_not_written(gm_env, town):
    gm_env.relay.fail_after("/update", passed=1)
    task, preview = await push(gm_env, "Harbor", {"data": {"linkedShops": [town["inn"]]}})
    await confirm(gm_env, preview)
    result = await task
    assert "Partly written" in result.text
    written = result.text.split("Written")[1]
    assert "Harbor" in written.split("Failed")[0]
    assert "Not written" in result.text
    assert data_of(gm_env, town["harbor"])["linkedShops"] == [town["inn"]]  # the first write stands
    # Pushing again finishes the job: only what is still missing is written.
    before = len(gm_env.relay.requests("/update"))
    task, preview = await push(gm_env, "Harbor", {"data": {"linkedShops": [town["inn"]]}})
    await confirm(gm_env, preview)
    await task
    assert data_of(gm_env, town["inn"])["linkedLocation"] == town["harbor"]
    assert data_of(gm_env, town["old"])["linkedShops"] == []
    assert town["harbor"] not in [u.query["uuid"] for u in gm_env.relay.requests("/update")[before:]]


async def test_concurrent_pushes_to_linked_entries_never_leave_a_one_sided_link(gm_env, town):
    second_gm = gm_env.h.member(gm_env.guild, "cogm", roles=["GM"])
    first, first_preview = await push(gm_env, "Harbor", {"data": {"linkedNPCs": [town["mira"]]}})
    second, second_preview = await push(
        gm_env, "Mira Thorn", {"data": {"linkedLocations": [town["old"]]}}, who=second_gm
    )
    newest = max(gm_env.h.fake.messages)
    await asyncio.gather(confirm(gm_env, first_preview), confirm(gm_env, second_preview, second_gm))
    # Whichever wrote second found Mira changed since its preview: a fresh preview, not a blind write.
    fresh = await gm_env.h.wait_for(lambda: pending_with_button(gm_env.h, "Confirm", newest))
    assert "Changed in Foundry since the preview" in embeds(gm_env, fresh)
    # The fresh preview is ephemeral: only the GM whose push it is can press it.
    asked = gm_env.h.fake.interactions[gm_env.h.fake.messages[fresh].interaction_id].user_id
    await confirm(gm_env, fresh, second_gm if asked == second_gm.id else gm_env.gm)
    await asyncio.gather(first, second)
    mira = set(data_of(gm_env, town["mira"])["linkedLocations"])
    assert town["old"] in mira
    for place in ("harbor", "old"):
        # Two-way both ways: Mira lists the place exactly when the place lists Mira.
        assert (town[place] in mira) == (town["mira"] in (data_of(gm_env, town[place]).get("linkedNPCs") or []))


# --- no lost edits, lost replies ------------------------------------------------------------------


async def test_an_edit_in_foundry_after_the_preview_gets_a_fresh_preview_not_a_write(gm_env, town):
    task, preview = await push(gm_env, "Harbor", {"data": {"description": "<p>Salt.</p>"}})
    newest = max(gm_env.h.fake.messages)
    data_of(gm_env, town["harbor"])["description"] = "<p>The GM's own edit.</p>"
    await confirm(gm_env, preview)
    fresh = await gm_env.h.wait_for(lambda: pending_with_button(gm_env.h, "Confirm", newest))
    assert not gm_env.relay.requests("/update")
    shown = embeds(gm_env, fresh)
    assert "Changed in Foundry since the preview" in shown and "The GM's own edit." in shown
    await confirm(gm_env, fresh)
    await task
    assert data_of(gm_env, town["harbor"])["description"] == "<p>Salt.</p>"


async def test_a_crossed_update_reply_is_read_back_and_reported_as_written(gm_env, town):
    gm_env.relay.cross_replies("/update", town["old"], applied=True)
    task, preview = await push(gm_env, "Harbor", {"data": {"description": "<p>Salt.</p>"}})
    await confirm(gm_env, preview)
    result = await task
    assert "Pushed to Harbor" in result.text and "nothing changed" not in result.text
    assert data_of(gm_env, town["harbor"])["description"] == "<p>Salt.</p>"


async def test_a_crossed_update_that_did_not_land_says_what_the_entry_holds(gm_env, town):
    gm_env.relay.cross_replies("/update", town["old"], applied=False)
    task, preview = await push(gm_env, "Harbor", {"data": {"description": "<p>Salt.</p>"}})
    await confirm(gm_env, preview)
    result = await task
    assert "does not hold what was sent" in result.text
    assert "data.description: now holds" in result.text


async def test_a_create_whose_reply_is_lost_but_landed_is_reported_created(gm_env, town):
    gm_env.relay.not_answering("/create", applied=True)
    task, preview = await push(gm_env, "New Dock", {"type": "location"})
    await confirm(gm_env, preview)
    result = await task
    assert "Created New Dock" in result.text and "found by name" in result.text
    assert len([d for d in gm_env.world.entries.values() if d["name"] == "New Dock"]) == 1
    assert len(gm_env.relay.requests("/create")) == 1


async def test_a_create_that_timed_out_and_did_not_land_says_not_created_without_inviting_a_duplicate(gm_env, town):
    gm_env.relay.not_answering("/create")
    task, preview = await push(gm_env, "New Dock", {"type": "location"})
    await confirm(gm_env, preview)
    result = await task
    assert "Not created" in result.text and "check in Foundry" in result.text
    assert "try again" not in result.text.lower()
    assert not [d for d in gm_env.world.entries.values() if d["name"] == "New Dock"]


async def test_a_name_missing_from_a_stale_map_is_offered_as_the_existing_entry(gm_env, town):
    late = gm_env.world.add_entry("Lighthouse", flags=codex("location"))  # added after the refresh
    task, preview = await push(gm_env, "Lighthouse", {"data": {"description": "<p>Tall.</p>"}})
    assert "was not in the bot's name map" in embeds(gm_env, preview)
    await confirm(gm_env, preview)
    await task
    assert not gm_env.relay.requests("/create")
    assert data_of(gm_env, late)["description"] == "<p>Tall.</p>"


# --- types and sheets ------------------------------------------------------------------------------


async def test_a_type_change_sends_the_sheet_class_and_previews_the_conversion(gm_env, town):
    data_of(gm_env, town["mira"]).update(linkedLocations=[town["old"]], associates=[town["inn"]])
    task, preview = await push(gm_env, "Mira Thorn", {"type": "location"})
    shown = embeds(gm_env, preview)
    assert "linkedLocations: dropped" in shown and "associates: moved to linkedNPCs" in shown
    assert "Foundry will ask the GM to confirm" in shown
    await confirm(gm_env, preview)
    await task
    [update] = gm_env.relay.requests("/update")
    assert update.json["data"]["flags.core.sheetClass"] == "campaign-codex.LocationSheet"
    doc = gm_env.world.entry(town["mira"])
    assert sheet_type(doc) == "location" and doc["flags"]["campaign-codex"]["type"] == "location"
    assert data_of(gm_env, town["mira"])["linkedNPCs"] == [town["inn"]]  # Campaign Codex moved it
    assert gm_env.world.codex_dialogs == [{"uuid": town["mira"], "lost": ["linkedLocations"]}]


async def test_null_clears_a_field_with_a_null_leaf_and_clearing_nothing_sends_nothing(gm_env, town):
    data_of(gm_env, town["harbor"])["notes"] = "<p>Smugglers.</p>"
    task, preview = await push(gm_env, "Harbor", {"data": {"notes": None, "linkedScene": None}})
    assert "(cleared)" in embeds(gm_env, preview)
    await confirm(gm_env, preview)
    await task
    [update] = gm_env.relay.requests("/update")
    assert update.json == {"data": {"flags.campaign-codex.data.notes": None}}
    assert data_of(gm_env, town["harbor"])["notes"] is None


# --- /reveal and /hide -----------------------------------------------------------------------------


async def test_reveal_shares_the_entry_and_posts_the_players_view(gm_env, town):
    data_of(gm_env, town["harbor"])["description"] = (
        '<p>Busy docks.</p><section class="secret"><p>Cult hideout.</p></section>'
    )
    data_of(gm_env, town["harbor"])["notes"] = "<p>GM only.</p>"
    task, preview = await run_until_button(gm_env.h, gm_env.gm, gm_env.channel, "reveal", name="Harbor")
    await confirm(gm_env, preview)
    result = await task
    assert gm_env.world.entry(town["harbor"])["ownership"]["default"] == 2
    [update] = gm_env.relay.requests("/update")
    assert update.json == {"data": {"ownership.default": 2}}
    posted = [m for m in gm_env.h.fake.messages.values() if "The GM revealed" in json.dumps(m.payload)]
    assert len(posted) == 1
    text = json.dumps(posted[0].payload)
    assert "Busy docks." in text and "Cult hideout." not in text and "GM only." not in text
    assert "Revealed" in result.text


async def test_hide_hides_and_needs_the_gm_role(gm_env, town):
    gm_env.world.entry(town["harbor"])["ownership"]["default"] = 2
    refused = await gm_env.h.slash(gm_env.player, gm_env.channel, "hide", name="Harbor")
    assert "Only members with the GM role" in refused.text
    task, preview = await run_until_button(gm_env.h, gm_env.gm, gm_env.channel, "hide", name="Harbor")
    await confirm(gm_env, preview)
    await task
    assert gm_env.world.entry(town["harbor"])["ownership"]["default"] == 0
    again = await gm_env.h.slash(gm_env.gm, gm_env.channel, "hide", name="Harbor")
    assert "already hidden" in again.text


async def test_an_update_that_timed_out_but_landed_is_read_back_and_reported_written(gm_env, town):
    gm_env.relay.not_answering("/update", applied=True)
    task, preview = await push(gm_env, "Harbor", {"data": {"description": "<p>Salt.</p>"}})
    await confirm(gm_env, preview)
    result = await task
    assert "Pushed to Harbor" in result.text
    assert len(gm_env.relay.requests("/update")) == 1  # read back, never written twice


async def test_a_created_entry_gets_its_links_mirrored_once_it_exists(gm_env, town):
    task, preview = await push(gm_env, "Tar Shop", {"type": "shop", "data": {"linkedLocation": town["harbor"]}})
    assert "Harbor" in embeds(gm_env, preview)
    await confirm(gm_env, preview)
    result = await task
    [shop] = [f"JournalEntry.{i}" for i, d in gm_env.world.entries.items() if d["name"] == "Tar Shop"]
    assert data_of(gm_env, town["harbor"])["linkedShops"] == [shop]
    assert "Created Tar Shop" in result.text and "Harbor" in result.text


async def test_a_new_entry_needs_a_type(gm_env, town):
    result = await gm_env.h.slash(
        gm_env.gm, gm_env.channel, "push", name="Nowhere", data=push_file({"data": {"description": "<p>x</p>"}})
    )
    assert "needs a type" in result.text or "must say which" in result.text
    assert not gm_env.relay.requests("/create")


async def test_the_reveal_post_shows_only_what_players_may_see_of_it(gm_env, town):
    """The channel post is read as the players read it: no hidden page, no name of an entry hidden from them."""
    cabal = gm_env.world.add_entry("Cabal of Ash", flags=codex("npc"), ownership={"default": 0})
    harbor = gm_env.world.entry(town["harbor"])
    harbor["flags"]["campaign-codex"]["data"]["linkedNPCs"] = [cabal, town["mira"]]
    harbor["pages"] = [
        {
            "_id": "pageOpen00000001",
            "name": "Docks",
            "type": "text",
            "text": {"content": "<p>Gulls.</p>"},
            "ownership": {"default": -1},
        },
        {
            "_id": "pageGM0000000001",
            "name": "Smugglers' ledger",
            "type": "text",
            "text": {"content": "<p>Bribes paid.</p>"},
            "ownership": {"default": 0},
        },
    ]
    await refresh(gm_env)

    task, preview = await run_until_button(gm_env.h, gm_env.gm, gm_env.channel, "reveal", name="Harbor")
    await confirm(gm_env, preview)
    await task

    [post] = [m for m in gm_env.h.fake.messages.values() if "The GM revealed" in json.dumps(m.payload)]
    text = json.dumps(post.payload, ensure_ascii=False)
    assert "Cabal of Ash" not in text and "Smugglers" not in text and "Bribes" not in text
    # Players' names follow the reveal at once: Harbor is offered to them without a /refresh.
    choices = await gm_env.h.autocomplete(gm_env.player, gm_env.channel, "lookup", "name", "Harb")
    assert any(c["name"].startswith("Harbor") for c in choices)
