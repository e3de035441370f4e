"""Echoing text that came from a user or from Foundry, safely."""

from __future__ import annotations

import re
import unicodedata

_MARKDOWN = re.compile(r"([\\*_~|`>#\[\]()])")


def echo(text: str, limit: int = 100) -> str:
    """`text` as a short, inert fragment for a message: no control or invisible characters, no
    Markdown, no mass mention, at most `limit` characters."""
    cleaned = "".join(
        ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf") or ch == " "
    ).strip()
    cleaned = re.sub(r"\s+", " ", cleaned)
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    cleaned = _MARKDOWN.sub(r"\\\1", cleaned)
    # A zero-width space keeps @everyone/@here from ever reading as a mention.
    return cleaned.replace("@", "@\u200b") or "(blank)"
