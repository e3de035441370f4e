"""Per-server secrets sealed with SECRETS_KEY, on both backends: what a copy of the database reveals (nothing),
what a wrong key does at start (one line naming SECRETS_KEY), and `python bot.py secrets rotate`."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from core.sealing import SealError, SealingKey, new_key_text
from storage.secrets import RELAY_KEY, RELEASE_TOKEN, SecretsKeyError, SecretStore, SecretUnreadable
from tests.cli_runner import run_bot

KEY = new_key_text()
OTHER_KEY = new_key_text()
SERVER_A, SERVER_B = 111_111_111_111_111_111, 222_222_222_222_222_222
RELAY_SECRET = "relay-scoped-key-7c1e9a0b2d4f6e8a"
TOKENS = {"my-module": "fvttp_5b7d9f1a3c5e7b9d1f3a5c7e", "other-module": "fvttp_0a9b8c7d6e5f4a3b2c1d0e9f"}
ALL_SECRETS = (RELAY_SECRET, *TOKENS.values(), KEY, OTHER_KEY)


def windows(secret: str, size: int = 12) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)} | {secret}


async def _fill(store: SecretStore) -> None:
    await store.put(SERVER_A, RELAY_KEY, "", SecretStr(RELAY_SECRET), set_by=42)
    for package, token in TOKENS.items():
        await store.put(SERVER_A, RELEASE_TOKEN, package, SecretStr(token), set_by=43, role_id=7)
    await store.put(SERVER_B, RELAY_KEY, "", SecretStr("relay-key-of-server-b-000111"), set_by=44)


async def test_secrets_come_back_and_a_copy_of_the_database_reveals_none(backend):
    db = await backend.open()
    try:
        store = SecretStore(db, SealingKey.from_text(KEY))
        await _fill(store)
        assert (await store.get(SERVER_A, RELAY_KEY)).get_secret_value() == RELAY_SECRET
        assert (await store.get(SERVER_A, RELEASE_TOKEN, "my-module")).get_secret_value() == TOKENS["my-module"]
        assert (await store.get(SERVER_B, RELAY_KEY)).get_secret_value() == "relay-key-of-server-b-000111"
        assert await store.get(SERVER_B, RELEASE_TOKEN, "my-module") is None  # one server's tokens only
    finally:
        await db.close()
    stored = await backend.everything_stored()
    assert b"my-module" in stored and b"other-module" in stored  # the scan reads what was written
    for secret in ALL_SECRETS:
        for piece in windows(secret):
            for encoding in ("utf-8", "utf-16-le"):
                assert piece.encode(encoding) not in stored, f"a fragment of a secret is stored ({piece[:4]}…)"


async def test_listing_names_packages_setters_and_dates_never_values(backend):
    db = await backend.open()
    try:
        store = SecretStore(db, SealingKey.from_text(KEY))
        await _fill(store)
        listed = await store.list(SERVER_A, RELEASE_TOKEN)
        assert [(i.name, i.set_by, i.role_id) for i in listed] == [("my-module", 43, 7), ("other-module", 43, 7)]
        assert all(i.set_at > 0 for i in listed)
        shown = repr(await store.list(SERVER_A))
        assert not any(secret in shown for secret in ALL_SECRETS)
        assert SecretStore(db, None) and [i.name for i in await SecretStore(db, None).list(SERVER_B)] == [""]
        assert await store.remove(SERVER_A, RELEASE_TOKEN, "my-module") is True
        assert await store.remove(SERVER_A, RELEASE_TOKEN, "my-module") is False
        assert await store.clear(SERVER_A) == 2
        assert await store.list(SERVER_A) == [] and len(await store.list(SERVER_B)) == 1
    finally:
        await db.close()


async def test_a_sealed_value_moved_to_another_server_does_not_open_there(backend):
    db = await backend.open()
    try:
        store = SecretStore(db, SealingKey.from_text(KEY))
        await _fill(store)
        async with db.transaction() as tx:  # someone with write access to the database swaps the values
            (sealed,) = await tx.fetchone(
                "SELECT sealed FROM guild_secrets WHERE guild_id = ? AND kind = ?", (SERVER_A, RELAY_KEY)
            )
            await tx.execute(
                "UPDATE guild_secrets SET sealed = ? WHERE guild_id = ? AND kind = ?", (sealed, SERVER_B, RELAY_KEY)
            )
        with pytest.raises(SecretUnreadable) as raised:
            await store.get(SERVER_B, RELAY_KEY)
        assert "does not open" in raised.value.message and RELAY_SECRET not in raised.value.message
    finally:
        await db.close()


async def test_start_up_with_a_wrong_or_missing_key_names_secrets_key(backend):
    db = await backend.open()
    try:
        await SecretStore(db, None).check_key()  # nothing stored: no key needed
        await _fill(SecretStore(db, SealingKey.from_text(KEY)))
        await SecretStore(db, SealingKey.from_text(KEY)).check_key()
        with pytest.raises(SecretsKeyError) as wrong:
            await SecretStore(db, SealingKey.from_text(OTHER_KEY)).check_key()
        assert wrong.value.message.startswith("SECRETS_KEY is not the key the stored secrets were sealed with")
        with pytest.raises(SecretsKeyError) as missing:
            await SecretStore(db, None).check_key()
        assert missing.value.message.startswith("SECRETS_KEY is not set, but the database holds 4 sealed secret")
        for message in (wrong.value.message, missing.value.message):
            assert "\n" not in message and not any(secret in message for secret in ALL_SECRETS)
        with pytest.raises(SecretsKeyError):
            await SecretStore(db, None).put(SERVER_A, RELAY_KEY, "", SecretStr("x" * 20), set_by=None)
    finally:
        await db.close()


async def test_rotation_reseals_everything_or_nothing(backend):
    db = await backend.open()
    old, new = SealingKey.from_text(KEY), SealingKey.from_text(OTHER_KEY)
    try:
        await _fill(SecretStore(db, old))
        before = await backend.everything_stored()
        # One value sealed by a key this process does not hold: the rotation must stop and change nothing.
        async with db.transaction() as tx:
            await tx.execute("UPDATE guild_secrets SET key_id = ? WHERE guild_id = ?", ("f" * 16, SERVER_B))
        with pytest.raises(SecretsKeyError) as raised:
            await SecretStore(db, old).rotate(new)
        assert "nothing was re-sealed" in raised.value.message
        rows = await db.fetchall("SELECT key_id FROM guild_secrets WHERE guild_id = ?", (SERVER_A,))
        assert {r[0] for r in rows} == {old.key_id}
        assert (await SecretStore(db, old).get(SERVER_A, RELAY_KEY)).get_secret_value() == RELAY_SECRET

        await SecretStore(db, old).remove(SERVER_B, RELAY_KEY)
        assert await SecretStore(db, old).rotate(new) == 3
        rows = await db.fetchall("SELECT key_id FROM guild_secrets")
        assert {r[0] for r in rows} == {new.key_id}
        assert (await SecretStore(db, new).get(SERVER_A, RELAY_KEY)).get_secret_value() == RELAY_SECRET
        with pytest.raises(SecretsKeyError):
            await SecretStore(db, old).check_key()
        assert await backend.everything_stored() != before
    finally:
        await db.close()


def test_a_sealed_value_opens_only_with_its_key_in_its_place():
    key = SealingKey.from_text(KEY)
    sealed = key.seal(b"token", b"server-1")
    assert key.open(sealed, b"server-1") == b"token"
    assert sealed != key.seal(b"token", b"server-1")  # a fresh nonce each time
    for bad in (
        lambda: key.open(sealed, b"server-2"),
        lambda: SealingKey.from_text(OTHER_KEY).open(sealed, b"server-1"),
        lambda: key.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"server-1"),
        lambda: key.open(b"", b"server-1"),
    ):
        with pytest.raises(SealError):
            bad()
    assert KEY not in repr(key) and key.key_id in repr(key)
    assert SealingKey.from_text(KEY).key_id == key.key_id != SealingKey.from_text(OTHER_KEY).key_id
    for malformed in ("", "short", KEY[:-4], KEY + "AAAA"):
        with pytest.raises(ValueError, match="must be 32 random bytes"):
            SealingKey.from_text(malformed)


# --- the command line and start-up -----------------------------------------------------------------------


async def test_rotate_from_the_command_line_then_only_the_new_key_starts(backend, tmp_path):
    db = await backend.open()
    try:
        await _fill(SecretStore(db, SealingKey.from_text(KEY)))
    finally:
        await db.close()
    env = {**backend.env(), "SECRETS_KEY": KEY}

    made = await run_bot("secrets", "new-key", env={}, cwd=tmp_path)
    new_key = made.out.strip()
    assert made.code == 0 and SealingKey.from_text(new_key)
    rotated = await run_bot("secrets", "rotate", "--new-key", "-", env=env, cwd=tmp_path, stdin=new_key.encode())
    assert rotated.code == 0, rotated.err
    assert "Re-sealed 4 stored secret(s)" in rotated.out and new_key not in rotated.out + rotated.err

    old = await run_bot("status", env=env, cwd=tmp_path)
    assert old.code == 2 and "Traceback" not in old.err
    [line] = old.err.strip().splitlines()
    assert line.startswith("Configuration error: SECRETS_KEY is not the key the stored secrets were sealed with")
    assert KEY not in line and new_key not in line

    fresh = await run_bot("status", env={**env, "SECRETS_KEY": new_key}, cwd=tmp_path)
    assert fresh.code == 0, fresh.err
    db = await backend.open()
    try:
        store = SecretStore(db, SealingKey.from_text(new_key))
        assert (await store.get(SERVER_A, RELAY_KEY)).get_secret_value() == RELAY_SECRET
    finally:
        await db.close()


async def test_rotate_refuses_a_malformed_or_unchanged_key_and_changes_nothing(tmp_path):
    env = {"DATABASE_PATH": str(tmp_path / "bot.sqlite3"), "SECRETS_KEY": KEY}
    for new_key, said in ((KEY, "already holds"), ("not-a-key", "must be 32 random bytes")):
        run = await run_bot("secrets", "rotate", "--new-key", new_key, env=env, cwd=tmp_path)
        assert run.code == 2 and said in run.err and "Traceback" not in run.err
    without = await run_bot("secrets", "rotate", "--new-key", OTHER_KEY, env={**env, "SECRETS_KEY": ""}, cwd=tmp_path)
    assert without.code == 2 and "SECRETS_KEY is not set" in without.err


@pytest.mark.parametrize("case", ["wrong", "missing", "malformed"])
async def test_the_bot_does_not_start_with_a_bad_secrets_key_and_says_so_in_one_line(backend, tmp_path, case):
    db = await backend.open()
    try:
        await _fill(SecretStore(db, SealingKey.from_text(KEY)))
    finally:
        await db.close()
    key = {"wrong": OTHER_KEY, "missing": "", "malformed": KEY[:20]}[case]
    env = {
        **backend.env(),
        "DISCORD_TOKEN": "discord-token-never-used",
        "DISCORD_GUILD_ID": "1",
        "RELEASE_TOKENS": '{"my-module": "fvttp_5b7d9f1a3c5e7b9d1f3a5c7e"}',
        "SECRETS_KEY": key,
        "DISCORD_API_BASE": "http://127.0.0.1:9/api",  # never reached: the database check comes first
    }
    run = await run_bot(env=env, cwd=tmp_path)
    assert run.code == 2 and "Traceback" not in run.err
    [line] = run.err.strip().splitlines()
    assert "SECRETS_KEY" in line
    assert not any(piece in line for secret in (KEY, OTHER_KEY) for piece in windows(secret, 10))
