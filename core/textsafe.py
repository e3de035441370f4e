"""Echoing text that came from a user or from Foundry, safely."""

from __future__ import annotations

import re
import unicodedata

_MARKDOWN = re.compile(r"([\\*_~|`>#\[\]()])")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_unicode(text: str) -> str:
    """`text` with unpaired UTF-16 surrogates replaced by U+FFFD. JSON may carry them ("\\ud800" from
    Foundry), but UTF-8 cannot: SQLite refuses them and Discord cannot show them."""
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def echo(text: str, limit: int = 100) -> str:
    """`text` as a short, inert fragment for a message: no control or invisible characters, no
    Markdown, no mass mention, at most `limit` characters (escapes included)."""
    cleaned = "".join(
        ch for ch in valid_unicode(text) if unicodedata.category(ch) not in ("Cc", "Cf") or ch == " "
    ).strip()
    cleaned = re.sub(r"\s+", " ", cleaned)
    # Markdown is escaped with a backslash, and a zero-width space keeps @everyone/@here from ever
    # reading as a mention: both lengthen the text, so the limit is applied to the escaped pieces.
    pieces = [_escape(ch) for ch in cleaned]
    if sum(map(len, pieces)) <= limit:
        return "".join(pieces) or "(blank)"[: max(limit, 1)]
    kept: list[str] = []
    room = max(limit - 1, 0)  # one for the ellipsis
    for piece in pieces:
        if len(piece) > room:
            break
        kept.append(piece)
        room -= len(piece)
    return ("".join(kept) + "…")[: max(limit, 1)]


def _escape(ch: str) -> str:
    if ch == "@":
        return "@\u200b"
    return "\\" + ch if _MARKDOWN.fullmatch(ch) else ch
