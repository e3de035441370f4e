"""What the relay client refuses to do with a reply: follow a redirect (the key would go along), read past a
cap sized to the route, or hand a player a reply it can't prove is that player's view."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from pydantic import SecretStr

from relay import BODY_CAPS, NotPermitted, RelayClient, RelayRedirected, RelayReplyTooLarge, UnprovenView
from relay.client import _ViewerTurns
from tests.stand_ins.relay_server import ALL_SCOPES, StandInRelay

KEY = "safety-key-90b1e2"
HIDDEN = "The vault key is under the third stair"


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def relay():
    async with StandInRelay(keys={KEY: set(ALL_SCOPES)}) as stand_in:
        yield stand_in


@pytest.fixture
def world(relay):
    return relay.add_world("client-a", "Ashes")


def client_for(session, relay, **kwargs) -> RelayClient:
    return RelayClient(session, relay.base_url, SecretStr(KEY), timeout=5.0, **kwargs)


# --- redirects ----------------------------------------------------------------------------------------


async def test_a_redirect_to_another_host_is_reported_and_the_key_never_follows(relay, world, session):
    async with StandInRelay(keys={KEY: set(ALL_SCOPES)}) as elsewhere:
        relay.redirect("/get", elsewhere.base_url + "/get?uuid=x", status=301)
        client = client_for(session, relay)
        with pytest.raises(RelayRedirected) as raised:
            await client.get_entry("JournalEntry.abc")
        assert elsewhere.log == []  # nothing, least of all x-api-key, reached the other host
    message = raised.value.message
    assert message.startswith(f"RELAY_URL (127.0.0.1) answered with a redirect to {elsewhere.base_url} (HTTP 301)")
    assert "set it to the relay's own address" in message and KEY not in str(raised.value)
    assert len(relay.requests("/get")) == 1  # not retried either
    assert client.quota.take_unsaved() == {}  # not counted: it never reached the relay's API


async def test_a_redirect_on_the_same_host_and_a_write_are_refused_too(relay, world, session):
    uuid = world.add_entry("Harbor")
    relay.redirect("/update", "/api/update", status=308)
    with pytest.raises(RelayRedirected) as raised:
        await client_for(session, relay).update_entry(uuid, {"name": "Port"})
    assert "another path on 127.0.0.1" in raised.value.message
    assert world.entry(uuid)["name"] == "Harbor"


# --- reply caps ---------------------------------------------------------------------------------------


def test_every_route_the_client_uses_has_a_cap():
    routes = {"/get", "/update", "/create", "/search", "/structure", "/get-folder", "/players", "/clients"}
    assert routes | {"/api/status", "/download"} <= set(BODY_CAPS)
    assert BODY_CAPS["/structure"] >= 5 * 6_000_000  # a 50,000-entry world's tree is about 6 MB


async def test_an_entry_over_the_get_cap_is_dropped_with_words_a_gm_can_act_on(relay, world, session):
    uuid = world.add_entry("Atlas", pages=[{"_id": "p1", "name": "Map", "text": {"content": "x" * 200_000}}])
    client = client_for(session, relay, body_caps={"/get": 64 * 1024})
    with pytest.raises(RelayReplyTooLarge) as raised:
        await client.get_entry(uuid)
    assert raised.value.message == (
        "The relay's reply to /get was larger than the 64 KiB the bot reads there, so it was dropped; the entry is "
        "too large to show (images pasted into its text?): move pictures into image files in Foundry."
    )


async def test_a_runaway_reply_without_a_length_is_cut_off_at_the_cap(relay, world, session):
    relay.stream("/structure", b" " * 65_536, count=6_400)  # 400 MiB, if anyone read it all
    client = client_for(session, relay, body_caps={"/structure": 1024 * 1024})
    with pytest.raises(RelayReplyTooLarge) as raised:
        await client.structure()
    assert "/structure" in raised.value.message and "1 MiB" in raised.value.message
    assert "RELAY_URL" in raised.value.message
    assert relay.streamed["/structure"] < 640  # the bot stopped reading long before 40 MiB


# --- a player's read must be that player's view --------------------------------------------------------


async def test_reads_of_one_entry_for_different_viewers_never_overlap(session):
    # Every request gets the same relay id: overlapping reads of one entry would cross.
    relay = StandInRelay(
        keys={KEY: set(ALL_SCOPES)}, crossing=True, foundry_delay=0.02, clock_ms=lambda: 1_700_000_000_000
    )
    world = relay.add_world("client-a", "Ashes")
    ana = world.add_user("Ana")
    uuid = world.add_entry("Vault", ownership={"default": 1}, pages=[{"_id": "p", "name": "Secret", "text": HIDDEN}])
    async with relay:
        client = client_for(session, relay)
        gm, player, gm_again = await asyncio.gather(
            client.get_entry(uuid), client.get_entry(uuid, user_id=ana), client.get_entry(uuid)
        )
    assert not gm.limited and gm.pages and not gm_again.limited
    assert player.limited and player.pages == [] and HIDDEN not in repr(player.raw)
    assert relay.peak_in_flight == 1
    assert len(relay.requests("/get")) == 3  # nothing crossed, nothing lost, nothing retried


async def test_the_gms_copy_handed_to_a_player_is_not_used(relay, world, session):
    ana = world.add_user("Ana")
    uuid = world.add_entry("Vault", ownership={"default": 1}, pages=[{"_id": "p", "name": "Secret", "text": HIDDEN}])
    client = client_for(session, relay)

    relay.cross_viewers("/get", times=1)  # the first reply is the GM's: refused and asked again
    entry = await client.get_entry(uuid, user_id=ana)
    assert entry.limited and entry.pages == []

    relay.cross_viewers("/get", times=2)
    with pytest.raises(UnprovenView) as raised:
        await client.get_entry(uuid, user_id=ana)
    assert HIDDEN not in str(raised.value) and raised.value.temporary
    assert "could not be proven" in raised.value.message


async def test_a_full_copy_is_used_when_its_ownership_shows_the_player_may_read_it(relay, world, session):
    ana = world.add_user("Ana")
    uuid = world.add_entry("Harbor", ownership={"default": 0, ana: 2})
    relay.cross_viewers("/get", times=2)  # the GM's copy: the same document Ana's read returns
    entry = await client_for(session, relay).get_entry(uuid, user_id=ana)
    assert not entry.limited and entry.name == "Harbor"


async def test_a_players_answer_handed_to_the_gm_is_not_used(relay, world, session):
    uuid = world.add_entry("Vault", ownership={"default": 1})
    client = client_for(session, relay)
    trimmed = {"type": "entity-result", "uuid": uuid, "data": {"uuid": uuid, "name": "Vault", "type": "JournalEntry"}}
    relay.force("/get", 200, trimmed, times=2)
    with pytest.raises(UnprovenView):
        await client.get_entry(uuid)
    refused = {"type": "entity-result", "uuid": uuid, "error": "User 'Ana' does not have permission to view this"}
    relay.force("/get", 400, refused, times=1)
    assert (await client.get_entry(uuid)).name == "Vault"  # retried: the second answer is the GM's own
    relay.force("/get", 400, refused, times=1)
    ana = world.add_user("Ana")
    with pytest.raises(NotPermitted):
        await client.get_entry(uuid, user_id=ana)


async def test_viewer_turns_let_one_viewers_reads_overlap_and_queue_another_viewer():
    turns = _ViewerTurns()
    inside: list[str] = []
    release = asyncio.Event()

    async def read(viewer: str | None, label: str) -> None:
        async with turns.turn("JournalEntry.x", viewer):
            inside.append(label)
            await release.wait()
            inside.append(f"/{label}")

    first = asyncio.create_task(read("ana", "ana1"))
    other = asyncio.create_task(read(None, "gm"))
    await asyncio.sleep(0)
    late = asyncio.create_task(read("ana", "ana2"))  # queues behind the GM: no starving
    for _ in range(5):
        await asyncio.sleep(0)
    assert inside == ["ana1"]
    release.set()
    await asyncio.gather(first, other, late)
    assert inside[:3] == ["ana1", "/ana1", "gm"]
    assert inside.index("ana2") > inside.index("/gm")
    assert turns.busy() == 0

    together = [asyncio.create_task(read("bo", f"bo{i}")) for i in range(3)]
    release.clear()
    for _ in range(5):
        await asyncio.sleep(0)
    assert inside[-3:] == ["bo0", "bo1", "bo2"]  # the same viewer's reads overlap
    release.set()
    await asyncio.gather(*together)
