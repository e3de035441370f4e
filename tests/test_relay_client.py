"""RelayClient against the stand-in relay over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import pytest
from pydantic import SecretStr

from core.errors import ConfigurationError, UserFacingError
from relay import (
    CrossedReply,
    EntryNotFound,
    NoWorldConnected,
    RelayAuthError,
    RelayBadResponse,
    RelayClient,
    RelayModuleError,
    RelayRateLimited,
    RelayScopeError,
    RelayTimeout,
    RelayUnavailable,
    SeveralWorlds,
    UnknownWorld,
)
from tests.stand_ins.relay_server import ALL_SCOPES, StandInRelay

KEY = "test-key"
SECRET = "sk-live-7f3a9c-DO-NOT-LEAK"


@pytest.fixture
async def relay():
    async with StandInRelay(keys={KEY: set(ALL_SCOPES), SECRET: set(ALL_SCOPES)}) as stand_in:
        yield stand_in


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def world(relay):
    return relay.add_world("client-a", "Ashes of Damascus")


def client_for(session, relay, key=KEY, timeout=5.0) -> RelayClient:
    return RelayClient(session, relay.base_url + "/", SecretStr(key), timeout=timeout)


def assert_no_secret(exc: BaseException, client: RelayClient) -> None:
    for text in (str(exc), repr(exc), repr(client), *getattr(exc, "details", [])):
        assert SECRET not in text
    assert isinstance(exc, UserFacingError) and exc.message


# --- envelopes ---------------------------------------------------------------------------------


async def test_get_entry_parses_the_entity_result(relay, session, world):
    folder = world.add_folder("Places")
    uuid = world.add_entry(
        "Harbor",
        folder=folder,
        pages=["Overview", "Secrets"],
        flags={"campaign-codex": {"type": "location"}, "core": {"sheetClass": "x"}},
        ownership={"default": 0},
    )

    entry = await client_for(session, relay).get_entry(uuid)

    assert entry.uuid == uuid and entry.id == uuid.split(".")[1]
    assert entry.name == "Harbor"
    assert entry.folder == folder.id
    assert [p["name"] for p in entry.pages] == ["Overview", "Secrets"]
    assert entry.codex_flags == {"type": "location"}
    assert entry.raw["ownership"] == {"default": 0}
    [req] = relay.requests("/get")
    assert req.method == "GET" and req.query == {"uuid": uuid}
    assert req.headers.get("x-api-key") is None  # the log strips it; the stand-in still authenticated it


async def test_codex_flags_empty_when_absent(relay, session, world):
    entry = await client_for(session, relay).get_entry(world.add_entry("Plain"))
    assert entry.codex_flags == {} and entry.folder is None


async def test_update_sends_the_diff_verbatim_and_dot_paths_keep_sibling_flags(relay, session, world):
    uuid = world.add_entry(
        "Harbor",
        flags={
            "campaign-codex": {"type": "location", "data": {"description": "old", "notes": "keep me"}},
            "core": {"sheetClass": "codex.Location"},
        },
    )
    diff = {"name": "Harbour", "flags.campaign-codex.data.description": "new"}

    entry = await client_for(session, relay).update_entry(uuid, diff)

    assert entry.name == "Harbour"
    assert entry.flags == {
        "campaign-codex": {"type": "location", "data": {"description": "new", "notes": "keep me"}},
        "core": {"sheetClass": "codex.Location"},
    }
    assert world.entry(uuid)["flags"] == entry.flags  # the live world changed the same way
    [req] = relay.requests("/update")
    assert req.method == "PUT" and req.json == {"data": diff} and req.query == {"uuid": uuid}


async def test_update_full_key_replaces_the_whole_value(relay, session, world):
    uuid = world.add_entry("Harbor", flags={"campaign-codex": {"type": "location"}, "core": {"x": 1}})
    entry = await client_for(session, relay).update_entry(uuid, {"flags": {"campaign-codex": {"type": "npc"}}})
    assert entry.flags == {"campaign-codex": {"type": "npc"}}


async def test_create_entry_posts_entity_type_and_parses_the_object_entity(relay, session, world):
    folder = world.add_folder("NPCs")

    entry = await client_for(session, relay).create_entry(
        "Sister Ilse", {"flags": {"campaign-codex": {"type": "npc"}}}, folder=folder.id
    )

    assert entry.uuid.startswith("JournalEntry.") and world.entry(entry.uuid)["name"] == "Sister Ilse"
    assert entry.folder == folder.id and entry.codex_flags == {"type": "npc"}
    [req] = relay.requests("/create")
    assert req.method == "POST"
    assert req.json == {
        "entityType": "JournalEntry",
        "folder": folder.id,
        "data": {"name": "Sister Ilse", "flags": {"campaign-codex": {"type": "npc"}}},
    }


async def test_create_without_folder_sends_no_folder_key(relay, session, world):
    await client_for(session, relay).create_entry("Loose", {})
    assert relay.requests("/create")[0].json == {"entityType": "JournalEntry", "data": {"name": "Loose"}}


async def test_search_lists_world_entries_with_folders_and_not_minified(relay, session, world):
    folder = world.add_folder("Places")
    harbor = world.add_entry("harbor", folder=folder, img="icons/harbor.webp")
    world.add_entry("Abbey")
    world.add_pack("world.lore", "Lore").add_entry("Compendium Only")

    result = await client_for(session, relay).search_journal_entries()

    assert [h.name for h in result.hits] == ["Abbey", "harbor"]  # sorted by name, no compendium, no folders
    assert result.hits[1].uuid == harbor and result.hits[1].folder == folder.id
    assert result.hits[1].img == "icons/harbor.webp" and result.hits[0].folder is None
    assert result.capped is False
    [req] = relay.requests("/search")
    assert req.query == {"filter": "documentType:JournalEntry", "excludeCompendiums": "true", "limit": "500"}


async def test_search_by_folder_adds_the_folder_filter(relay, session, world):
    places, inner = world.add_folder("Places"), world.add_folder("Inner")
    world.add_entry("Harbor", folder=places)
    world.add_entry("Cellar", folder=inner)
    world.add_entry("Root")

    result = await client_for(session, relay).search_journal_entries(folder_id=places.id, client_id="client-a")

    assert [h.name for h in result.hits] == ["Harbor"]
    assert relay.requests("/search")[0].query["filter"] == f"documentType:JournalEntry,folder:{places.id}"


@pytest.mark.parametrize(("entries", "capped"), [(500, True), (499, False)])
async def test_search_reports_the_500_cap(relay, session, world, entries, capped):
    for i in range(entries + (5 if capped else 0)):  # more than 500 in the world when capped
        world.add_entry(f"Entry {i:04d}")

    result = await client_for(session, relay).search_journal_entries()

    assert len(result.hits) == (500 if capped else 499)
    assert result.capped is capped


async def test_list_worlds_includes_offline_ones(relay, session):
    relay.add_world("client-a", "Ashes", custom_name="Tuesday game", public_url="https://vtt.example/ashes")
    relay.add_world("client-b", "Old Campaign", online=False, foundry_version="12.331", system_title="Pathfinder")

    worlds = await client_for(session, relay).list_worlds()

    assert [(w.client_id, w.online, w.label) for w in worlds] == [
        ("client-a", True, "Tuesday game"),
        ("client-b", False, "Old Campaign"),
    ]
    assert worlds[0].public_url == "https://vtt.example/ashes" and worlds[1].public_url is None
    assert worlds[1].foundry_version == "12.331" and worlds[1].system_title == "Pathfinder"
    assert worlds[0].world_id == "client-a" and worlds[1].custom_name is None


async def test_status_needs_no_key(relay, session):
    status = await client_for(session, relay).status()
    assert status.version == "3.4.1"
    assert "x-api-key" not in {k.lower() for k in relay.requests("/api/status")[0].headers}


async def test_structure_returns_the_raw_tree_and_sends_its_parameters(relay, session, world):
    places = world.add_folder("Places")
    harbor = world.add_entry("Harbor", folder=places)
    root = world.add_entry("Root entry")

    data = await client_for(session, relay).structure(client_id="client-a", recursive_depth=8)

    assert data["folders"]["Places"]["id"] == places.id
    assert data["folders"]["Places"]["entities"] == [
        {"uuid": harbor, "name": "Harbor", "id": harbor.split(".")[1], "type": "JournalEntry"}
    ]
    assert [e["uuid"] for e in data["entities"]["journalentrys"]] == [root]
    assert relay.requests("/structure")[0].query == {
        "types": "JournalEntry",
        "recursive": "true",
        "recursiveDepth": "8",
        "clientId": "client-a",
    }


async def test_structure_path_gives_one_subtree(relay, session, world):
    places = world.add_folder("Places")
    world.add_folder("Docks", parent=places)
    inside = world.add_entry("Harbor", folder=places)

    data = await client_for(session, relay).structure(path=places.uuid)

    assert list(data["folders"]) == ["Docks"] and [e["uuid"] for e in data["entities"]] == [inside]
    assert relay.requests("/structure")[0].query["path"] == places.uuid


# --- clientId ----------------------------------------------------------------------------------


async def test_client_id_is_a_query_parameter_on_get_put_and_post(relay, session, world):
    relay.add_world("client-b", "Second World")
    uuid = world.add_entry("Harbor")
    client = client_for(session, relay)

    await client.get_entry(uuid, client_id="client-a")
    await client.update_entry(uuid, {"name": "H"}, client_id="client-a")
    await client.create_entry("New", {}, client_id="client-a")
    await client.search_journal_entries(client_id="client-a")

    assert len(relay.log) == 4
    for req in relay.log:
        assert req.query["clientId"] == "client-a", req.path
        assert not any("client" in k.lower() or v == "client-a" for k, v in req.headers.items()), req.path
        assert not (isinstance(req.json, dict) and "clientId" in req.json)


async def test_no_client_id_sent_when_none_given(relay, session, world):
    await client_for(session, relay).get_entry(world.add_entry("Harbor"))
    assert "clientId" not in relay.log[0].query


# --- errors ------------------------------------------------------------------------------------


async def test_invalid_key_is_an_auth_error_without_the_key(relay, session, world):
    client = client_for(session, relay, key=SECRET + "-wrong")
    with pytest.raises(RelayAuthError) as caught:
        await client.get_entry(world.add_entry("Harbor"))
    assert "Invalid API key" in caught.value.message and "RELAY_API_KEY" in caught.value.message
    assert SECRET not in str(caught.value) and caught.value.status == 401


async def test_missing_scope_names_the_scope(relay, session, world):
    relay.keys[SECRET] = set(ALL_SCOPES) - {"entity:write"}
    client = client_for(session, relay, key=SECRET)
    with pytest.raises(RelayScopeError) as caught:
        await client.update_entry(world.add_entry("Harbor"), {"name": "x"})
    assert caught.value.scope == "entity:write" and "'entity:write'" in caught.value.message
    assert_no_secret(caught.value, client)


async def test_no_world_connected(relay, session):
    relay.add_world("client-a", "Ashes", online=False)
    client = client_for(session, relay, key=SECRET)
    with pytest.raises(NoWorldConnected) as caught:
        await client.get_entry("JournalEntry.abc")
    assert caught.value.temporary is True and "REST API module" in caught.value.message
    assert_no_secret(caught.value, client)


async def test_unknown_world(relay, session, world):
    client = client_for(session, relay, key=SECRET)
    with pytest.raises(UnknownWorld) as caught:
        await client.search_journal_entries(client_id="client-gone")
    assert caught.value.client_id == "client-gone" and "/world" in caught.value.message
    assert_no_secret(caught.value, client)


async def test_several_worlds_lists_them(relay, session, world):
    relay.add_world("client-b", "Second World", custom_name="Thursday game")
    client = client_for(session, relay, key=SECRET)
    with pytest.raises(SeveralWorlds) as caught:
        await client.get_entry("JournalEntry.abc")
    assert [w["clientId"] for w in caught.value.worlds] == ["client-a", "client-b"]
    assert caught.value.details == ["Ashes of Damascus (client-a)", "Thursday game (client-b)"]
    assert "/world" in caught.value.message
    assert_no_secret(caught.value, client)


async def test_missing_entry_on_get_and_on_update(relay, session, world):
    client = client_for(session, relay, key=SECRET)
    for call in (
        client.get_entry("JournalEntry.nope00000000000"),
        client.update_entry("JournalEntry.nope00000000000", {"name": "x"}),
    ):
        with pytest.raises(EntryNotFound) as caught:
            await call
        assert caught.value.uuid == "JournalEntry.nope00000000000"
        assert "JournalEntry.nope00000000000" in caught.value.message
        assert_no_secret(caught.value, client)


async def test_other_module_errors_keep_their_text(relay, session, world):
    client = client_for(session, relay, key=SECRET)
    with pytest.raises(RelayModuleError) as caught:
        await client.structure(path="Folder.missing")
    assert "Folder not found: Folder.missing" in caught.value.message
    assert_no_secret(caught.value, client)


async def test_module_error_text_is_trimmed_and_scrubbed(relay, session, world):
    relay.force("/get", 400, {"error": f"Unexpected header {SECRET} " + "x" * 400})
    client = client_for(session, relay, key=SECRET)
    with pytest.raises(RelayModuleError) as caught:
        await client.get_entry(world.add_entry("Harbor"))
    assert len(caught.value.text) <= 200 and "[redacted]" in caught.value.text
    assert_no_secret(caught.value, client)


async def test_rate_limit_without_retry_after(relay, session, world):
    relay.enable_rate_limit(capacity=2, per_second=0.01)
    uuid = world.add_entry("Harbor")
    client = client_for(session, relay, key=SECRET)
    await client.get_entry(uuid)
    await client.get_entry(uuid)
    with pytest.raises(RelayRateLimited) as caught:
        await client.get_entry(uuid)
    assert caught.value.temporary is True and "300 requests a minute" in caught.value.message
    assert caught.value.details == ["Relay said: Too many API requests, please slow down"]
    assert len(relay.requests("/get")) == 3  # a 429 is not retried
    assert_no_secret(caught.value, client)


async def test_rate_limit_refills(relay, session, world):
    relay.enable_rate_limit(capacity=1, per_second=50)
    uuid = world.add_entry("Harbor")
    client = client_for(session, relay)
    await client.get_entry(uuid)
    await asyncio.sleep(0.05)
    assert (await client.get_entry(uuid)).name == "Harbor"


async def test_failed_send_to_foundry_is_unavailable(relay, session, world):
    relay.fail_send("/update")
    client = client_for(session, relay, key=SECRET)
    with pytest.raises(RelayUnavailable) as caught:
        await client.update_entry(world.add_entry("Harbor"), {"name": "x"})
    assert caught.value.status == 500 and caught.value.temporary is True
    assert "Failed to send request to Foundry client" in caught.value.message
    assert_no_secret(caught.value, client)


async def test_proxy_502_html_page_is_unavailable(relay, session, world):
    relay.force("/get", 502, "<html><body>Bad Gateway</body></html>")
    with pytest.raises(RelayUnavailable) as caught:
        await client_for(session, relay).get_entry(world.add_entry("Harbor"))
    assert "502" in caught.value.message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, "<!doctype html><html><body>Welcome to nginx</body></html>"),
        (200, None),
        (200, ["not", "an", "object"]),
        (400, "<html>Bad Request</html>"),
        (404, None),
        (404, "404 page not found\n"),
        (401, "<html>Unauthorized</html>"),
    ],
)
async def test_non_relay_bodies_are_bad_responses(relay, session, world, status, body):
    relay.force("/get", status, body)
    client = client_for(session, relay, key=SECRET)
    with pytest.raises(RelayBadResponse) as caught:
        await client.get_entry(world.add_entry("Harbor"))
    assert caught.value.status == status and f"HTTP {status}" in caught.value.message
    assert "RELAY_URL" in caught.value.message
    assert_no_secret(caught.value, client)


async def test_wrongly_shaped_update_reply_is_a_bad_response(relay, session, world):
    uuid = world.add_entry("Harbor")
    relay.force("/update", 200, {"type": "update-result", "uuid": uuid, "entity": {"_id": "x", "name": "y"}})
    with pytest.raises(RelayBadResponse) as caught:
        await client_for(session, relay).update_entry(uuid, {"name": "y"})
    assert "'entity'" in caught.value.details[0]


async def test_base_url_with_api_prefix_is_a_bad_response(relay, session, world):
    client = RelayClient(session, relay.base_url + "/api", SecretStr(KEY))
    with pytest.raises(RelayBadResponse) as caught:
        await client.get_entry(world.add_entry("Harbor"))
    assert caught.value.status == 404


async def test_base_url_must_be_http(session):
    with pytest.raises(ConfigurationError):
        RelayClient(session, "vtt-relay.example.net", SecretStr(KEY))


async def test_connection_refused_is_unavailable(session):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    client = RelayClient(session, f"http://user:pw@127.0.0.1:{port}", SecretStr(SECRET))
    with pytest.raises(RelayUnavailable) as caught:
        await client.list_worlds()
    assert caught.value.temporary is True and caught.value.status is None
    assert f"127.0.0.1:{port}" in caught.value.message and "pw" not in caught.value.message
    assert_no_secret(caught.value, client)


async def test_nothing_secret_in_logs(relay, session, world, caplog):
    caplog.set_level(logging.DEBUG)
    relay.not_answering("/get")
    client = client_for(session, relay, key=SECRET)
    await client.get_entry(world.add_entry("Harbor"))
    assert "Retrying GET /get" in caplog.text and SECRET not in caplog.text


# --- retries and timeouts ----------------------------------------------------------------------


async def test_read_retried_once_after_408(relay, session, world):
    uuid = world.add_entry("Harbor")
    relay.not_answering("/get")
    assert (await client_for(session, relay).get_entry(uuid)).name == "Harbor"
    assert len(relay.requests("/get")) == 2


async def test_read_gives_up_after_second_408(relay, session, world):
    relay.not_answering("/get", times=2)
    with pytest.raises(RelayTimeout) as caught:
        await client_for(session, relay).get_entry(world.add_entry("Harbor"))
    assert caught.value.status == 408 and caught.value.temporary is True
    assert "didn't answer" in caught.value.message
    assert len(relay.requests("/get")) == 2


@pytest.mark.parametrize("route", ["/search", "/clients", "/structure", "/api/status"])
async def test_every_read_route_retries_a_504(relay, session, world, route):
    relay.force(route, 504, {"error": "Request timed out"})
    client = client_for(session, relay)
    calls = {
        "/search": client.search_journal_entries,
        "/clients": client.list_worlds,
        "/structure": client.structure,
        "/api/status": client.status,
    }
    await calls[route]()
    assert len(relay.requests(route)) == 2


async def test_writes_are_never_retried(relay, session, world):
    uuid = world.add_entry("Harbor")
    relay.not_answering("/update")
    relay.force("/create", 504, {"error": "Request timed out"})
    client = client_for(session, relay)
    with pytest.raises(RelayTimeout):
        await client.update_entry(uuid, {"name": "x"})
    with pytest.raises(RelayTimeout):
        await client.create_entry("New", {})
    assert len(relay.requests("/update")) == 1 and len(relay.requests("/create")) == 1
    assert world.entry(uuid)["name"] == "Harbor" and len(world.entries) == 1


async def test_own_timeout(relay, session, world):
    relay.add_latency("/get", 2.0)
    client = client_for(session, relay, timeout=0.3)
    with pytest.raises(RelayTimeout) as caught:
        await client.get_entry(world.add_entry("Harbor"))
    assert caught.value.status is None and "0.3 seconds" in caught.value.message
    assert len(relay.requests("/get")) == 1  # our own deadline is spent: no retry


async def test_own_timeout_covers_the_retry_too(relay, session, world):
    relay.relay_timeout = 0.2
    relay.not_answering("/get", times=5)
    client = client_for(session, relay, timeout=0.3)
    with pytest.raises(RelayTimeout) as caught:
        await client.get_entry(world.add_entry("Harbor"))
    # Our own 0.3 s deadline ended it (a relay 408 would carry its status), though 5 relay timeouts were due.
    assert caught.value.status is None and len(relay.requests("/get")) <= 2


# --- crossed replies ---------------------------------------------------------------------------


async def test_crossed_get_reply_is_retried_then_reported(relay, session, world):
    mine, other = world.add_entry("Mine"), world.add_entry("Other")
    crossed = {
        "type": "entity-result",
        "requestId": "entity_1",
        "uuid": other,
        "data": {"_id": other.split(".")[1], "name": "Other"},
    }
    client = client_for(session, relay, key=SECRET)

    relay.force("/get", 200, crossed)
    assert (await client.get_entry(mine)).name == "Mine"

    relay.force("/get", 200, crossed, times=2)
    with pytest.raises(CrossedReply) as caught:
        await client.get_entry(mine)
    assert caught.value.temporary is True and mine in caught.value.message
    assert len(relay.requests("/get")) == 4
    assert_no_secret(caught.value, client)


async def test_crossed_update_reply_is_not_retried(relay, session, world):
    mine, other = world.add_entry("Mine"), world.add_entry("Other")
    relay.force(
        "/update",
        200,
        {"type": "update-result", "uuid": other, "entity": [{"_id": other.split(".")[1], "name": "Other"}]},
    )
    with pytest.raises(CrossedReply):
        await client_for(session, relay).update_entry(mine, {"name": "x"})
    assert len(relay.requests("/update")) == 1


async def test_stand_in_crossing_mode_really_crosses_same_millisecond_requests(session):
    # Control: without the client's spacing, two same-ms requests swap/lose replies.
    relay = StandInRelay(crossing=True, foundry_delay=0.02, relay_timeout=0.3, clock_ms=lambda: 1_700_000_000_000)
    world = relay.add_world("client-a", "Ashes")
    a, b = world.add_entry("A"), world.add_entry("B")
    async with relay:

        async def raw_get(uuid):
            async with session.get(f"{relay.base_url}/get", params={"uuid": uuid}, headers={"x-api-key": KEY}) as resp:
                return resp.status, await resp.json()

        replies = await asyncio.gather(raw_get(a), raw_get(b))
    statuses = sorted(status for status, _ in replies)
    assert statuses == [200, 408]
    got = next(body for status, body in replies if status == 200)
    asked = a if replies[0][0] == 200 else b
    assert got["uuid"] != asked  # the survivor received the other request's reply


async def test_client_recovers_from_crossing_on_a_frozen_clock(session):
    relay = StandInRelay(crossing=True, foundry_delay=0.02, relay_timeout=0.3, clock_ms=lambda: 1_700_000_000_000)
    world = relay.add_world("client-a", "Ashes")
    a, b = world.add_entry("A"), world.add_entry("B")
    async with relay:
        client = client_for(session, relay)
        entries = await asyncio.gather(client.get_entry(a), client.get_entry(b))
    assert [e.name for e in entries] == ["A", "B"]
    assert len(relay.requests("/get")) == 4  # one crossed + one lost, each retried once


async def test_fifty_concurrent_gets_in_crossing_mode_never_return_another_entry():
    """On a busy machine two spaced starts can still share a relay millisecond: what must hold is the
    outcome. Each call returns its own entry or a temporary error that says so, never another's."""
    relay = StandInRelay(crossing=True, foundry_delay=0.05, relay_timeout=2.0)
    world = relay.add_world("client-a", "Ashes")
    uuids = [world.add_entry(f"Entry {i:02d}", flags={"campaign-codex": {"n": i}}) for i in range(50)]
    async with relay, aiohttp.ClientSession() as session:
        client = client_for(session, relay)
        results = await asyncio.gather(*(client.get_entry(u) for u in uuids), return_exceptions=True)

    for i, (uuid, result) in enumerate(zip(uuids, results)):
        if isinstance(result, BaseException):
            assert isinstance(result, (CrossedReply, RelayTimeout)) and result.temporary, result
        else:
            assert result.uuid == uuid and result.codex_flags["n"] == i
    assert any(not isinstance(r, BaseException) for r in results)


# --- the stand-in's own quirks (other suites rely on them) --------------------------------------


async def raw(session, relay, route, **params):
    async with session.get(relay.base_url + route, params=params, headers={"x-api-key": KEY}) as resp:
        return resp.status, await resp.json()


async def test_stand_in_structure_quirks(relay, session, world):
    top = world.add_folder("Lore")
    world.add_folder("Dup", parent=top)
    second_dup = world.add_folder("Dup", parent=top)
    world.add_folder("id", parent=top)  # clobbers the node's own id
    deep = top
    for level in range(2, 8):
        deep = world.add_folder(f"L{level}", parent=deep)
    world.add_pack("world.lore", "Lore Pack").add_entry("Packed")

    status, body = await raw(session, relay, "/structure")
    assert status == 200 and body["data"] == {"folders": {}}  # no types: nothing

    _, body = await raw(session, relay, "/structure", types="JournalEntry", recursive="true")
    lore = body["data"]["folders"]["Lore"]
    assert lore["Dup"]["id"] == second_dup.id  # the later same-name sibling wins
    assert lore["id"] != top.id and lore["id"]["type"] == "JournalEntry"
    node, depth = lore, 1
    while f"L{depth + 1}" in node:
        node, depth = node[f"L{depth + 1}"], depth + 1
    assert depth == 5  # recursiveDepth defaults to 5
    assert body["data"]["compendiumPacks"]["Lore Pack"]["id"] == "world.lore"  # keyed by the pack's title
    assert "entities" not in body["data"]  # no entry at the top level: no key at all

    status, body = await raw(session, relay, "/structure", types="JournalEntry", path="Folder.nope")
    assert status == 400 and body["error"] == "Folder not found: Folder.nope" and body["data"] == {}
    _, body = await raw(session, relay, "/structure", types="JournalEntry", recursive="true", path=top.uuid)
    assert "entities" not in body["data"] and "Dup" in body["data"]["folders"]  # no direct entries: no key


async def test_stand_in_search_and_folder_lookup(relay, session, world):
    world.add_folder("Places", type="Actor")
    places = world.add_folder("Places")
    world.add_entry("Harbor", folder=places, img="h.webp")

    status, body = await raw(session, relay, "/search")
    assert (status, body) == (400, {"error": "'query' or 'filter' is required"})
    _, body = await raw(session, relay, "/search", filter="documentType:JournalEntry", minified="true")
    assert body["results"][0].keys() == {"uuid", "id", "name", "img", "documentType"}
    assert body["type"] == "search-result" and body["requestId"].startswith("search_")

    _, body = await raw(session, relay, "/get-folder", name="Places")
    assert body["data"]["type"] == "Actor" and body["data"]["contents"] == []  # the first of any type
    assert body["data"]["parentFolder"] is None
    status, body = await raw(session, relay, "/get-folder", name="Nowhere")
    assert status == 400 and body["error"] == "Folder not found with name: Nowhere" and body["data"] is None
    _, body = await raw(session, relay, "/get", uuid=places.uuid)
    assert body["uuid"] == places.uuid and body["data"]["name"] == "Places" and body["data"]["folder"] is None

    async with session.get(relay.base_url + "/api/health") as resp:
        assert (await resp.json())["status"] == "ok"


async def test_unverifiable_routes_go_one_at_a_time_while_gets_overlap(relay, session, world):
    """Replies of /search, /structure, /get-folder and /create carry nothing to check them by: one of a
    kind in flight at a time. /get replies are uuid-checked, so several may overlap."""
    uuids = [world.add_entry(f"Entry {i}") for i in range(6)]
    world.add_folder("Places")
    client = client_for(session, relay)
    relay.foundry_delay = 0.05

    await asyncio.gather(*(client.search_journal_entries() for _ in range(4)))
    assert relay.peak_in_flight == 1
    await asyncio.gather(*(client.structure() for _ in range(3)), *(client.get_folder("Places") for _ in range(3)))
    assert relay.peak_in_flight <= 2  # one /structure beside one /get-folder at most, never two of a kind
    relay.peak_in_flight = 0
    await asyncio.gather(*(client.create_entry(f"New {i}", {}) for i in range(3)))
    assert relay.peak_in_flight == 1

    relay.peak_in_flight, relay.foundry_delay = 0, 0.3
    entries = await asyncio.gather(*(client.get_entry(u) for u in uuids))
    assert [e.uuid for e in entries] == uuids
    assert relay.peak_in_flight > 1  # spaced starts, but in flight together
