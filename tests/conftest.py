"""Fixtures shared by the command tests: the stand-ins on 127.0.0.1, real settings, the real bot, a harness.

`gm_env` gives a running bot connected to the fake Discord, a stand-in relay with one online world,
a guild with GM / Maintainer roles and members, and a temporary SQLite file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from bot import FoundryBot, create_bot
from core.settings import Settings
from services.resources import App
from tests.backends import backend, backend_kind, pg_backend, postgres_server  # noqa: F401 - fixtures for every test
from tests.harness import DiscordHarness
from tests.stand_ins.foundry_api import StandInFoundryAPI
from tests.stand_ins.relay_server import StandInRelay, StandInWorld

RELAY_KEY = "relay-key-5f1d0c9a8b7e6d5c"
RELEASE_TOKEN = "fvttp_9c2e4a6b8d0f1e3a5c7b9d1f"
OTHER_TOKEN = "fvttp_1a2b3c4d5e6f7a8b9c0d1e2f"
WORLD_ID = "client-main"
# The plain Foundry player user whose view unlinked members get (FOUNDRY_PLAYER); gm_env's world has it.
FOUNDRY_PLAYER = "Table"


@dataclass
class Env:
    h: DiscordHarness
    bot: object
    relay: StandInRelay
    world: StandInWorld
    foundry: StandInFoundryAPI
    guild: object
    channel: object
    announce: object
    gm: object
    player: object
    maintainer: object
    extra: dict = field(default_factory=dict)

    @property
    def app(self):
        return self.bot.app


SECRETS = (RELAY_KEY, RELEASE_TOKEN, OTHER_TOKEN, "discord-token-not-used-by-the-fake")


def secret_fragments() -> set[str]:
    """Each secret and its obvious fragments (the random tail, a middle slice)."""
    return {piece for secret in SECRETS for piece in (secret, secret[-12:], secret[6:18])}


class SecretScanner(logging.Handler):
    """Sees every log record of the whole test session; any record holding a secret is a hit."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.fragments = secret_fragments()
        self.hits: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += repr(record.exc_info[1])
        if any(fragment in text for fragment in self.fragments):
            self.hits.append(f"{record.name}: {text[:200]}")


SCANNER = SecretScanner()


def pytest_configure(config):
    root = logging.getLogger()
    root.addHandler(SCANNER)
    root.setLevel(logging.DEBUG)  # records at every level are created, so every one is scanned
    logging.getLogger("aiosqlite").setLevel(logging.INFO)  # one DEBUG line per SQL step: noise


def pytest_collection_modifyitems(items):
    """Tests that need PostgreSQL are marked so: `-m postgres` runs just them, `-m "not postgres"` the rest."""
    for item in items:
        if {"pg_backend", "postgres_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def pytest_sessionfinish(session, exitstatus):
    if SCANNER.hits:
        session.exitstatus = 1
        print("\nSecrets reached the logs:\n" + "\n".join(SCANNER.hits[:20]))


@pytest.fixture(autouse=True)
def own_heartbeat_file(tmp_path, monkeypatch):
    """Each test's bot beats into its own file, never the machine's shared default."""
    monkeypatch.setenv("HEARTBEAT_FILE", str(tmp_path / "heartbeat"))
    return tmp_path / "heartbeat"


@pytest.fixture(autouse=True)
def no_secret_in_logs():
    """Fails the very test during which a secret was logged."""
    before = len(SCANNER.hits)
    yield
    assert SCANNER.hits[before:] == [], f"a secret reached the logs: {SCANNER.hits[before:][:3]}"


@pytest.fixture
async def relay():
    stand_in = StandInRelay(
        keys={RELAY_KEY: {"entity:read", "entity:write", "search", "clients:read", "structure:read"}}
    )
    async with stand_in:
        yield stand_in


@pytest.fixture
async def foundry():
    async with StandInFoundryAPI() as api:
        api.add_package("my-module", RELEASE_TOKEN, versions=("1.0.0",))
        api.add_package("other-module", OTHER_TOKEN)
        yield api


def make_settings(tmp_path, relay: StandInRelay, foundry: StandInFoundryAPI, **overrides) -> Settings:
    values = dict(
        discord_token="discord-token-not-used-by-the-fake",
        relay_url=relay.base_url,
        relay_api_key=RELAY_KEY,
        relay_timeout=5.0,
        gm_role="GM",
        database_path=tmp_path / "bot.sqlite3",
        release_api_url=foundry.release_url,
        release_tokens={"my-module": RELEASE_TOKEN, "other-module": OTHER_TOKEN},
        maintainer_role="Maintainer",
        foundry_player=FOUNDRY_PLAYER,
        refresh_interval=0,  # tests drive the background refresh themselves (tests/test_background.py)
        # The stand-ins serving manifests and zips listen on 127.0.0.1; tests/test_release_network.py proves
        # the refusal with this off.
        allow_private_manifest_hosts=True,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings_overrides():
    """Override in a test module (or parametrize) to change the bot's settings."""
    return {}


@pytest.fixture
def bot_clock():
    """Override in a test module to run the bot on an injected wall clock (the relay's month, the background
    refresh, the budget's days)."""
    return None


@pytest.fixture
async def gm_env(tmp_path, relay, foundry, settings_overrides, bot_clock):
    world = relay.add_world(WORLD_ID, "Ashes of the Valley", online=True)
    world.add_user(FOUNDRY_PLAYER)
    settings = make_settings(tmp_path, relay, foundry, **settings_overrides)
    if bot_clock is None:
        bot = create_bot(settings)
    else:
        bot = FoundryBot(settings, app=await App.open(settings, clock=bot_clock))
    async with DiscordHarness(bot, token=settings.discord_token.get_secret_value()) as h:
        guild = h.guild("Campaign", roles=["GM", "Maintainer", "Player"])
        channel = h.channel(guild, "table")
        announce = h.channel(guild, "releases")
        gm = h.member(guild, "gamemaster", roles=["GM"])
        player = h.member(guild, "player", roles=["Player"])
        maintainer = h.member(guild, "dev", roles=["Maintainer"])
        # The guild exists only now: point the bot at it and sync there, as DISCORD_GUILD_ID does.
        bot.settings.discord_guild_id = guild.id
        if "announce_channel_id" not in settings_overrides:
            bot.settings.announce_channel_id = announce.id
        await bot.sync_commands()
        env = Env(
            h=h,
            bot=bot,
            relay=relay,
            world=world,
            foundry=foundry,
            guild=guild,
            channel=channel,
            announce=announce,
            gm=gm,
            player=player,
            maintainer=maintainer,
        )
        yield env
        assert_nothing_secret_sent(env)


def assert_nothing_secret_sent(env: Env) -> None:
    """No secret, nor an obvious fragment of one, in anything the bot sent to Discord."""
    fragments = secret_fragments()
    for request in env.h.fake.requests:
        text = f"{request.path} {request.query} {request.json} {request.raw_body[:100_000]!r}"
        for fragment in fragments:
            assert fragment not in text, f"a secret fragment reached Discord: {request.method} {request.path}"
