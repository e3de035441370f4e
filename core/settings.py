"""Every setting, read once from the environment and `.env` (see .env.example).

A missing or malformed setting stops start-up with one line naming it: `load_settings()` turns
pydantic's validation report into a `ConfigurationError` whose message names the variable and
never echoes its value (several of them are secrets).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigurationError
from release import DEFAULT_RELEASE_API_URL, check_token, parse_release_tokens


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Discord
    discord_token: SecretStr | None = None
    discord_guild_id: int | None = None

    # The Foundry REST relay (GM commands)
    relay_url: str | None = None
    relay_api_key: SecretStr | None = None
    relay_client_id: str | None = None
    relay_timeout: float = Field(default=15.0, gt=0, le=120)
    gm_role: str = "GM"
    foundry_public_url: str | None = None
    database_path: Path = Path("data/bot.sqlite3")
    # Seconds between background refreshes of each world's name map; 0 turns them off.
    refresh_interval: float = Field(default=900.0, ge=0)

    # Foundry's Package Release API (maintainer commands)
    release_api_url: str = DEFAULT_RELEASE_API_URL
    release_tokens: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    foundry_release_token: SecretStr | None = None
    maintainer_role: Annotated[dict[str, str], NoDecode] = Field(default_factory=lambda: {"*": "Maintainer"})
    announce_channel_id: int | None = None

    @field_validator("relay_url", "relay_client_id", "foundry_public_url", "gm_role", mode="before")
    @classmethod
    def _blank_is_unset(cls, value):
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("discord_guild_id", "announce_channel_id", mode="before")
    @classmethod
    def _blank_id_is_unset(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value

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

    @field_validator("discord_token", "relay_api_key", mode="before")
    @classmethod
    def _trim_secret(cls, value):
        if isinstance(value, str):
            value = value.strip()
            return value or None
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

    # Helpers the rest of the code reads instead of re-deriving.
    @property
    def relay_configured(self) -> bool:
        return bool(self.relay_url and self.relay_api_key)

    def maintainer_role_for(self, package_id: str) -> str | None:
        return self.maintainer_role.get(package_id) or self.maintainer_role.get("*")

    def require_relay(self) -> None:
        missing = [n for n, v in (("RELAY_URL", self.relay_url), ("RELAY_API_KEY", self.relay_api_key)) if not v]
        if missing:
            raise ConfigurationError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                "add the relay's address and a scoped API key to .env (see .env.example)."
            )


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
