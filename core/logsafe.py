"""Logging set-up with secrets redacted from every record, whatever logged them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import SecretStr

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        # Longest first so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, REDACTED)
            record.msg, record.args = message, None
        return True


def secret_values(settings) -> list[str]:
    values = [
        settings.discord_token,
        settings.relay_api_key,
        settings.foundry_release_token,
        settings.secrets_key,
        settings.database_url,
        settings.github_token,
        *settings.release_tokens.values(),
    ]
    found = [v.get_secret_value() for v in values if isinstance(v, SecretStr)]
    if settings.database_url is not None:  # the password alone, wherever a library shows it
        found.append(urlsplit(settings.database_url.get_secret_value()).password or "")
    return found


def setup_logging(settings, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secret_values(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("discord.http").setLevel(logging.WARNING)
