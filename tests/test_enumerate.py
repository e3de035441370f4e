"""/refresh's enumeration against the stand-in relay over real HTTP on 127.0.0.1.

The expected map is computed from the stand-in's own documents (``world.folder_path`` walks its
folder records), never from a relay reply, so a test fails when an entry, a name or a folder path
in the map is wrong.
"""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest
from pydantic import SecretStr

from relay import RelayClient, RelayModuleError, RelayRateLimited, RelayScopeError
from relay.pacing import Pacer
from services.maps.enumerate import enumerate_journal
from services.maps.names import NameIndex
from services.maps.structure import HIDDEN_NAME
from tests.stand_ins.relay_server import ALL_SCOPES, StandInRelay, StandInWorld

KEY = "test-key"
NO_STRUCTURE = "key-without-structure"
CLIENT = "client-a"


@pytest.fixture
async def relay():
    keys = {KEY: set(ALL_SCOPES), NO_STRUCTURE: set(ALL_SCOPES) - {"structure:read"}}
    async with StandInRelay(keys=keys) as stand_in:
        yield stand_in


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def world(relay):
    return relay.add_world(CLIENT, "Ashes of Damascus")


def client_for(session, relay, key=KEY, pacer=None) -> RelayClient:
    return RelayClient(session, relay.base_url, SecretStr(key), pacer=pacer)


def expected(world: StandInWorld) -> set[tuple[str, str, str | None]]:
    return {(f"JournalEntry.{d['_id']}", d["name"], world.folder_path(d["folder"])) for d in world.entries.values()}


def got(result) -> set[tuple[str, str, str | None]]:
    return {(e.uuid, e.name, e.folder) for e in result.entries}


async def refresh_with(client: RelayClient, **kwargs):
    progress: list[str] = []

    async def report(text: str) -> None:
        progress.append(text)

    result = await enumerate_journal(client, CLIENT, report, **kwargs)
    return result, progress


async def refresh(session, relay, **kwargs):
    return await refresh_with(client_for(session, relay), **kwargs)


WORDS = [
    "Ash",
    "Baron",
    "Cairn",
    "Dagger",
    "Ember",
    "Fen",
    "Gallows",
    "Hollow",
    "Iron",
    "Jade",
    "Keep",
    "Lantern",
    "Mire",
    "North",
    "Oath",
    "Pike",
    "Quarry",
    "Raven",
    "Salt",
    "Thorn",
    "Umber",
    "Vale",
    "Wyrm",
    "Yew",
    "Zephyr",
]


def populate(world: StandInWorld, entries: int, folders: int, *, seed: int = 7) -> list:
    """A nested folder tree (unique folder names, up to 7 levels) and entries spread over it and the root,
    with names in random order and some names repeated in different folders."""
    rnd = random.Random(seed)
    made: list = [None]
    depth = {None: 0}
    for i in range(folders):
        parent = rnd.choice([f for f in made if depth[f and f.id] < 7])
        folder = world.add_folder(f"{rnd.choice(WORDS)} Folder {i:04d}", parent=parent)
        made.append(folder)
        depth[folder.id] = depth[parent and parent.id] + 1
    for i in range(entries):
        name = f"{rnd.choice(WORDS)} {rnd.randrange(10**6):06d}" if i % 20 else f"Shared name {i % 3}"
        world.add_entry(name, folder=rnd.choice(made))
    return made[1:]


# --- complete maps of every size ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "folders"), [(0, 0), (1, 0), (1, 3), (499, 25), (500, 25), (501, 25), (5_000, 80), (20_000, 150)]
)
async def test_the_map_equals_the_world(relay, session, world, entries, folders):
    populate(world, entries, folders)
    world.add_pack("world.lore", "Lore").add_entry("Compendium Only")

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world)
    assert len(result.entries) == entries
    assert result.complete is True and result.note is None and result.unverified == []
    assert result.requests == len(relay.log)  # every request is counted
    assert all(r.path in ("/structure", "/search", "/get-folder") for r in relay.log)
    if entries < 500:
        assert result.requests == 2 and result.searched_all  # tree + one uncapped search proves it
    else:
        # Tree, search, one name check per distinct folder name and the two names the tree drops
        # ("entities", under folders holding entries, and "__proto__"): nothing per entry.
        assert result.requests == 2 + folders + 2 and not result.searched_all
        assert [r.query["name"] for r in relay.requests("/get-folder")][-2:] == ["entities", "__proto__"]


async def test_a_large_world_with_few_folders_needs_few_requests_and_no_waiting(relay, session, world):
    for i in range(3_000):
        world.add_entry(f"Root entry {i:05d}")
    places = world.add_folder("Places")
    for i in range(700):  # a folder of more than 500 entries
        world.add_entry(f"Place {i:04d}", folder=places)
    client = client_for(session, relay)

    result = await enumerate_journal(client, CLIENT)

    assert got(result) == expected(world) and result.complete
    assert result.requests == 5 == len(relay.log)  # tree, search, "Places", "entities", "__proto__"
    assert client.pacer.waited == 0


async def test_a_folder_of_more_than_500_entries(relay, session, world):
    bestiary = world.add_folder("Bestiary")
    beasts = [world.add_entry(f"Beast {i:04d}", folder=bestiary) for i in range(1_200)]
    world.add_entry("Aardvark at the root")

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world) and result.complete
    assert {e.uuid for e in result.entries if e.folder == "Bestiary"} == set(beasts)


# --- the structure quirks ----------------------------------------------------------------------


def chain(world: StandInWorld, levels: int, per_level: int = 2) -> list:
    folders, parent = [], None
    for level in range(1, levels + 1):
        parent = world.add_folder(f"Level {level}", parent=parent)
        folders.append(parent)
        for i in range(per_level):
            world.add_entry(f"Deep {level:02d}-{i}", folder=parent)
    return folders


@pytest.mark.parametrize("filler", [0, 800])
async def test_folders_nested_deeper_than_five(relay, session, world, filler):
    folders = chain(world, 12)
    for i in range(filler):
        world.add_entry(f"Filler {i:04d}")

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world) and result.complete
    deepest = [e for e in result.entries if e.name.startswith("Deep 12-")]
    assert [e.folder for e in deepest] == ["/".join(f"Level {n}" for n in range(1, 13))] * 2
    first = relay.requests("/structure")[0].query
    assert int(first["recursiveDepth"]) > 5  # asked for more than the relay's default of 5
    assert len(relay.requests("/structure")) == 1  # one tree request was enough
    assert len(folders) == 12


async def test_folders_below_the_depth_asked_are_read_with_path(relay, session, world):
    folders = chain(world, 9)
    for i in range(700):
        world.add_entry(f"Filler {i:04d}")

    result, _ = await refresh(session, relay, depth=3)

    assert got(result) == expected(world) and result.complete
    paths = [r.query.get("path") for r in relay.requests("/structure")]
    # Levels 3, 6 and 9 sat at the depth limit: each was read again (9 turned out to be the last).
    assert paths == [None, folders[2].uuid, folders[5].uuid, folders[8].uuid]


async def test_stand_in_depth_default_really_hides_level_six(relay, session, world):
    """Control: the stand-in's tree really stops at 5 levels unless asked, so the test above can fail."""
    chain(world, 7)
    data = await client_for(session, relay).structure(client_id=CLIENT)
    node, levels = data["folders"]["Level 1"], 1
    while f"Level {levels + 1}" in node:
        node, levels = node[f"Level {levels + 1}"], levels + 1
    assert levels == 5 and "entities" in node


async def test_same_name_sibling_folders_in_a_small_world(relay, session, world):
    npcs = world.add_folder("NPCs")
    first = world.add_folder("Villains", parent=npcs)
    second = world.add_folder("Villains", parent=npcs)
    inner = world.add_folder("Lieutenants", parent=first)  # a subtree the collision hides too
    lost = [world.add_entry("Baron Vrax", folder=first), world.add_entry("Sly Tom", folder=inner)]
    kept = world.add_entry("Mother Grey", folder=second)

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world) and result.complete
    by_uuid = {e.uuid: e for e in result.entries}
    assert by_uuid[lost[0]].folder == "NPCs/Villains" and by_uuid[kept].folder == "NPCs/Villains"
    assert by_uuid[lost[1]].folder == "NPCs/Villains/Lieutenants"
    # The tree showed only the later "Villains"; the search revealed the other by id.
    assert [r.query.get("path") for r in relay.requests("/structure")][1:] == [f"Folder.{first.id}"]


def big_filler(world: StandInWorld, n: int = 600) -> None:
    """Entries whose names sort before anything named "B…": the global search stops inside them."""
    for i in range(n):
        world.add_entry(f"Aaa filler {i:04d}")


async def test_a_hidden_sibling_seen_by_the_search_is_read_but_its_place_is_not_proven(relay, session, world):
    npcs = world.add_folder("NPCs")
    first = world.add_folder("Villains", parent=npcs)
    world.add_folder("Villains", parent=npcs)
    early = world.add_entry("Aaa early villain", folder=first)  # inside the search's 500 names
    big_filler(world)

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world)
    assert {e.uuid: e.folder for e in result.entries}[early] == "NPCs/Villains"
    assert result.complete is False
    assert [(u.path, u.reason) for u in result.unverified] == [("NPCs/Villains", "hid")]
    assert result.note.startswith(f"{len(world.entries):,} entries mapped.")
    assert "hid a same-name folder beside “NPCs/Villains”" in result.note
    assert "give those folders distinct names in Foundry, then /refresh" in result.note
    assert "incomplete" not in result.note


async def test_a_hidden_sibling_beyond_the_search_is_found_by_name(relay, session, world):
    npcs = world.add_folder("NPCs")
    first = world.add_folder("Villains", parent=npcs)  # the first: /get-folder?name=Villains returns it
    world.add_folder("Villains", parent=npcs)  # the later: the tree shows it
    late = [world.add_entry(f"Zz late villain {i}", folder=first) for i in range(3)]
    big_filler(world)

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world)  # nothing missing after all
    assert {e.uuid for e in result.entries} >= set(late)
    assert result.complete is False and [u.path for u in result.unverified] == ["NPCs/Villains"]
    assert relay.requests("/get-folder")


async def test_unprovable_world_says_which_part_may_be_missing(relay, session, world):
    """Three same-name siblings: the tree shows the last, /get-folder the first; the middle one,
    whose entries all sort after the search's 500th name, is invisible to every route."""
    npcs = world.add_folder("NPCs")
    world.add_folder("Villains", parent=npcs)
    middle = world.add_folder("Villains", parent=npcs)
    world.add_folder("Villains", parent=npcs)
    invisible = {world.add_entry(f"Zz hidden {i}", folder=middle) for i in range(4)}
    big_filler(world)

    result, _ = await refresh(session, relay)

    assert got(result) == {t for t in expected(world) if t[0] not in invisible}  # really missing
    assert result.complete is False
    assert [(u.path, u.reason) for u in result.unverified] == [("NPCs/Villains", "hid")]
    mapped = len(world.entries) - len(invisible)
    assert result.note.startswith(f"{mapped:,} entries mapped.") and "“NPCs/Villains”" in result.note


async def test_a_search_hit_in_a_hidden_folder_brings_in_the_whole_folder(relay, session, world):
    """The middle of three same-name siblings is shown by no route, but one of its entries sorts
    inside the search's 500 names: its folder id leads to a path= read of all of it."""
    npcs = world.add_folder("NPCs")
    world.add_folder("Villains", parent=npcs)
    middle = world.add_folder("Villains", parent=npcs)
    world.add_folder("Villains", parent=npcs)
    early = world.add_entry("Aaa early villain", folder=middle)
    late = world.add_entry("Zz late villain", folder=middle)  # seen only through the path= read
    big_filler(world)

    result, _ = await refresh(session, relay)

    # Every entry is there, the middle folder under its real name and place (its Folder document).
    assert got(result) == expected(world)
    assert {e.uuid: e.folder for e in result.entries if e.uuid in (early, late)} == {
        early: "NPCs/Villains",
        late: "NPCs/Villains",
    }
    assert HIDDEN_NAME not in result.note
    assert [r.query["uuid"] for r in relay.requests("/get")] == [f"Folder.{middle.id}"]
    assert f"Folder.{middle.id}" in [r.query.get("path") for r in relay.requests("/structure")]
    assert result.complete is False
    assert [(u.path, u.reason) for u in result.unverified] == [("NPCs/Villains", "hid")]


async def test_a_hidden_folder_inside_a_hidden_folder_is_named_up_to_a_known_one(relay, session, world):
    """The search shows an entry in a folder whose parent the tree hid too: both are named from their
    Folder documents, and reading the topmost shows the rest."""
    npcs = world.add_folder("NPCs")
    first = world.add_folder("Villains", parent=npcs)
    world.add_folder("Villains", parent=npcs)
    inner = world.add_folder("Lieutenants", parent=first)
    sibling = world.add_folder("Spies", parent=first)
    world.add_entry("Sly Tom", folder=inner)
    world.add_entry("Whisper", folder=sibling)

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world) and result.complete
    assert {e.name: e.folder for e in result.entries}["Whisper"] == "NPCs/Villains/Spies"
    assert sorted(r.query["uuid"] for r in relay.requests("/get")) == sorted([inner.uuid, first.uuid])


async def test_same_named_folders_in_different_places_cannot_be_proven_in_a_large_world(relay, session, world):
    for region in ("North", "South"):
        world.add_entry(f"Bandit of the {region}", folder=world.add_folder("Handouts", parent=world.add_folder(region)))
    big_filler(world)

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world)
    # /get-folder returns only the first "Handouts", so the other one's neighbourhood stays unchecked.
    assert result.complete is False and [u.path for u in result.unverified] == ["South/Handouts"]


async def test_a_same_name_folder_of_another_type_blocks_the_proof(relay, session, world):
    world.add_folder("NPCs", type="Actor")
    world.add_entry("Baron", folder=world.add_folder("NPCs"))
    big_filler(world)

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world)
    assert result.complete is False and [(u.path, u.reason) for u in result.unverified] == [("NPCs", "shared")]
    assert "used by more than one folder" in result.note


@pytest.mark.parametrize("filler", [0, 600])
async def test_folders_named_id_and_entities(relay, session, world, filler):
    lore = world.add_folder("Lore")
    world.add_entry("Lore index", folder=lore)  # the entry list a subfolder named "entities" replaces
    id_folder = world.add_folder("id", parent=lore)
    entities_folder = world.add_folder("entities", parent=lore)
    deeper = world.add_folder("Deeper", parent=entities_folder)
    world.add_entry("Inside id", folder=id_folder)
    world.add_entry("Inside entities", folder=entities_folder)
    world.add_entry("Inside deeper", folder=deeper)
    root_type = world.add_folder("type")  # at the root it collides with nothing
    world.add_entry("Root-level type folder entry", folder=root_type)
    for i in range(filler):
        world.add_entry(f"Aaa filler {i:04d}")

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world)
    folders = {e.name: e.folder for e in result.entries}
    assert folders["Lore index"] == "Lore" and folders["Inside id"] == "Lore/id"
    assert folders["Inside deeper"] == "Lore/entities/Deeper"
    # Lore holds an entry, so the tree lost its "entities" subfolder: it was found (by the search's
    # folder id, or past 500 entries by name), named from its Folder document and read.
    assert f"Folder.{entities_folder.id}" in [r.query.get("path") for r in relay.requests("/structure")]
    if filler:
        # Another folder of that name could be lost the same way: said, with the fix.
        assert [(u.path, u.reason) for u in result.unverified] == [("entities", "dropped")]
        assert "drops folders named “entities”" in result.note and "distinct names" in result.note
    else:
        assert result.complete


async def test_a_folder_whose_id_and_uuid_are_both_overwritten(relay, session, world):
    lore = world.add_folder("Lore")
    for name in ("id", "uuid", "type", "entities"):
        world.add_entry(f"Inside {name}", folder=world.add_folder(name, parent=lore))
    world.add_entry("Lore index", folder=lore)

    result, _ = await refresh(session, relay)

    # The search shows Lore's id; reading it shows the four subfolders we had under a nameless id.
    assert got(result) == expected(world) and result.complete
    assert {e.name: e.folder for e in result.entries}["Lore index"] == "Lore"


async def test_compendium_entries_are_never_in_the_map(relay, session, world):
    world.add_entry("Harbor", folder=world.add_folder("Places"))
    pack = world.add_pack("world.lore", "Lore")
    packed = [pack.add_entry(f"Aaa packed {i}") for i in range(30)] + [pack.add_entry("Harbor")]
    big_filler(world, 550)

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world) and result.complete
    assert not {e.uuid for e in result.entries} & set(packed)
    assert all(e.uuid.startswith("JournalEntry.") for e in result.entries)
    assert [e.folder for e in result.entries if e.name == "Harbor"] == ["Places"]


async def test_same_named_entries_in_different_folders_are_told_apart(relay, session, world):
    a = world.add_entry("Harbor", folder=world.add_folder("Villains", parent=world.add_folder("NPCs")))
    b = world.add_entry("Harbor", folder=world.add_folder("Places"))
    c = world.add_entry("Harbor")

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world) and result.complete
    index = NameIndex(result.entries)
    labels = {index.choice_label(e) for e in index.find_exact("harbor")}
    assert labels == {"Harbor — NPCs/Villains", "Harbor — Places", "Harbor — no folder"}
    assert {e.uuid for e in index.find_exact("Harbor")} == {a, b, c}


@pytest.mark.parametrize("filler", [0, 900])
async def test_changes_between_two_runs(relay, session, world, filler):
    npcs, places = world.add_folder("NPCs"), world.add_folder("Places")
    big_filler(world, filler)
    baron = world.add_entry("Baron", folder=npcs)
    harbor = world.add_entry("Harbor", folder=places)
    doomed = world.add_entry("Doomed", folder=npcs)
    first, _ = await refresh(session, relay)
    assert got(first) == expected(world) and first.complete

    world.rename_entry(baron, "Zz Baron Vrax")  # renamed (beyond the search's 500 names when large)
    world.move_entry(harbor, world.add_folder("Docks", parent=places))  # moved into a new folder
    world.delete_entry(doomed)
    added = world.add_entry("Newcomer", folder=npcs)
    second, _ = await refresh(session, relay)

    assert got(second) == expected(world) and second.complete
    now = {e.uuid: e for e in second.entries}
    assert now[baron].name == "Zz Baron Vrax" and now[harbor].folder == "Places/Docks"
    assert doomed not in now and now[added].folder == "NPCs"


# --- requests, pacing, errors, progress --------------------------------------------------------


async def test_the_relay_rate_limit_is_never_hit_on_a_big_world(relay, session, world):
    populate(world, 20_000, 150)
    relay.enable_rate_limit()  # 300 a minute, 5/s refill

    result, _ = await refresh(session, relay)

    assert got(result) == expected(world) and result.complete
    assert result.requests == len(relay.log) <= 300


def paced_world(world: StandInWorld) -> None:
    for i in range(60):
        world.add_entry(f"Entry {i}", folder=world.add_folder(f"Folder {i:02d}"))
    big_filler(world)


async def test_pacing_keeps_a_many_folder_world_under_the_bucket(relay, session, world):
    # A small bucket on both sides so the test is quick: 62 requests, 10 at once, 40 a second.
    paced_world(world)
    relay.enable_rate_limit(capacity=10, per_second=40)
    client = client_for(session, relay, pacer=Pacer(capacity=9, per_second=36))

    result = await enumerate_journal(client, CLIENT)

    assert got(result) == expected(world) and result.complete
    assert result.requests == 64 == len(relay.log)
    assert client.pacer.waited > 1.0  # it really waited for tokens


async def test_a_429_is_waited_out_and_shown_in_the_progress(relay, session, world, monkeypatch):
    """Another user of the key spends the relay's bucket (our pacer can't know): the refresh waits and goes on."""
    monkeypatch.setattr("services.maps.enumerate.RATE_LIMIT_WAIT", 0.3)
    paced_world(world)
    relay.enable_rate_limit(capacity=10, per_second=40)
    client = client_for(session, relay, pacer=Pacer(capacity=1000, per_second=1000))

    result, progress = await refresh_with(client)

    assert got(result) == expected(world) and result.complete
    assert any("asked to slow down" in p for p in progress)
    assert result.requests > 64  # the refused requests were sent again


async def test_a_429_past_the_time_budget_ends_the_refresh(relay, session, world):
    """Control for the test above: the stand-in's bucket really refuses a burst, and waiting has a limit."""
    paced_world(world)
    relay.enable_rate_limit(capacity=10, per_second=40)
    client = client_for(session, relay, pacer=Pacer(capacity=1000, per_second=1000))
    with pytest.raises(RelayRateLimited):
        await enumerate_journal(client, CLIENT, budget=0.0)


async def test_pacer_matches_the_relay_bucket():
    now = [0.0]
    pacer = Pacer(capacity=300, per_second=5.0, clock=lambda: now[0])
    for _ in range(300):
        await pacer.take()
    assert pacer.waited == 0
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    original, asyncio.sleep = asyncio.sleep, fake_sleep
    try:
        for _ in range(10):
            await pacer.take()
    finally:
        asyncio.sleep = original
    assert len(sleeps) == 10 and all(0.19 <= s <= 0.22 for s in sleeps)  # then 5 a second
    assert pacer.granted == 310


async def test_a_key_without_structure_read_names_the_scope(relay, session, world):
    world.add_entry("Harbor")
    with pytest.raises(RelayScopeError) as caught:
        await enumerate_journal(client_for(session, relay, key=NO_STRUCTURE), CLIENT)
    assert caught.value.scope == "structure:read" and "structure:read" in caught.value.message


async def test_progress_is_reported(relay, session, world):
    populate(world, 800, 10)

    result, progress = await refresh(session, relay)

    assert result.complete
    assert progress[0].startswith("Reading the world's folder tree")
    assert any("Cross-checking" in p for p in progress)
    assert progress[-1] == f"Done: 800 entries, {result.requests} relay request(s)."


async def test_a_failing_progress_callback_does_not_stop_the_refresh(relay, session, world):
    world.add_entry("Harbor")

    async def broken(_text: str) -> None:
        raise RuntimeError("Discord said no")

    result = await enumerate_journal(client_for(session, relay), CLIENT, broken)
    assert [e.name for e in result.entries] == ["Harbor"]


async def test_names_from_foundry_are_inert_in_the_note(relay, session, world):
    world.add_folder("@everyone **loud**", type="Actor")
    world.add_entry("Baron", folder=world.add_folder("@everyone **loud**"))
    big_filler(world)

    result, _ = await refresh(session, relay)

    assert result.complete is False
    assert "@everyone" not in result.note and "@\u200beveryone \\*\\*loud\\*\\*" in result.note


# --- the client's /get-folder -------------------------------------------------------------------


async def test_get_folder_returns_the_first_folder_of_that_name(relay, session, world):
    actors = world.add_folder("Places", type="Actor")
    places = world.add_folder("Places")
    world.add_entry("Harbor", folder=places)
    client = client_for(session, relay)

    first = await client.get_folder("Places", client_id=CLIENT)
    assert first["id"] == actors.id and first["type"] == "Actor"
    assert relay.requests("/get-folder")[0].query == {"name": "Places", "clientId": CLIENT}

    with pytest.raises(RelayModuleError) as caught:
        await client.get_folder("Nowhere")
    assert "Folder not found" in caught.value.message


async def test_stand_in_folder_filtered_search_semantics(relay, session, world):
    places = world.add_folder("Places")
    world.add_folder("Docks", parent=places)
    world.add_entry("Harbor", folder=places)
    world.add_entry("Pier", folder=world.folders[next(k for k, f in world.folders.items() if f.name == "Docks")])
    world.add_entry("Root")
    client = client_for(session, relay)

    by_id = await client.search_journal_entries(folder_id=places.id)
    assert [h.name for h in by_id.hits] == ["Harbor"]  # direct entries only, no subfolders
    assert (await client.search_journal_entries(folder_id="Places")).hits == []  # never by name
    assert (await client.search_journal_entries(folder_id="None")).hits == []  # root can't be selected


async def test_stand_in_structure_models_the_collisions(relay, session, world):
    lore = world.add_folder("Lore")
    world.add_entry("Lore index", folder=lore)
    sub = world.add_folder("entities", parent=lore)
    world.add_folder("Twin")
    later_twin = world.add_folder("Twin")
    client = client_for(session, relay)

    data = await client.structure(client_id=CLIENT, recursive_depth=10)
    assert [e["name"] for e in data["folders"]["Lore"]["entities"]] == ["Lore index"]  # the list won: sub is lost
    assert data["folders"]["Twin"]["id"] == later_twin.id and len(data["folders"]) == 2

    world.delete_entry(next(f"JournalEntry.{i}" for i in world.entries))
    data = await client.structure(client_id=CLIENT, recursive_depth=10)
    assert data["folders"]["Lore"]["entities"]["id"] == sub.id  # no entries left: the subfolder is there

    world.add_entry("Lore index again", folder=lore)
    inside = await client.structure(client_id=CLIENT, path=lore.uuid, recursive_depth=5)
    assert [e["name"] for e in inside["entities"]] == ["Lore index again"]  # a path= read keeps them apart
    assert inside["folders"]["entities"]["id"] == sub.id


@pytest.mark.parametrize("filler", [0, 600])
async def test_a_folder_named_proto_never_reaches_the_tree_but_reaches_the_map(relay, session, world, filler):
    """JavaScript sets a key named __proto__ as the object's prototype: the module's JSON never has it."""
    odd = world.add_folder("__proto__", parent=world.add_folder("Lore"))
    entry = world.add_entry("Zz odd entry", folder=odd)
    big_filler(world, filler)

    data = await client_for(session, relay).structure(client_id=CLIENT, recursive_depth=5)
    assert "__proto__" not in data["folders"]["Lore"]  # control: the stand-in drops it as the module does
    result, _ = await refresh(session, relay)

    assert got(result) == expected(world)
    assert {e.uuid: e.folder for e in result.entries}[entry] == "Lore/__proto__"
    if filler:  # past 500 entries only its name finds it, and another could hide the same way
        assert [(u.path, u.reason) for u in result.unverified] == [("__proto__", "dropped")]
    else:
        assert result.complete


async def test_a_hidden_folder_deleted_during_the_refresh_asks_for_another(relay, session, world):
    npcs = world.add_folder("NPCs")
    first = world.add_folder("Villains", parent=npcs)
    world.add_folder("Villains", parent=npcs)
    world.add_entry("Baron", folder=first)
    relay.force("/get", 400, {"type": "entity-result", "error": "Entity not found", "data": None})

    result, _ = await refresh(session, relay)

    assert result.complete is False
    assert [(u.path, u.reason) for u in result.unverified] == [(f"Folder.{first.id}", "changed")]
    assert result.note.startswith("1 entry mapped.") and "run /refresh again" in result.note
