"""Spotting values that look like secrets, so a message can name where one sits instead of printing it."""

from __future__ import annotations

import re

# A Discord bot token: three base64url parts joined by dots.
_DISCORD_TOKEN = re.compile(r"[A-Za-z\d_-]{23,28}\.[A-Za-z\d_-]{6,7}\.[A-Za-z\d_-]{27,}")
_RELEASE_TOKEN_PREFIX = "fvttp_"


def looks_secret(text: object, known: tuple[str, ...] = ()) -> bool:
    """True for a Foundry release token, a Discord token, or anything holding one of the ``known`` secrets."""
    if not isinstance(text, str):
        return False
    if _RELEASE_TOKEN_PREFIX in text.lower() or _DISCORD_TOKEN.search(text):
        return True
    return any(len(secret) >= 8 and secret in text for secret in known)
