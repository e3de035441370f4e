"""Reading package release tokens from configuration without ever echoing one.

Every message names the package (or the variable) and the problem, never the value: a token
pasted into the wrong place must not end up in a log or a Discord channel.
"""

from __future__ import annotations

import json

from pydantic import SecretStr

from core.errors import ConfigurationError

PREFIX = "fvttp_"
_EXAMPLE = '{"my-module": "fvttp_..."}'
_QUOTES = "\"'`“”‘’"


def check_token(package_id: str, token: str) -> SecretStr:
    """The trimmed token, or a ConfigurationError saying what is wrong with it."""
    token = token.strip()
    problem = _problem(token)
    if problem:
        raise ConfigurationError(f"The release token for {package_id} {problem}.")
    return SecretStr(token)


def _problem(token: str) -> str | None:
    if not token:
        return "is empty"
    if token[0] in _QUOTES or token[-1] in _QUOTES:
        return "is wrapped in quotes: paste it without them"
    if token.lower().startswith("bearer"):
        return f'starts with "Bearer": Foundry expects the bare {PREFIX} token'
    if any(c.isspace() for c in token):
        return "contains whitespace: paste it in one piece"
    if token.startswith(PREFIX * 2):
        return f"has its {PREFIX} prefix twice"
    if not token.startswith(PREFIX):
        return f"does not start with {PREFIX}: copy it from the package's page on foundryvtt.com"
    return None


def parse_release_tokens(raw: str | dict | None) -> dict[str, SecretStr]:
    """RELEASE_TOKENS: a JSON object package id -> token. Unset or blank means no tokens; "{}" is a mistake."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ConfigurationError(f"RELEASE_TOKENS is not valid JSON: write it like {_EXAMPLE}.") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"RELEASE_TOKENS must be a JSON object like {_EXAMPLE}.")
    if not raw:
        raise ConfigurationError(
            f"RELEASE_TOKENS is an empty JSON object: add tokens like {_EXAMPLE} or leave it unset."
        )
    tokens: dict[str, SecretStr] = {}
    for position, (package_id, token) in enumerate(raw.items(), start=1):
        package_id = str(package_id).strip()
        if not package_id:
            raise ConfigurationError("RELEASE_TOKENS has a token under an empty package id.")
        if PREFIX in package_id.lower():
            # Written backwards ({"fvttp_...": "my-module"}): the message must not print the token.
            raise ConfigurationError(
                f"RELEASE_TOKENS item {position} has a token where the package id belongs (written the wrong way "
                f"round?): write it like {_EXAMPLE}."
            )
        if isinstance(token, SecretStr):
            token = token.get_secret_value()
        if not isinstance(token, str):
            raise ConfigurationError(f"RELEASE_TOKENS: the token for {package_id} must be a string.")
        tokens[package_id] = check_token(package_id, token)
    return tokens
