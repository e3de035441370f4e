"""Each server's own settings, on both backends: set, cleared, who set them and when, one server never another's."""

from __future__ import annotations

import pytest

from storage.guild_settings import GuildSettingsStore

SERVER_A, SERVER_B = 2**62 + 1, 2**62 + 2
ROLE = 2**63 - 10


async def test_settings_are_per_server_with_who_set_them(backend):
    db = await backend.open()
    store = GuildSettingsStore(db)
    try:
        assert (await store.get(SERVER_A)).empty
        await store.update(
            SERVER_A,
            {"relay_url": "https://relay.example.com", "gm_role_id": ROLE, "foundry_player": " Table "},
            set_by=501,
        )
        await store.update(SERVER_A, {"announce_channel_id": 900}, set_by=502)
        await store.update(SERVER_B, {"relay_url": "https://other.example.com"}, set_by=601)

        a = await store.get(SERVER_A)
        assert (a.relay_url, a.gm_role_id, a.foundry_player, a.announce_channel_id) == (
            "https://relay.example.com",
            ROLE,
            "Table",
            900,
        )
        assert a.maintainer_role_id is None and "maintainer_role_id" not in a.set_by
        assert a.set_by["gm_role_id"].member_id == 501 and a.set_by["announce_channel_id"].member_id == 502
        assert a.set_by["announce_channel_id"].at >= a.set_by["gm_role_id"].at > 0
        assert (await store.get(SERVER_B)).relay_url == "https://other.example.com"
        assert await store.guild_ids() == [SERVER_A, SERVER_B]
    finally:
        await db.close()


async def test_none_clears_one_setting_and_clear_forgets_a_server(backend):
    db = await backend.open()
    store = GuildSettingsStore(db)
    try:
        await store.update(SERVER_A, {"gm_role_id": 1, "maintainer_role_id": 2}, set_by=None)
        await store.update(SERVER_B, {"gm_role_id": 3}, set_by=None)
        await store.update(SERVER_A, {"gm_role_id": None}, set_by=7)
        a = await store.get(SERVER_A)
        assert a.gm_role_id is None and a.maintainer_role_id == 2
        assert await store.clear(SERVER_A) == 1
        assert (await store.get(SERVER_A)).empty
        assert (await store.get(SERVER_B)).gm_role_id == 3
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"relay_key": "x"}, "no server setting is called 'relay_key'"),
        ({"gm_role_id": "123"}, "gm_role_id must be a Discord id"),
        ({"gm_role_id": True}, "gm_role_id must be a Discord id"),
        ({"relay_url": "  "}, "relay_url must be non-empty text"),
    ],
)
async def test_a_bad_change_is_refused_before_anything_is_written(backend, changes, said):
    db = await backend.open()
    store = GuildSettingsStore(db)
    try:
        with pytest.raises(ValueError, match=said):
            await store.update(SERVER_A, {"foundry_player": "Table", **changes}, set_by=None)
        assert (await store.get(SERVER_A)).empty
    finally:
        await db.close()
