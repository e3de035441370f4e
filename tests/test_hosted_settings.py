"""DATABASE_URL, SECRETS_KEY, HOSTED, SHARD_COUNT and SHARD_IDS: each mistake named in one line, no value echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from core.errors import ConfigurationError
from core.logsafe import secret_values
from core.sealing import new_key_text
from core.settings import load_settings
from tests.cli_runner import run_bot

PASSWORD = "pg-password-0c9d8e7f"
KEY = new_key_text()


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"database_url": f"mysql://bot:{PASSWORD}@db/bot"}, "DATABASE_URL must be a postgresql:// URL"),
        ({"database_url": f"postgresql://bot:{PASSWORD}@db:port/bot"}, "DATABASE_URL is not a valid URL"),
        ({"secrets_key": KEY[:30]}, "SECRETS_KEY must be 32 random bytes in URL-safe base64"),
        ({"secrets_key": PASSWORD}, "SECRETS_KEY must be 32 random bytes in URL-safe base64"),
        ({"hosted": "perhaps"}, "HOSTED must be true or false"),
        ({"hosted": "true"}, "HOSTED=true needs SECRETS_KEY"),
        ({"shard_count": "0"}, "SHARD_COUNT must be at least 1"),
        ({"shard_ids": "0,x"}, "SHARD_IDS must be shard numbers separated by commas: item 2 is not a number"),
        ({"shard_ids": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"shard_count": "2", "shard_ids": "0,2"}, "SHARD_IDS item 2 is not below SHARD_COUNT (2)"),
        ({"shard_count": "4", "shard_ids": "1,1"}, "SHARD_IDS item 2 repeats shard 1"),
        ({"shard_count": "4", "shard_ids": "0,1"}, "SHARD_IDS leaves some shards to other processes"),
    ],
)
def test_each_mistake_is_named_without_its_value(monkeypatch, tmp_path, values, said):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as raised:
        load_settings(**values)
    message = raised.value.message
    assert message.startswith(said), message
    assert PASSWORD not in message and KEY[:30] not in message and "\n" not in message


def test_hosted_with_postgresql_and_a_share_of_the_shards(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    url = f"postgresql://bot:{PASSWORD}@db.internal:5432/bot"
    settings = load_settings(database_url=url, secrets_key=KEY, hosted="yes", shard_count="4", shard_ids=" 2, 3 ")
    assert settings.hosted is True and settings.shard_count == 4 and settings.shard_ids == (2, 3)
    assert isinstance(settings.database_location, SecretStr)
    assert settings.database_location.get_secret_value() == url and PASSWORD not in repr(settings)
    assert settings.sealing_key.key_id and KEY not in repr(settings)


def test_the_key_the_database_url_and_its_password_are_redacted_from_logs(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    url = f"postgresql://bot:{PASSWORD}@db.internal:5432/bot"
    redacted = secret_values(load_settings(database_url=url, secrets_key=KEY))
    assert {KEY, url, PASSWORD} <= set(redacted)


def test_without_any_of_them_the_bot_keeps_its_sqlite_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(database_url="", secrets_key="", hosted="", shard_count="", shard_ids="")
    assert settings.database_location == Path("data/bot.sqlite3")
    assert settings.sealing_key is None and settings.hosted is False
    assert settings.shard_count is None and settings.shard_ids == ()
    # Shards in one process need no shared database.
    assert load_settings(shard_count="3").shard_ids == ()


async def test_the_bot_names_an_unreachable_database_url_in_one_line(tmp_path):
    env = {
        "DISCORD_TOKEN": "discord-token-never-used",
        "DISCORD_GUILD_ID": "1",
        "RELEASE_TOKENS": '{"my-module": "fvttp_5b7d9f1a3c5e7b9d1f3a5c7e"}',
        "DATABASE_URL": f"postgresql://bot:{PASSWORD}@127.0.0.1:1/bot",
    }
    run = await run_bot(env=env, cwd=tmp_path)
    assert run.code == 2 and "Traceback" not in run.err
    [line] = run.err.strip().splitlines()
    assert line.startswith("Database error: Cannot connect to the PostgreSQL database at 127.0.0.1:1/bot")
    assert PASSWORD not in line
