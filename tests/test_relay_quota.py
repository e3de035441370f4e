"""The relay's monthly quota seen by the relay client, against the stand-in that enforces it as the relay
does (go-relay auth.go / TrackAPIUsage at v3.4.1): three different 429s, what counts, and background work
that stops while the month is spent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest
from pydantic import SecretStr

from relay import (
    RelayClient,
    RelayMonthlyLimit,
    RelayRateLimited,
    RelayScopeError,
    UnknownWorld,
    background_requests,
)
from relay.quota import PROBE_EVERY
from tests.stand_ins.relay_server import ALL_SCOPES, StandInRelay

KEY = "quota-key-3c1f"
NARROW = "quota-key-narrow-77a0"  # lacks entity:read


class Clock:
    def __init__(self, when: datetime):
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def relay():
    stand_in = StandInRelay(keys={KEY: set(ALL_SCOPES), NARROW: set(ALL_SCOPES) - {"entity:read"}})
    async with stand_in:
        yield stand_in


@pytest.fixture
def world(relay):
    world = relay.add_world("client-a", "Ashes")
    world.add_entry("Harbor")
    return world


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def clock():
    return Clock(datetime(2025, 12, 20, 18, 0, tzinfo=UTC))


def client_for(session, relay, clock, key=KEY) -> RelayClient:
    return RelayClient(session, relay.base_url, SecretStr(key), timeout=5.0, clock=clock)


def harbor(world) -> str:
    return next(f"JournalEntry.{i}" for i, d in world.entries.items() if d["name"] == "Harbor")


# --- three kinds of 429 -----------------------------------------------------------------------------


async def test_the_accounts_monthly_limit_is_its_own_error_with_the_date_it_ends(relay, world, session, clock):
    relay.set_monthly_limit(5000, used=5000)
    client = client_for(session, relay, clock)
    with pytest.raises(RelayMonthlyLimit) as raised:
        await client.get_entry(harbor(world))
    error = raised.value
    assert not isinstance(error, RelayRateLimited) and not error.temporary
    assert error.message == (
        "The relay account has used its 5,000 requests for this month; relay commands work again on "
        "1 January (UTC), or with a paid relay plan."
    )
    assert error.for_command("lookups").message.startswith(
        "The relay account has used its 5,000 requests for this month; lookups work again on 1 January (UTC)"
    )
    assert len(relay.requests("/get")) == 1  # a read is retried after a 408, never after this
    assert client.pacer.granted == 1 and client.pacer.waited == 0  # no wait, no drained bucket


async def test_a_scoped_keys_own_monthly_limit_says_so(relay, world, session, clock):
    relay.set_key_monthly_limit(KEY, 100, used=100)
    client = client_for(session, relay, clock)
    with pytest.raises(RelayMonthlyLimit) as raised:
        await client.list_worlds()
    assert raised.value.scope == "key"
    assert raised.value.message.startswith(
        "The relay API key has used up its own monthly request limit; relay commands work again on 1 January (UTC)"
    )
    assert "dashboard" in raised.value.message
    other = client_for(session, relay, clock, key=NARROW)  # the account is not spent: the other key works
    assert [w.client_id for w in await other.list_worlds()] == ["client-a"]


async def test_the_per_minute_limit_is_still_the_minute(relay, world, session, clock):
    relay.enable_rate_limit(capacity=1, per_second=0.001)
    client = client_for(session, relay, clock)
    await client.list_worlds()
    with pytest.raises(RelayRateLimited) as raised:
        await client.list_worlds()
    assert "300 requests a minute" in raised.value.message and raised.value.temporary
    assert client.quota.spent() is None


async def test_the_month_ends_at_midnight_utc_on_the_first(relay, world, session):
    clock = Clock(datetime(2026, 2, 28, 23, 59, tzinfo=UTC))
    relay.set_monthly_limit(10, used=10)
    client = client_for(session, relay, clock)
    with pytest.raises(RelayMonthlyLimit) as raised:
        await client.list_worlds()
    assert "work again on 1 March (UTC)" in raised.value.message
    assert client.quota.spent() is not None
    clock.advance(60)  # 00:00 UTC on 1 March: the relay resets its counters
    relay.new_month()
    assert client.quota.spent() is None
    assert await client.list_worlds()


# --- what counts --------------------------------------------------------------------------------------


async def test_the_stand_in_counts_exactly_what_the_relay_counts(relay, world, session, clock):
    client = client_for(session, relay, clock)
    await client.status()  # /api/status: no key, never counted
    async with session.get(relay.base_url + "/api/health") as resp:
        assert resp.status == 200
    assert relay.requests_this_month == 0

    await client.get_entry(harbor(world))  # counted
    with pytest.raises(UnknownWorld):  # a clientId not connected is refused at auth: not counted
        await client.get_entry(harbor(world), client_id="gone")
    with pytest.raises(RelayScopeError):  # the scope is checked after the count: counted
        await client_for(session, relay, clock, key=NARROW).get_entry(harbor(world))
    relay.enable_rate_limit(capacity=0.5, per_second=0.0001)  # every request over the minute's bucket
    with pytest.raises(RelayRateLimited):
        await client.list_worlds()
    assert relay.requests_this_month == 2
    assert relay.key_requests == {KEY: 1, NARROW: 1}


async def test_the_client_counts_its_requests_as_the_relay_does(relay, world, session, clock):
    client = client_for(session, relay, clock)
    narrow = client_for(session, relay, clock, key=NARROW)
    await client.get_entry(harbor(world))
    with background_requests():
        await client.structure()
    await client.status()
    with pytest.raises(UnknownWorld):
        await client.list_players(client_id="gone")
    with pytest.raises(RelayScopeError):
        await narrow.get_entry(harbor(world))
    relay.set_monthly_limit(3)  # 3 counted so far: the next is refused, and not counted
    with pytest.raises(RelayMonthlyLimit):
        await client.list_worlds()
    assert client.quota.unsaved("2025-12") == (2, 1)  # (requests, of which background)
    assert narrow.quota.unsaved("2025-12") == (1, 0)
    assert relay.requests_this_month == 3


# --- background work while the month is spent ----------------------------------------------------------


async def test_background_requests_stop_and_probe_once_a_day(relay, world, session, clock):
    relay.set_monthly_limit(50, used=50)
    client = client_for(session, relay, clock)
    with pytest.raises(RelayMonthlyLimit):
        await client.list_worlds()  # a command meets the limit
    sent = len(relay.log)

    with background_requests():
        for _ in range(3):
            with pytest.raises(RelayMonthlyLimit):
                await client.structure()
    assert len(relay.log) == sent  # refused by the client itself: nothing sent

    clock.advance(PROBE_EVERY)
    with background_requests():
        with pytest.raises(RelayMonthlyLimit):
            await client.structure()  # the day's probe goes out, and is refused
        with pytest.raises(RelayMonthlyLimit):
            await client.structure()  # the next waits another day
    assert len(relay.log) == sent + 1

    with pytest.raises(RelayMonthlyLimit):
        await client.list_worlds()  # commands are always sent: only the relay refuses
    assert len(relay.log) == sent + 2

    relay.set_monthly_limit(0)  # the GM took a paid plan
    clock.advance(PROBE_EVERY)
    with background_requests():
        await client.structure()
        await client.structure()  # the probe passed: background work runs again
    assert client.quota.spent() is None


async def test_concurrent_commands_after_the_limit_each_get_the_refusal_once(relay, world, session, clock):
    relay.set_monthly_limit(3, used=3)
    client = client_for(session, relay, clock)
    results = await asyncio.gather(*(client.get_entry(harbor(world)) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RelayMonthlyLimit) for r in results)
    assert len(relay.requests("/get")) == 5
