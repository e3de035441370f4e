"""Every setting, read once from the environment and `.env` (see .env.example).

A missing or malformed setting stops start-up with one line naming it: `load_settings()` turns
pydantic's validation report into a `ConfigurationError` whose message names the variable and
never echoes its value (several of them are secrets).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigurationError
from core.release_tokens import check_token, parse_release_tokens
from core.sealing import SealingKey
from core.secretlike import looks_secret

# Foundry's Package Release API (release-api.md, "The call"): the host its article names, with the trailing slash
# the public clients use; the release client posts here unless told otherwise.
DEFAULT_RELEASE_API_URL = "https://api.foundryvtt.com/_api/packages/release_version/"

MISSING_TOKEN = (
    "DISCORD_TOKEN is not set: copy .env.example to .env and put your bot's token there "
    "(Discord Developer Portal > your application > Bot > Reset Token), or export DISCORD_TOKEN."
)

# The public hosted relay: its free accounts get this many API requests a calendar month (UTC).
PUBLIC_RELAY_HOST = "foundryrestapi.com"
PUBLIC_RELAY_MONTHLY_LIMIT = 5000
# Campaign Codex's sheet types (its module-wide tab defaults are kept per type).
CODEX_SHEETS = ("npc", "location", "shop", "region", "group", "tag", "quest")

MISSING_GUILD = (
    "DISCORD_GUILD_ID is not set: put your server's id there (several: comma-separated); "
    "the bot serves only the servers listed and leaves any other."
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Discord
    discord_token: SecretStr | None = None
    # The servers the bot serves (comma-separated ids): required to run; every other server is refused and left.
    discord_guild_id: Annotated[tuple[int, ...], NoDecode] = ()

    # The Foundry REST relay (GM commands)
    relay_url: str | None = None
    relay_api_key: SecretStr | None = None
    relay_client_id: str | None = None
    relay_timeout: float = Field(default=15.0, gt=0, le=120)
    gm_role: str = "GM"
    # The Foundry user (name or id) whose view members without a link get; unset: no entry content for them.
    foundry_player: str | None = None
    foundry_public_url: str | None = None
    database_path: Path = Path("data/bot.sqlite3")
    # Seconds between background refreshes of each world's name map; 0 turns them off.
    refresh_interval: float = Field(default=900.0, ge=0)
    # Relay requests a calendar month (UTC) the bot budgets for; unset: 5000 on the public relay, else none.
    relay_monthly_limit: int | None = Field(default=None, ge=0)
    # Campaign Codex's module-wide default tabs (its world setting defaultTabVisibility, which the relay can't
    # read): sheet type -> tab -> (visible, hidden from players). See README, "What players see".
    codex_hidden_tabs: Annotated[dict[str, dict[str, tuple[bool, bool]]], NoDecode] = Field(default_factory=dict)

    # Foundry's Package Release API (maintainer commands)
    release_api_url: str = DEFAULT_RELEASE_API_URL
    release_tokens: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    foundry_release_token: SecretStr | None = None
    maintainer_role: Annotated[dict[str, str], NoDecode] = Field(default_factory=lambda: {"*": "Maintainer"})
    announce_channel_id: int | None = None

    # Fetching what a release points at (manifests, package zips, changelogs)
    # true: also from loopback and private addresses (packages served on the maintainer's own network).
    allow_private_manifest_hosts: bool = False
    # Optional: a GitHub token for reading release notes through GitHub's API (60 requests an hour without).
    github_token: SecretStr | None = None
    # Hosted mode and more than one process
    # postgresql://user:password@host:port/database: every store on that server, which several processes may
    # share. Unset: the SQLite file at DATABASE_PATH (one process). Secret: it may hold a password.
    database_url: SecretStr | None = None
    # 32 random bytes in URL-safe base64 that seal each server's relay key and release tokens in the database.
    secrets_key: SecretStr | None = None
    # Any server may add the bot and set it up from Discord (needs SECRETS_KEY).
    hosted: bool = False
    # Discord's shards: how many in all, and which of them this process runs (comma-separated; unset: all).
    shard_count: int | None = None
    shard_ids: Annotated[tuple[int, ...], NoDecode] = ()
    # MiB of name maps held in memory across every world; past it the least recently used map is dropped (and
    # read back from the database when next needed). Unset: no limit.
    map_memory_mb: int | None = Field(default=None, ge=1)
    # Hosted mode: a relay URL set with /setup relay may point at a private address (your own network's relay).
    allow_private_relay_hosts: bool = False

    @field_validator("gm_role", mode="before")
    @classmethod
    def _blank_role_is_default(cls, value):
        # Like a blank MAINTAINER_ROLE: an empty GM_ROLE= line in .env means the default role, "GM".
        if value is None or (isinstance(value, str) and not value.strip()):
            return "GM"
        return value.strip() if isinstance(value, str) else value

    @field_validator(
        "relay_url",
        "relay_client_id",
        "foundry_public_url",
        "foundry_player",
        "discord_token",
        "relay_api_key",
        "github_token",
        "database_url",
        "secrets_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value):
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("discord_guild_id", mode="before")
    @classmethod
    def _guild_ids(cls, value):
        """One id or several, comma-separated. Messages give an item's position, never its text."""
        if value is None:
            return ()
        if isinstance(value, int):
            return (value,)
        if isinstance(value, (list, tuple, set, frozenset)):
            return tuple(value)
        items = [item.strip() for item in str(value).split(",")]
        if items == [""]:
            return ()
        for position, item in enumerate(items, start=1):
            if not item.isdigit() or not item.isascii():
                raise ValueError(f"must be server ids separated by commas: item {position} is not a number")
        return tuple(int(item) for item in items)

    @field_validator("announce_channel_id", "relay_monthly_limit", "shard_count", "map_memory_mb", mode="before")
    @classmethod
    def _blank_id_is_unset(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value()
        if not text.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL; leave it empty to use the SQLite file at DATABASE_PATH")
        try:
            urlsplit(text).port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise ValueError("is not a valid URL: its port is not a number") from None
        return value

    @field_validator("secrets_key")
    @classmethod
    def _sealing_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            SealingKey.from_text(value)  # raises ValueError naming the format, never the value
        return value

    @field_validator("hosted", "allow_private_relay_hosts", mode="before")
    @classmethod
    def _yes_or_no(cls, value):
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("", "0", "false", "no", "off"):
                return False
            if text in ("1", "true", "yes", "on"):
                return True
            raise ValueError("must be true or false")
        return value

    @field_validator("shard_count")
    @classmethod
    def _some_shards(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_ids(cls, value):
        """Shard numbers, comma-separated. Messages give an item's position."""
        if value is None:
            return ()
        if isinstance(value, int):
            return (value,)
        if isinstance(value, (list, tuple, set, frozenset)):
            return tuple(value)
        items = [item.strip() for item in str(value).split(",")]
        if items == [""]:
            return ()
        for position, item in enumerate(items, start=1):
            if not item.isdigit() or not item.isascii():
                raise ValueError(f"must be shard numbers separated by commas: item {position} is not a number")
        return tuple(int(item) for item in items)

    @field_validator("relay_url", "foundry_public_url", "release_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("relay_url")
    @classmethod
    def _no_api_suffix(cls, value: str | None) -> str | None:
        # The relay serves /get, /search... at its root: a trailing /api would break every call.
        if value is not None and value.rstrip("/").endswith("/api"):
            raise ValueError("must be the relay's base URL without /api")
        return value.rstrip("/") if value else value

    @field_validator("refresh_interval")
    @classmethod
    def _sane_interval(cls, value: float) -> float:
        # Each background refresh costs at least one relay request per world: no tighter than a minute.
        if 0 < value < 60:
            raise ValueError("must be 0 (off) or at least 60 seconds")
        return value

    @field_validator("release_tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, value):
        if value == {}:  # the default (pydantic-settings validates defaults too)
            return {}
        return parse_release_tokens(value)

    @field_validator("foundry_release_token", mode="before")
    @classmethod
    def _single_token(cls, value):
        # Checked at start-up so a malformed CI secret is named, never printed; stored trimmed.
        if isinstance(value, str):
            return check_token("FOUNDRY_RELEASE_TOKEN", value) if value.strip() else None
        return value

    @field_validator("codex_hidden_tabs", mode="before")
    @classmethod
    def _codex_tabs(cls, value):
        """``npc.associates, location.npcs`` (tabs hidden from players; ``*.quests`` for every sheet), or the JSON
        of Campaign Codex's own setting (``game.settings.get("campaign-codex", "defaultTabVisibility")``)."""
        if value is None or value == {} or (isinstance(value, str) and not value.strip()):
            return {}
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("is not valid JSON") from None
        if isinstance(value, dict):
            return _codex_tabs_from_setting(value)
        found: dict[str, dict[str, tuple[bool, bool]]] = {}
        for position, item in enumerate(str(value).split(","), start=1):
            sheet, dot, tab = item.strip().partition(".")
            if not dot or not tab.strip() or (sheet not in CODEX_SHEETS and sheet != "*"):
                raise ValueError(
                    f"must list sheet.tab pairs such as npc.associates (sheets: {', '.join(CODEX_SHEETS)}, or *): "
                    f"item {position} is not one"
                )
            for one in CODEX_SHEETS if sheet == "*" else (sheet,):
                found.setdefault(one, {})[tab.strip()] = (True, True)
        return found

    @field_validator("maintainer_role", mode="before")
    @classmethod
    def _parse_roles(cls, value):
        """A role name or id for every package, or a JSON object package id -> role ("*" = default)."""
        if value is None or value == "":
            return {"*": "Maintainer"}
        if isinstance(value, dict):
            return value
        text = str(value).strip()
        if text.startswith("{"):
            try:
                roles = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("is not valid JSON") from None
            if not isinstance(roles, dict) or not all(isinstance(v, str) and v for v in roles.values()):
                raise ValueError('must be a role, or a JSON object like {"*": "Maintainer", "my-module": "Devs"}')
            return roles
        return {"*": text}

    @model_validator(mode="after")
    def _hosted_and_shards_fit_together(self):
        if self.hosted and self.secrets_key is None:
            raise ConfigurationError(
                "HOSTED=true needs SECRETS_KEY: each server's relay key and release tokens are stored sealed with "
                "it. Make one with `python bot.py secrets new-key`."
            )
        if self.shard_ids and self.shard_count is None:
            raise ConfigurationError("SHARD_IDS needs SHARD_COUNT: the number of shards across every process.")
        seen: set[int] = set()
        for position, shard in enumerate(self.shard_ids, start=1):
            if shard >= self.shard_count:
                raise ConfigurationError(
                    f"SHARD_IDS item {position} is not below SHARD_COUNT ({self.shard_count}): shards are "
                    "numbered from 0."
                )
            if shard in seen:
                raise ConfigurationError(f"SHARD_IDS item {position} repeats shard {shard}.")
            seen.add(shard)
        if self.shard_ids and len(seen) < self.shard_count and self.database_url is None:
            raise ConfigurationError(
                "SHARD_IDS leaves some shards to other processes, which must share one PostgreSQL database: "
                "set DATABASE_URL (SQLite serves one process)."
            )
        return self

    @model_validator(mode="after")
    def _no_secret_in_plain_settings(self):
        """A secret pasted into a setting that gets shown (a role, a package id, a user name) is refused
        with the setting and position named, never its value."""
        known = tuple(
            s.get_secret_value()
            for s in (self.discord_token, self.relay_api_key, self.github_token, self.secrets_key)
            if s is not None
        )
        plain = [
            ("GM_ROLE", None, self.gm_role),
            ("FOUNDRY_PLAYER", None, self.foundry_player),
            ("RELAY_CLIENT_ID", None, self.relay_client_id),
            ("FOUNDRY_PUBLIC_URL", None, self.foundry_public_url),
            ("RELAY_URL", None, self.relay_url),
        ]
        for position, (package, role) in enumerate(self.maintainer_role.items(), start=1):
            plain += [("MAINTAINER_ROLE", f"the key of item {position}", package)]
            plain += [("MAINTAINER_ROLE", f"the value of item {position}", role)]
        for position, package in enumerate(self.release_tokens, start=1):
            plain += [("RELEASE_TOKENS", f"the package id of item {position}", package)]
        for name, where, value in plain:
            if looks_secret(value, known):
                place = f"{where} of {name}" if where else name
                raise ConfigurationError(
                    f"{place[0].upper()}{place[1:]} looks like a secret (a token or key), so it is not shown: "
                    "put each secret only in its own setting."
                )
        return self

    # Helpers the rest of the code reads instead of re-deriving.
    @property
    def guild_ids(self) -> frozenset[int]:
        """DISCORD_GUILD_ID as a set (tests and tools may assign one int)."""
        value = self.discord_guild_id
        if value is None:
            return frozenset()
        return frozenset((value,)) if isinstance(value, int) else frozenset(value)

    @property
    def database_location(self) -> Path | SecretStr:
        """Where the stores live: DATABASE_URL (PostgreSQL) when set, else the SQLite file at DATABASE_PATH."""
        return self.database_url or self.database_path

    @property
    def sealing_key(self) -> SealingKey | None:
        return SealingKey.from_text(self.secrets_key) if self.secrets_key is not None else None

    @property
    def campaign_guild_id(self) -> int | None:
        """The first server listed in DISCORD_GUILD_ID: the one RELAY_CLIENT_ID serves without a /world choice."""
        value = self.discord_guild_id
        if isinstance(value, int):
            return value
        return value[0] if value else None

    @property
    def relay_configured(self) -> bool:
        return bool(self.relay_url and self.relay_api_key)

    @property
    def monthly_limit(self) -> int | None:
        """The relay requests a month the bot budgets for; None: no limit (RELAY_MONTHLY_LIMIT=0, or a relay
        other than the public one without the setting)."""
        if self.relay_monthly_limit is not None:
            return self.relay_monthly_limit or None
        return PUBLIC_RELAY_MONTHLY_LIMIT if is_public_relay(self.relay_url) else None

    def maintainer_role_for(self, package_id: str) -> str | None:
        return self.maintainer_role.get(package_id) or self.maintainer_role.get("*")

    def release_token_hint(self) -> str:
        """How a missing release token is added, for messages."""
        return "add it to RELEASE_TOKENS"

    def require_relay(self) -> None:
        problem = self._relay_missing()
        if problem:
            raise ConfigurationError(problem)

    def _relay_missing(self) -> str | None:
        missing = [n for n, v in (("RELAY_URL", self.relay_url), ("RELAY_API_KEY", self.relay_api_key)) if not v]
        if not missing:
            return None
        return (
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
            "add the relay's address and a scoped API key to .env (see .env.example)."
        )

    def start_up_problem(self) -> str | None:
        """What keeps the bot from starting, as one line naming exactly what to set; None when it can start."""
        if self.discord_token is None:
            return MISSING_TOKEN
        if not self.guild_ids and not self.hosted:  # hosted: any server may add the bot
            return MISSING_GUILD
        if bool(self.relay_url) != bool(self.relay_api_key):  # half a relay configuration is a mistake
            return self._relay_missing()
        if not self.relay_configured and not self.release_tokens and not self.hosted:
            return (
                "Nothing to serve: set RELAY_URL and RELAY_API_KEY (GM commands) and/or RELEASE_TOKENS "
                "(release commands) in .env."
            )
        return None


def is_public_relay(url: str | None) -> bool:
    host = urlsplit(url).hostname if url else None
    return host is not None and (host == PUBLIC_RELAY_HOST or host.endswith("." + PUBLIC_RELAY_HOST))


def _codex_tabs_from_setting(setting: dict) -> dict[str, dict[str, tuple[bool, bool]]]:
    """Campaign Codex's defaultTabVisibility: {sheet: {tab: {visible, hidden} or a bool (visible)}}; older
    worlds keep flat "sheet.tab" keys."""
    found: dict[str, dict[str, tuple[bool, bool]]] = {}

    def entry(value) -> tuple[bool, bool]:
        if isinstance(value, dict):
            visible = value.get("visible")
            return (True if visible is None else bool(visible), bool(value.get("hidden")))
        if isinstance(value, bool):
            return (value, False)
        if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, bool) for v in value):
            return (value[0], value[1])  # already read
        raise ValueError("must hold true/false or {visible, hidden} for each tab")

    for key, value in setting.items():
        sheet, dot, tab = str(key).partition(".")
        if sheet not in CODEX_SHEETS:
            raise ValueError(f"must be keyed by Campaign Codex sheet types ({', '.join(CODEX_SHEETS)})")
        if dot:
            found.setdefault(sheet, {})[tab] = entry(value)
        elif isinstance(value, dict):
            for tab_key, tab_value in value.items():
                found.setdefault(sheet, {})[str(tab_key)] = entry(tab_value)
        else:
            raise ValueError("must hold an object of tabs for each sheet type")
    return found


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first bad setting, without its value."""
    first = error.errors()[0]
    name = str(first["loc"][0]).upper() if first.get("loc") else "a setting"
    reason = first.get("msg", "is invalid")
    reason = reason.removeprefix("Value error, ")
    return f"{name} {reason}" if reason.startswith(("must", "is ")) else f"{name} is invalid: {reason}"


def load_settings(**overrides) -> Settings:
    # Token checks raise ConfigurationError themselves (pydantic lets non-ValueErrors through).
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error)) from None
