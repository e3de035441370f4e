"""Living within a hosted relay's monthly quota, as a GM meets it: every command once the month is spent
(Discord and the command line), the background refresh's pause and budget, the bot's own request count,
the 80 % warning. The stand-in relay enforces the limits as the relay does; the bot runs on a fixed clock."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest

from core.settings import Settings
from services.maps.background import BackgroundRefresher
from services.relay_budget import budgeted_interval, interval_cost
from services.resources import App
from services.status import status_report
from storage import StorageError
from tests.cli_runner import run_bot
from tests.conftest import RELAY_KEY, WORLD_ID, make_settings

SPENT = (
    "The relay account has used its 5,000 requests for this month, so “Harbor” can't be read this month; "
    "lookups work again on 1 January (UTC), or with a paid relay plan."
)


class Clock:
    def __init__(self, when: datetime):
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def to(self, when: datetime) -> None:
        self.now = when.timestamp()


@pytest.fixture
def bot_clock():
    return Clock(datetime(2025, 12, 20, 18, 0, tzinfo=UTC))


@pytest.fixture
def settings_overrides():
    return {"relay_monthly_limit": 5000, "relay_client_id": WORLD_ID}


@pytest.fixture
async def mapped(gm_env):
    gm_env.world.add_entry(
        "Harbor",
        flags={"campaign-codex": {"type": "location", "data": {"description": "<p>Salt and tar.</p>"}}},
        ownership={"default": 2},
    )
    refreshed = await gm_env.h.slash(gm_env.gm, gm_env.channel, "refresh")
    assert "Name map refreshed" in refreshed.text
    return gm_env


def push_file(obj) -> tuple[str, bytes]:
    return ("codex.json", json.dumps(obj).encode())


def first_line(result) -> str:
    """The first line of the message that answers (a progress message may come before it)."""
    answers = [m.text for m in result.messages if m.text and not m.text.startswith("Refreshing")]
    return answers[-1].splitlines()[0] if answers else ""


# --- every command once the month is spent ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "command", "options", "expected"),
    [
        ("gm", "lookup", {"name": "Harbor"}, SPENT),
        ("player", "lookup", {"name": "Harbor"}, SPENT),
        (
            "gm",
            "refresh",
            {},
            "The relay account has used its 5,000 requests for this month; refreshes work again on 1 January (UTC), "
            "or with a paid relay plan.",
        ),
        (
            "gm",
            "push",
            {"name": "Harbor", "data": push_file({"data": {"description": "<p>x</p>"}})},
            "The relay account has used its 5,000 requests for this month, so “Harbor” can't be read this month; "
            "pushes work again on 1 January (UTC), or with a paid relay plan.",
        ),
        (
            "gm",
            "reveal",
            {"name": "Harbor"},
            "The relay account has used its 5,000 requests for this month, so “Harbor” can't be read this month; "
            "reveals work again on 1 January (UTC), or with a paid relay plan.",
        ),
        (
            "gm",
            "hide",
            {"name": "Harbor"},
            "The relay account has used its 5,000 requests for this month, so “Harbor” can't be read this month; "
            "hides work again on 1 January (UTC), or with a paid relay plan.",
        ),
        (
            "gm",
            "world",
            {},
            "The relay account has used its 5,000 requests for this month; world choices work again on 1 January "
            "(UTC), or with a paid relay plan.",
        ),
    ],
    ids=["gm-lookup", "player-lookup", "refresh", "push", "reveal", "hide", "world"],
)
async def test_every_command_says_the_month_is_spent_and_until_when(mapped, who, command, options, expected):
    env = mapped
    env.relay.set_monthly_limit(5000, used=5000)
    before = len(env.relay.log)
    result = await env.h.slash(getattr(env, who), env.channel, command, **options)
    assert first_line(result) == expected
    assert "minute" not in result.text and "try again" not in result.text
    assert len(env.relay.log) - before <= 1  # one refused request: no retry, no wait


async def test_players_list_and_autocomplete_still_answer_from_what_the_bot_knows(mapped):
    env = mapped
    env.relay.set_monthly_limit(5000, used=5000)
    choices = await env.h.autocomplete(env.player, env.channel, "lookup", "name", "Har")
    assert [c["name"] for c in choices] == ["Harbor"]
    choices = await env.h.autocomplete(env.gm, env.channel, "lookup", "name", "Har")
    assert [c["name"] for c in choices] == ["Harbor"]
    missing = await env.h.slash(env.player, env.channel, "lookup", name="Atlantis")
    assert first_line(missing).startswith("No entry named “Atlantis”")  # the map answers that, not the relay


async def test_status_says_the_month_is_spent(mapped):
    env = mapped
    env.relay.set_monthly_limit(5000, used=5000)
    await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    status = await env.h.slash(env.gm, env.channel, "status")
    assert (
        "The relay account has used its 5,000 requests for this month; lookups and refreshes work again on "
        "1 January (UTC), or with a paid relay plan." in status.text
    )
    assert "Name map" in status.text and "1 entries" in status.text  # the rest of the report still comes


async def test_a_scoped_keys_own_limit_is_told_apart(mapped):
    env = mapped
    env.relay.set_key_monthly_limit(RELAY_KEY, 200, used=200)
    result = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    assert first_line(result).startswith(
        "The relay API key has used up its own monthly request limit, so “Harbor” can't be read this month; "
        "lookups work again on 1 January (UTC)"
    )


async def test_commands_are_never_refused_by_the_bots_own_count(mapped):
    env = mapped
    await env.app.budget.store.add({"2025-12": (7000, 0)})
    await env.app.budget.load()
    assert env.app.budget.usage().requests >= 7000  # over RELAY_MONTHLY_LIMIT by the bot's count
    result = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    assert "Salt and tar." in result.text


# --- the 80 % warning -----------------------------------------------------------------------------------


async def test_at_80_percent_a_gm_is_told_once_a_day_and_status_warns(mapped, bot_clock):
    env = mapped
    budget = env.app.budget
    await budget.store.add({"2025-12": (4000, 1200)})
    await budget.load()

    first = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    notes = [m for m in first.followups if m.text.startswith("Heads-up")]
    assert len(notes) == 1 and notes[0].ephemeral
    assert notes[0].text.startswith("Heads-up: the bot has used 4,0")
    assert "of the relay's 5,000 requests this month (80 %)" in notes[0].text

    again = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    assert not [m for m in again.followups if m.text.startswith("Heads-up")]
    played = await env.h.slash(env.player, env.channel, "lookup", name="Harbor")
    assert not [m for m in played.messages if "Heads-up" in m.text]  # players are not told
    assert not [m for m in env.h.messages_in(env.channel) if "Heads-up" in m.text and not m.ephemeral]

    bot_clock.advance(86_400)
    next_day = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    assert [m for m in next_day.followups if m.text.startswith("Heads-up")]

    status = await env.h.slash(env.gm, env.channel, "status")
    assert "of 5,000 this month; at this pace" in status.text and "by the 31st" in status.text
    assert "Over 80 % of the month's limit" in status.text


async def test_below_80_percent_nobody_is_warned(mapped):
    env = mapped
    await env.app.budget.store.add({"2025-12": (3000, 0)})
    await env.app.budget.load()
    result = await env.h.slash(env.gm, env.channel, "lookup", name="Harbor")
    assert not [m for m in result.followups if "Heads-up" in m.text]
    status = await env.h.slash(env.gm, env.channel, "status")
    assert "Over 80 %" not in status.text


# --- the count -----------------------------------------------------------------------------------------


@pytest.fixture
async def app_env(tmp_path, relay, foundry):
    world = relay.add_world(WORLD_ID, "Ashes of the Valley")
    world.add_user("Table")
    world.add_entry("Harbor", ownership={"default": 2})
    clock = Clock(datetime(2025, 12, 10, 12, 0, tzinfo=UTC))
    settings = make_settings(tmp_path, relay, foundry, relay_client_id=WORLD_ID, relay_monthly_limit=5000)
    app = await App.open(settings, clock=clock)
    refresher = app.refresher = BackgroundRefresher(app.gm, 900.0, clock=clock, budget=app.budget)
    try:
        yield app, refresher, clock, world, relay, settings
    finally:
        await refresher.stop()
        await app.close()


def saved_rows(settings) -> list[tuple]:
    with sqlite3.connect(settings.database_path) as conn:
        return conn.execute("SELECT month, requests, background FROM relay_requests ORDER BY month").fetchall()


async def test_the_count_is_saved_in_batches_and_at_close(app_env):
    app, refresher, clock, world, relay, settings = app_env
    await refresher.run_due()  # background: the tree, the users, the player's tree
    background = relay.requests_this_month
    world_obj = await app.gm.resolve_world(None)
    await app.gm.lookup(world_obj, "Harbor")
    counted = relay.requests_this_month
    assert background >= 3 and counted > background
    assert app.budget.usage().requests == counted and app.budget.usage().background == background
    assert saved_rows(settings) == []  # nothing written per request

    await app.budget.flush()
    assert saved_rows(settings) == [("2025-12", counted, background)]
    await app.gm.lookup(world_obj, "Harbor")
    await app.close()  # the last batch goes at close
    assert saved_rows(settings) == [("2025-12", relay.requests_this_month, background)]

    reopened = await App.open(settings, clock=clock)  # a restart keeps the month's count
    try:
        assert reopened.budget.usage().requests == relay.requests_this_month
    finally:
        await reopened.close()


async def test_a_busy_database_costs_a_command_nothing_and_loses_no_count(app_env, caplog):
    app, refresher, clock, world, relay, settings = app_env
    store = app.budget.store
    real_add = store.add

    async def busy(counts):
        raise StorageError("The bot's database is busy right now; nothing was changed.", temporary=True)

    await refresher.run_due()
    store.add = busy
    world_obj = await app.gm.resolve_world(None)
    await app.gm.lookup(world_obj, "Harbor")
    await app.budget.flush()
    await app.budget.flush()
    assert sum("Could not save the relay request count" in r.message for r in caplog.records) == 1  # once a streak
    store.add = real_add
    await app.budget.flush()
    [(month, requests, _background)] = saved_rows(settings)
    assert (month, requests) == ("2025-12", relay.requests_this_month)


async def test_the_count_starts_again_on_the_first(app_env):
    app, refresher, clock, world, relay, settings = app_env
    await refresher.run_due()
    world_obj = await app.gm.resolve_world(None)
    await app.gm.lookup(world_obj, "Harbor")
    december, background = app.budget.usage().requests, app.budget.usage().background
    clock.to(datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC))
    assert app.budget.usage().requests == 0 and app.budget.usage().month == "2026-01"
    await app.gm.lookup(world_obj, "Harbor")
    await app.budget.flush()
    assert saved_rows(settings) == [("2025-12", december, background), ("2026-01", 1, 0)]


# --- the background refresh ------------------------------------------------------------------------------


async def test_the_background_pauses_until_the_first_probing_once_a_day(app_env):
    app, refresher, clock, world, relay, settings = app_env
    assert await refresher.run_due() == {WORLD_ID: "updated"}
    relay.set_monthly_limit(5000, used=5000)
    clock.advance(refresher.every)
    assert await refresher.run_due() == {WORLD_ID: "paused"}
    report = await status_report(app, None)
    line = next(f.value for f in report.fields if f.name == "Background refresh")
    assert "paused until 1 January (UTC): the relay's requests for this month are used up" in line
    assert "tried once a day" in line
    requests = next(f.value for f in report.fields if f.name == "Relay requests")
    assert requests.startswith("The relay account has used its 5,000 requests for this month;")

    sent = len(relay.log)
    for _ in range(6):  # every loop turn for the rest of the day: nothing sent
        clock.advance(3 * 3600)
        await refresher.run_due()
    assert len(relay.log) == sent
    clock.advance(6 * 3600)  # a day after the refusal: one probe
    assert await refresher.run_due() == {WORLD_ID: "paused"}
    assert len(relay.log) == sent + 1

    clock.to(datetime(2026, 1, 1, 0, 0, tzinfo=UTC))  # the relay resets its counters
    relay.new_month()
    assert await refresher.run_due() == {WORLD_ID: "unchanged"}
    report = await status_report(app, None)
    assert "paused" not in next(f.value for f in report.fields if f.name == "Background refresh")


async def test_an_upgraded_account_resumes_at_the_next_daily_probe(app_env):
    app, refresher, clock, world, relay, settings = app_env
    await refresher.run_due()
    relay.set_monthly_limit(5000, used=5000)
    clock.advance(refresher.every)
    assert await refresher.run_due() == {WORLD_ID: "paused"}
    relay.set_monthly_limit(0)  # a paid plan: unlimited
    clock.advance(86_400)
    assert await refresher.run_due() == {WORLD_ID: "unchanged"}


def test_the_interval_formula():
    # One world with FOUNDRY_PLAYER: 3 requests an interval; a third of 5,000 over 31 days.
    assert interval_cost([1]) == 3 and interval_cost([0, 2]) == 1 + 5
    assert budgeted_interval(900, 3, 5000) == 4822  # 80 minutes: 555 intervals, 1,666 requests
    assert budgeted_interval(900, 1, 5000) == 1608
    assert budgeted_interval(7200, 3, 5000) == 7200  # a longer REFRESH_INTERVAL stays
    assert budgeted_interval(900, 3, None) == 900
    month = 31 * 86_400
    assert month / budgeted_interval(900, 3, 5000) * 3 <= 5000 / 3


async def test_the_budget_stretches_the_interval_and_status_says_why(app_env):
    app, refresher, clock, world, relay, settings = app_env
    assert await refresher.run_due() == {WORLD_ID: "updated"}
    assert refresher.every == budgeted_interval(900, 3, 5000)  # FOUNDRY_PLAYER is one player view
    assert refresher.status(WORLD_ID).next_run == clock() + refresher.every
    line = next(f.value for f in (await status_report(app, None)).fields if f.name == "Background refresh")
    assert line.startswith("every 80 min (REFRESH_INTERVAL is 15 min: stretched so the background spends")

    await app.gm.viewers.links.link(1, WORLD_ID, 42, world.add_user("Ana"), "Ana", None)
    clock.advance(refresher.every)
    await refresher.run_due()
    assert refresher.every == budgeted_interval(900, 5, 5000)

    # A month of these intervals stays inside a third of the limit, by the stand-in's own count.
    clock.advance(refresher.every)
    before = relay.requests_this_month
    assert await refresher.run_due() == {WORLD_ID: "unchanged"}
    per_interval = relay.requests_this_month - before
    assert per_interval <= interval_cost([2])
    assert 31 * 86_400 / refresher.every * per_interval <= 5000 / 3


async def test_no_limit_no_stretch(tmp_path, relay, foundry):
    relay.add_world(WORLD_ID, "Ashes")
    settings = make_settings(tmp_path, relay, foundry, relay_client_id=WORLD_ID)
    assert settings.monthly_limit is None  # not the public relay, no RELAY_MONTHLY_LIMIT
    app = await App.open(settings)
    try:
        refresher = BackgroundRefresher(app.gm, 900.0, budget=app.budget)
        await refresher.run_due()
        assert refresher.every == 900.0
        requests = next(f.value for f in (await status_report(app, None)).fields if f.name == "Relay requests")
        assert "this month; no monthly limit" in requests and "of 5,000" not in requests
    finally:
        await app.close()


def test_the_public_relay_gets_5000_by_default():
    public = Settings(_env_file=None, relay_url="https://foundryrestapi.com")
    assert public.monthly_limit == 5000
    assert (
        Settings(_env_file=None, relay_url="https://foundryrestapi.com", relay_monthly_limit="0").monthly_limit is None
    )
    assert Settings(_env_file=None, relay_url="https://relay.example.org").monthly_limit is None
    assert Settings(
        _env_file=None, relay_url="https://relay.example.org", relay_monthly_limit="20000"
    ).monthly_limit == (20000)
    assert Settings(_env_file=None, relay_url="https://foundryrestapi.com.evil.example").monthly_limit is None


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture
async def cli(tmp_path, relay):
    world = relay.add_world(WORLD_ID, "Ashes of the Valley", online=True)
    world.add_entry("Harbor", ownership={"default": 2})
    env = {
        "RELAY_URL": relay.base_url,
        "RELAY_API_KEY": RELAY_KEY,
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        "RELAY_MONTHLY_LIMIT": "5000",
        "RELAY_CLIENT_ID": WORLD_ID,
    }

    async def run(*args: str, **extra: str):
        return await run_bot(*args, env={**env, **extra}, cwd=tmp_path)

    run.relay, run.world, run.tmp = relay, world, tmp_path
    refreshed = await run("refresh")
    assert refreshed.code == 0, refreshed.err
    return run


def next_first() -> str:
    now = datetime.now(UTC)
    return f"1 {datetime(now.year + (now.month == 12), now.month % 12 + 1, 1):%B}"


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("lookup", "Harbor"), "lookups"),
        (("refresh",), "refreshes"),
        (("push", "Harbor", "--file", "push.json", "--yes"), "pushes"),
        (("reveal", "Harbor", "--yes"), "reveals"),
        (("hide", "Harbor", "--yes"), "hides"),
        (("worlds",), "world lists"),
    ],
    ids=["lookup", "refresh", "push", "reveal", "hide", "worlds"],
)
async def test_every_command_line_command_exits_4_once_the_month_is_spent(cli, args, what):
    (cli.tmp / "push.json").write_text(json.dumps({"data": {"description": "<p>x</p>"}}))
    cli.relay.set_monthly_limit(5000, used=5000)
    run = await cli(*args)
    assert run.code == 4, (run.code, run.err)
    lines = [line for line in run.err.splitlines() if not line.endswith("…")]  # refresh's progress lines
    first = lines[0]
    if args[0] != "refresh" and args[0] != "worlds":  # these read an entry the map knows
        assert first == SPENT.replace("1 January", next_first()).replace("lookups", what or "lookups")
    else:
        assert first == (
            f"The relay account has used its 5,000 requests for this month; {what} work again on {next_first()} "
            "(UTC), or with a paid relay plan."
        )


async def test_the_command_line_json_and_status_once_spent(cli):
    cli.relay.set_monthly_limit(5000, used=5000)
    data = json.loads((await cli("lookup", "Harbor", "--json")).out)
    assert data["ok"] is False and data["exit_code"] == 4 and data["temporary"] is False
    assert "can't be read this month" in data["error"]
    status = await cli("status")
    assert status.code == 0
    assert "Relay requests:" in status.out and "of 5,000 this month; at this pace" in status.out
    assert "requests for this month" in status.out  # the status check met the refusal itself
    help_text = await cli("--help")
    assert "4 the relay's monthly request limit is used up" in help_text.out
