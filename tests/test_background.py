"""The background refresh, without Discord: real App (aiohttp session, SQLite), the stand-in relay, a fake clock."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.errors import ConfigurationError
from core.settings import load_settings
from relay.pacing import Pacer
from services.maps.background import OFFLINE_RETRY, BackgroundRefresher
from services.resources import App
from services.status import status_report
from tests.conftest import WORLD_ID, make_settings

INTERVAL = 900.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def env(tmp_path, relay, foundry):
    world = relay.add_world(WORLD_ID, "Ashes of the Valley")
    settings = make_settings(tmp_path, relay, foundry, relay_client_id=WORLD_ID)
    app = await App.open(settings)
    clock = Clock()
    refresher = app.refresher = BackgroundRefresher(app.gm, INTERVAL, clock=clock)
    try:
        yield app, refresher, clock, world, relay
    finally:
        await refresher.stop()
        await app.close()


async def names(app) -> dict[str, str | None]:
    world_map = await app.gm.maps.get(WORLD_ID)
    return {e.name: e.folder for e in world_map.by_uuid.values()}


async def test_a_new_world_is_mapped_then_an_unchanged_one_costs_one_request(env):
    app, refresher, clock, world, relay = env
    world.add_entry("Harbor", folder=world.add_folder("Places"))

    assert await refresher.run_due() == {WORLD_ID: "updated"}
    assert await names(app) == {"Harbor": "Places"}
    stamped = (await app.gm.maps.info(WORLD_ID)).refreshed_at
    before = len(relay.log)

    assert await refresher.run_due() == {}  # not due yet: no request at all
    clock.advance(INTERVAL)
    assert await refresher.run_due() == {WORLD_ID: "unchanged"}

    # One request for the map; the rest is the players' visibility pass (FOUNDRY_PLAYER "Table" is not a user here).
    map_requests = [r for r in relay.log[before:] if "userId" not in r.query and r.path != "/players"]
    assert [r.path for r in map_requests] == ["/structure"]
    assert (await app.gm.maps.info(WORLD_ID)).refreshed_at == stamped  # SQLite untouched


async def test_an_entry_the_gm_hides_leaves_players_names_at_the_next_interval(env):
    """Sharing is ownership, which the GM's tree never shows: every interval reads the players' views again."""
    app, refresher, clock, world, relay = env
    world.add_user("Table")
    plot = world.add_entry("The Betrayal", ownership={"default": 2})
    world.add_entry("Harbor", ownership={"default": 2})
    await refresher.run_due()
    table = await app.gm.viewers.public(WORLD_ID)
    assert "The Betrayal" in {
        e.name for e in (await app.gm.visibility.map_for(WORLD_ID, table.user_id)).by_uuid.values()
    }

    world.entry(plot)["ownership"] = {"default": 0}  # the GM hides it in Foundry: the GM's tree is unchanged
    clock.advance(INTERVAL)
    assert await refresher.run_due() == {WORLD_ID: "unchanged"}

    seen = {e.name for e in (await app.gm.visibility.map_for(WORLD_ID, table.user_id)).by_uuid.values()}
    assert seen == {"Harbor"}
    [view_read] = [r for r in relay.log if r.query.get("userId") == table.user_id][-1:]
    assert view_read.path == "/structure"


async def test_changes_are_picked_up_without_a_refresh(env):
    app, refresher, clock, world, relay = env
    harbor = world.add_entry("Harbor")
    doomed = world.add_entry("Doomed")
    await refresher.run_due()

    world.rename_entry(harbor, "Port Royal")
    world.delete_entry(doomed)
    world.add_entry("Newcomer", folder=world.add_folder("NPCs"))
    clock.advance(INTERVAL)
    assert await refresher.run_due() == {WORLD_ID: "updated"}

    assert await names(app) == {"Port Royal": None, "Newcomer": "NPCs"}
    assert [e.name for e in await app.gm.maps.store.entries(WORLD_ID)] == ["Newcomer", "Port Royal"]


async def test_a_world_whose_tree_hides_folders_is_read_in_full_each_time(env):
    """The tree's digest can't show changes inside a folder it hides: such a world is never skipped."""
    app, refresher, clock, world, relay = env
    npcs = world.add_folder("NPCs")
    hidden = world.add_folder("Villains", parent=npcs)
    world.add_folder("Villains", parent=npcs)
    baron = world.add_entry("Baron", folder=hidden)
    await refresher.run_due()

    world.rename_entry(baron, "Baron Vrax")  # the tree does not show this folder: its digest is unchanged
    clock.advance(INTERVAL)
    assert await refresher.run_due() == {WORLD_ID: "updated"}
    assert await names(app) == {"Baron Vrax": "NPCs/Villains"}


async def test_a_refresh_or_a_push_rename_resets_the_clock(env):
    app, refresher, clock, world, relay = env
    world.add_entry("Harbor")
    await refresher.run_due()
    clock.advance(INTERVAL - 10)

    await app.gm.rebuilder.rebuild(WORLD_ID)  # what /refresh runs
    assert refresher.status(WORLD_ID).next_run == clock() + INTERVAL
    clock.advance(INTERVAL - 10)
    assert await refresher.run_due() == {}

    entry = next(iter((await app.gm.maps.get(WORLD_ID)).by_uuid.values()))
    await app.gm.maps.put(WORLD_ID, type(entry)(uuid=entry.uuid, name="Port", folder=None))  # what /push does
    assert refresher.status(WORLD_ID).next_run == clock() + INTERVAL


async def test_failures_are_logged_once_per_streak_and_shown_in_status(env, caplog):
    app, refresher, clock, world, relay = env
    world.add_entry("Harbor")
    await refresher.run_due()
    relay.fail_send("/structure", times=3)  # 3 runs (a failed send is not retried)

    with caplog.at_level(logging.INFO, logger="services.maps.background"):
        for _ in range(3):
            clock.advance(INTERVAL)
            assert await refresher.run_due() == {WORLD_ID: "failed"}
        state = refresher.status(WORLD_ID)
        assert state.failing and "Failed to send request to Foundry client" in state.last_error
        status = await status_report(app, None)
        line = {f.name: f.value for f in status.fields}["Background refresh"]
        assert "last error" in line and "Failed to send request" in line and "next in" in line

        clock.advance(INTERVAL)
        assert await refresher.run_due() == {WORLD_ID: "unchanged"}

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "failed" in warnings[0].getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)
    line = {f.name: f.value for f in (await status_report(app, None)).fields}["Background refresh"]
    assert "last error" not in line and "last success" in line


async def test_an_offline_world_pauses_and_catches_up(env):
    app, refresher, clock, world, relay = env
    world.add_entry("Harbor")
    await refresher.run_due()
    world.online = False
    clock.advance(INTERVAL)

    assert await refresher.run_due() == {WORLD_ID: "offline"}
    assert refresher.status(WORLD_ID).offline and not refresher.status(WORLD_ID).failing
    assert (
        "paused: the world is offline"
        in {f.name: f.value for f in (await status_report(app, None)).fields}["Background refresh"]
    )
    clock.advance(OFFLINE_RETRY)
    assert await refresher.run_due() == {WORLD_ID: "offline"}  # probed again after a minute, not an interval

    world.add_entry("Written while we were away")
    world.online = True
    clock.advance(OFFLINE_RETRY)
    assert await refresher.run_due() == {WORLD_ID: "updated"}
    assert "Written while we were away" in await names(app)


async def test_a_map_refreshed_before_a_restart_is_due_one_interval_after(env):
    app, refresher, clock, world, relay = env
    world.add_entry("Harbor")
    await app.gm.rebuilder.rebuild(WORLD_ID)
    fresh = BackgroundRefresher(app.gm, INTERVAL)  # a restarted bot: real clock, map refreshed just now
    assert await fresh.run_due() == {}
    assert fresh.status(WORLD_ID).next_run > fresh.clock() + INTERVAL - 60


async def test_background_and_commands_share_the_relay_budget(env):
    """A background refresh of a many-folder world and a burst of lookups at once: no 429 reaches anyone."""
    app, refresher, clock, world, relay = env
    uuids = [world.add_entry(f"Entry {i}", folder=world.add_folder(f"Folder {i:02d}")) for i in range(40)]
    for i in range(600):
        world.add_entry(f"Aaa filler {i:04d}")
    relay.enable_rate_limit(capacity=10, per_second=40)  # the relay's bucket, scaled down
    app.relay.pacer = Pacer(capacity=9, per_second=36)  # and the client's, as by default

    background = asyncio.create_task(refresher.run_due())
    entries = await asyncio.gather(*(app.relay.get_entry(u, client_id=WORLD_ID) for u in uuids[:20]))

    assert await background == {WORLD_ID: "updated"}
    assert [e.uuid for e in entries] == uuids[:20]
    assert len(await names(app)) == 640
    assert len(relay.log) > 60  # enough requests that an unpaced burst would have drawn a 429


async def test_the_loop_starts_and_stops(env):
    app, refresher, clock, world, relay = env
    world.add_entry("Harbor")
    refresher.start()
    for _ in range(200):
        if refresher.status(WORLD_ID) and refresher.status(WORLD_ID).last_result:
            break
        await asyncio.sleep(0.02)
    await refresher.stop()
    assert refresher.status(WORLD_ID).last_result == "updated"
    assert await names(app) == {"Harbor": None}


def test_refresh_interval_setting():
    assert load_settings(_env_file=None).refresh_interval == 900
    assert load_settings(_env_file=None, refresh_interval=0).refresh_interval == 0
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None, refresh_interval=5)
    assert "REFRESH_INTERVAL must be 0 (off) or at least 60 seconds" in caught.value.message


async def test_an_interval_of_zero_turns_it_off(env):
    app, refresher, clock, world, relay = env
    off = BackgroundRefresher(app.gm, 0)
    off.start()
    assert await off.run_due() == {} and relay.log == []
    line = {f.name: f.value for f in (await status_report(app, None)).fields}["Background refresh"]
    assert "every 15 min" in line  # the fixture's refresher; an off one would say "off"
    assert off._task is None


async def test_a_world_no_server_uses_any_more_is_no_longer_polled(tmp_path, relay, foundry):
    old, new = relay.add_world("client-old", "Last Year's Campaign"), relay.add_world("client-new", "This Year")
    old.add_entry("Harbor")
    new.add_entry("Castle")
    guild = 4242
    settings = make_settings(tmp_path, relay, foundry, discord_guild_id=str(guild))
    app = await App.open(settings)
    clock = Clock()
    refresher = app.refresher = BackgroundRefresher(app.gm, INTERVAL, clock=clock)
    try:
        await app.gm.world_choices.set(guild, "client-old", "Last Year's Campaign", None)
        assert await refresher.run_due() == {"client-old": "updated"}

        await app.gm.world_choices.set(guild, "client-new", "This Year", None)  # what /world does
        clock.advance(INTERVAL)
        before = len(relay.log)
        assert await refresher.run_due() == {"client-new": "updated"}
        clock.advance(10 * INTERVAL)
        assert await refresher.run_due() == {"client-new": "unchanged"}
        assert not [r for r in relay.log[before:] if r.query.get("clientId") == "client-old"]
        assert refresher.status("client-old") is None
    finally:
        await refresher.stop()
        await app.close()
