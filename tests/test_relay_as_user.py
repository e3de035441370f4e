"""Reading as a Foundry user (`userId`) and listing users: the relay client against the stand-in, whose
answers follow relay.md's "Who may see what" (and the module's source) to the letter."""

from __future__ import annotations

import aiohttp
import pytest
from pydantic import SecretStr

from relay import NotPermitted, RelayClient, UnknownFoundryUser
from services.players.player_view import visible_pages
from services.players.visibility import visible_in_structure
from tests.stand_ins.relay_server import StandInRelay


@pytest.fixture
async def setup():
    relay = StandInRelay(keys={"k-1234567890": {"entity:read", "structure:read", "search"}})
    world = relay.add_world("client-a", "Ashes")
    ana = world.add_user("Ana")
    folder = world.add_folder("Lore")
    shared = world.add_entry(
        "Shared",
        folder=folder,
        pages=[
            "Open",
            {"_id": "p2", "name": "Closed", "ownership": {"default": 0}},
            {"_id": "p3", "name": "Ana's", "ownership": {"default": 0, ana: 2}},
        ],
    )
    limited = world.add_entry("Limited", img="x.webp", ownership={"default": 1})
    hidden = world.add_entry("Hidden", folder=folder, ownership={"default": 0})
    async with relay, aiohttp.ClientSession() as session:
        client = RelayClient(session, relay.base_url, SecretStr("k-1234567890"))
        yield client, relay, ana, {"shared": shared, "limited": limited, "hidden": hidden}


async def test_get_as_a_user_full_limited_or_not_permitted(setup):
    client, relay, ana, uuids = setup
    full = await client.get_entry(uuids["shared"], user_id="ana")  # a name works, case-insensitively
    assert not full.limited and [p["name"] for p in full.pages] == ["Open", "Closed", "Ana's"]  # unfiltered
    assert [p["name"] for p in visible_pages(full.pages, full.ownership, ana)] == ["Open", "Ana's"]
    limited = await client.get_entry(uuids["limited"], user_id=ana)
    assert limited.limited and limited.name == "Limited" and limited.img == "x.webp" and not limited.pages
    with pytest.raises(NotPermitted):
        await client.get_entry(uuids["hidden"], user_id=ana)
    with pytest.raises(UnknownFoundryUser) as raised:
        await client.get_entry(uuids["shared"], user_id="Nobody")
    assert "Nobody" in raised.value.message
    assert relay.requests("/get")[0].query["userId"] == "ana"


async def test_structure_as_a_user_omits_none_and_marks_limited(setup):
    client, _relay, ana, uuids = setup
    seen = visible_in_structure(await client.structure(user_id=ana))
    assert seen == {uuids["shared"]: False, uuids["limited"]: True}
    everything = visible_in_structure(await client.structure())
    assert set(everything) == set(uuids.values())


async def test_players_lists_users_with_gm_rights_and_nothing_for_a_player(setup):
    client, relay, ana, _ = setup
    users = await client.list_players()
    assert {(u.name, u.is_gm) for u in users} == {("Gamemaster", True), ("Ana", False)}
    status, reply = relay._module("/players", relay.worlds["client-a"], {"userId": ana}, None)
    assert status == 200 and reply == {"type": "players-result", "users": []}
