"""A secret pasted into the wrong place of a setting is never printed: messages name the setting and position."""

from __future__ import annotations

import json

import pytest

from core.errors import ConfigurationError
from core.settings import load_settings
from tests.cli_runner import run_bot

TOKEN = "fvttp_9c2e4a6b8d0f1e3a5c7b9d1f"
DISCORD = "MTE4NjA2NzQ1NjQ3ODk2MzcxMg.GhYq3x.abcdefghijklmnopqrstuvwxyz0123456789AB"


async def test_release_tokens_written_backwards_name_the_item_not_the_token(tmp_path):
    env = {"DISCORD_TOKEN": "t", "DISCORD_GUILD_ID": "1", "RELEASE_TOKENS": json.dumps({TOKEN: "my-module"})}
    run = await run_bot(env=env, cwd=tmp_path)
    assert run.code == 2
    assert "RELEASE_TOKENS item 1" in run.err and "wrong way round" in run.err
    assert TOKEN[6:] not in run.err and TOKEN[-12:] not in run.err


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"maintainer_role": json.dumps({"my-module": TOKEN})}, "The value of item 1 of MAINTAINER_ROLE"),
        ({"maintainer_role": json.dumps({"*": "Devs", TOKEN: "Devs"})}, "The key of item 2 of MAINTAINER_ROLE"),
        ({"gm_role": TOKEN}, "GM_ROLE"),
        ({"foundry_player": DISCORD}, "FOUNDRY_PLAYER"),
        ({"relay_client_id": "the-relay-key-1234", "relay_api_key": "the-relay-key-1234"}, "RELAY_CLIENT_ID"),
        ({"gm_role": "prefix " + DISCORD}, "GM_ROLE"),
    ],
)
def test_a_secret_in_a_shown_setting_is_named_by_position_never_printed(monkeypatch, tmp_path, values, named):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as raised:
        load_settings(**values)
    message = raised.value.message
    assert message.startswith(named) and "looks like a secret" in message
    for secret in (TOKEN, DISCORD, "the-relay-key-1234"):
        assert secret not in message and secret[-10:] not in message


def test_ordinary_values_are_not_mistaken_for_secrets(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        gm_role="Game Master", foundry_player="Table", maintainer_role=json.dumps({"my-module": "Devs"})
    )
    assert settings.foundry_player == "Table"
