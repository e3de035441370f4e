"""Every relay failure reaches the user as one short sentence, through the real command tree."""

from __future__ import annotations

import socket

import pytest

from cogs.utils.errors import is_expected
from tests.conftest import WORLD_ID


@pytest.fixture
async def mapped(gm_env):
    gm_env.world.add_entry(
        "Harbor", flags={"campaign-codex": {"type": "location", "data": {"description": "<p>Salt.</p>"}}}
    )
    result = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    assert "Name map refreshed" in result.text
    return gm_env


CASES = [
    # (route, status, body, expected words in the reply)
    ("/get", 401, {"error": "Invalid API key"}, ["API key", "RELAY_API_KEY"]),
    ("/get", 403, {"error": "API key lacks required scope: entity:read"}, ["entity:read"]),
    ("/get", 404, {"error": "No connected Foundry clients found"}, ["No Foundry world is connected"]),
    ("/get", 404, {"error": "Invalid client ID"}, ["/world"]),
    (
        "/get",
        400,
        {
            "error": "Multiple clients connected. Please specify clientId.",
            "connectedClients": [{"clientId": "a", "worldTitle": "A"}, {"clientId": "b", "worldTitle": "B"}],
        },
        ["/world"],
    ),
    (
        "/get",
        400,
        {"type": "entity-result", "requestId": "x", "error": "Entity not found", "data": None},
        ["stale", "/refresh"],
    ),
    (
        "/get",
        400,
        {"type": "entity-result", "requestId": "x", "error": "Journal sheet exploded"},
        ["Journal sheet exploded"],
    ),
    ("/get", 429, {"error": "Too many API requests, please slow down"}, ["300 requests a minute"]),
    ("/get", 500, {"error": "Failed to send request to Foundry client"}, ["500"]),
    ("/get", 502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", ["502"]),
    ("/get", 200, "<html><body>Welcome to nginx</body></html>", ["RELAY_URL"]),
    ("/get", 200, None, ["RELAY_URL"]),
]


@pytest.mark.parametrize(
    ("route", "status", "body", "expected"), CASES, ids=[f"{c[1]}-{str(c[2])[:30]}" for c in CASES]
)
async def test_each_relay_failure_is_said_in_words_a_gm_can_act_on(mapped, route, status, body, expected):
    mapped.relay.force(route, status, body, times=2)
    result = await mapped.h.slash(mapped.player, mapped.channel, "lookup", name="Harbor")

    assert result.deferred
    text = result.text
    for words in expected:
        assert words in text, text
    assert "Traceback" not in text and "Exception" not in text
    assert len(text) < 1000  # one short message, not a dump
    # Only expected, user-facing errors: nothing crashed inside the bot.
    assert all(is_expected(e) for e in result.errors), result.errors


async def test_a_read_that_times_out_once_is_retried_and_succeeds(mapped):
    mapped.relay.force("/get", 408, {"error": "Request timed out"}, times=1)
    result = await mapped.h.slash(mapped.player, mapped.channel, "lookup", name="Harbor")
    assert "Salt." in result.text
    assert len(mapped.relay.requests("/get")) == 2


async def test_a_read_that_times_out_twice_says_foundry_did_not_answer(mapped):
    mapped.relay.force("/get", 504, {"error": "Request timed out"}, times=2)
    result = await mapped.h.slash(mapped.player, mapped.channel, "lookup", name="Harbor")
    assert "didn't answer" in result.text, result.text
    assert len(mapped.relay.requests("/get")) == 2


async def test_a_write_that_times_out_is_not_retried(mapped):
    import json

    from tests.helpers import run_until_button

    mapped.relay.force("/update", 408, {"error": "Request timed out"}, times=1)
    task, preview = await run_until_button(
        mapped.h,
        mapped.gm,
        mapped.channel,
        "push",
        name="Harbor",
        data=("x.json", json.dumps({"data": {"description": "<p>Tar.</p>"}}).encode()),
    )
    await mapped.h.click(mapped.gm, preview, label="Confirm")
    result = await task
    assert len(mapped.relay.requests("/update")) == 1
    assert "didn't answer" in result.text, result.text


@pytest.mark.parametrize("settings_overrides", [{"relay_timeout": 0.5}])
async def test_the_bots_own_timeout_ends_a_silent_relay_with_a_message(mapped):
    mapped.relay.add_latency("/get", 3.0)
    result = await mapped.h.slash(mapped.player, mapped.channel, "lookup", name="Harbor")
    assert result.deferred  # acknowledged first, then the bot's own deadline ended the wait
    assert "didn't answer" in result.text, result.text


async def test_a_relay_that_refuses_connections_is_reported(mapped):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    mapped.app.relay._base = f"http://127.0.0.1:{closed_port}"
    result = await mapped.h.slash(mapped.player, mapped.channel, "lookup", name="Harbor")
    assert "reach" in result.text.lower() or "unavailable" in result.text.lower() or "connect" in result.text.lower()


async def test_commands_acknowledge_at_once_however_slow_the_relay_is(mapped):
    mapped.relay.add_latency("/get", 1.0)
    mapped.relay.add_latency("/search", 1.0)
    for who, command, options in [
        (mapped.player, "lookup", {"name": "Harbor"}),
        (mapped.gm, "refresh", {}),
    ]:
        result = await mapped.h.slash(who, mapped.channel, command, **options)
        assert result.deferred, command  # acknowledged first; the answer followed the slow relay


async def test_client_id_is_a_query_parameter_never_a_header(mapped):
    mapped.bot.settings.relay_client_id = WORLD_ID
    await mapped.h.slash(mapped.player, mapped.channel, "lookup", name="Harbor")
    for request in mapped.relay.requests("/get"):
        assert request.query.get("clientId") == WORLD_ID
        assert not any(k.lower() == "clientid" for k in request.headers)
