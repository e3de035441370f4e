"""Logging set-up with secrets redacted from every record, whatever logged them.

A secret can reach a log line through its message, its arguments, an exception's text in the traceback, or
a stack dump. The filter scrubs each of those on the record (so every handler gets the clean text), and the
handler's formatter scrubs the whole formatted line again before it is written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import SecretStr

REDACTED = "[redacted]"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _Scrubber:
    def __init__(self, secrets: Iterable[str]):
        # Longest first so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        if any(secret in text for secret in self.secrets):
            for secret in self.secrets:
                text = text.replace(secret, REDACTED)
        return text


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.scrub = _Scrubber(secrets)
        self._tracebacks = logging.Formatter()

    @property
    def secrets(self) -> list[str]:
        return self.scrub.secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Formatted once here, scrubbed, and cached where every formatter looks for it first.
            record.exc_text = self._tracebacks.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


class RedactingFormatter(logging.Formatter):
    """Scrubs the whole formatted record: message, traceback and stack together."""

    def __init__(self, secrets: Iterable[str], fmt: str = FORMAT):
        super().__init__(fmt)
        self.scrub = _Scrubber(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self.scrub(super().format(record))


def secret_values(settings) -> list[str]:
    values = [
        settings.discord_token,
        settings.relay_api_key,
        settings.foundry_release_token,
        settings.github_token,
        settings.secrets_key,
        settings.database_url,
        *settings.release_tokens.values(),
    ]
    found = [v.get_secret_value() for v in values if isinstance(v, SecretStr)]
    if settings.database_url is not None:  # the password alone, wherever a library shows it
        found.append(urlsplit(settings.database_url.get_secret_value()).password or "")
    return found


def setup_logging(settings, level: int = logging.INFO) -> None:
    secrets = secret_values(settings)
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(secrets))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("discord.http").setLevel(logging.WARNING)
