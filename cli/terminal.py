"""What the bot would post, spoken to a terminal: plain text, command-line names, one stable JSON shape.

The services write for Discord (Markdown, `/refresh`, `<t:…:R>` timestamps). Here that becomes text a
terminal shows as it is, and a newcomer can paste: `python bot.py refresh`, not `/refresh`.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

from core.errors import UserFacingError
from core.replies import Reply

_COMMANDS = {
    "refresh": "python bot.py refresh",
    "lookup": "python bot.py lookup",
    "push": "python bot.py push",
    "world": "--world CLIENT_ID (python bot.py worlds lists them)",
    "release publish": "python bot.py release publish",
    "release dry-run": "python bot.py release dry-run",
    "status": "python bot.py status",
    "reveal": "python bot.py reveal",
    "hide": "python bot.py hide",
}
_SLASH = re.compile(r"(?<![\w/.:])/(" + "|".join(sorted(map(re.escape, _COMMANDS), key=len, reverse=True)) + r")\b")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_ITALIC = re.compile(r"(?<![\w*\\])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_HEADING = re.compile(r"^#{1,6} +", re.M)
_QUOTE = re.compile(r"^> ?", re.M)
_CODE = re.compile(r"`([^`\n]*)`")
_ESCAPED = re.compile(r"\\([\\*_~|`>#\[\]()])")
_TIMESTAMP = re.compile(r"<t:(\d+):[a-zA-Z]>")


def plain(text: str | None) -> str | None:
    """Discord Markdown and slash commands as a terminal should show them."""
    if text is None:
        return None
    text = _SLASH.sub(lambda m: _COMMANDS[m.group(1)], text)
    text = _LINK.sub(r"\1 (\2)", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _ITALIC.sub(r"\1", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _CODE.sub(r"\1", text)
    text = _ESCAPED.sub(r"\1", text)
    text = _TIMESTAMP.sub(_spell_timestamp, text)
    return text.replace("\u200b", "")


def _spell_timestamp(match: re.Match) -> str:
    when = int(match.group(1))
    at = datetime.fromtimestamp(when, UTC).strftime("%H:%M:%S UTC")
    return f"in {max(0, when - int(time.time()))} s (at {at})"


def reply_text(reply: Reply) -> str:
    """One line per part, no blank lines; a multi-line field continues indented under its name."""
    lines: list[str] = []
    for part in (reply.title, reply.url, reply.description):
        if part:
            lines.extend(line for line in plain(part).splitlines() if line.strip())
    for field in reply.fields:
        value = [line for line in plain(field.value).splitlines() if line.strip()]
        head = f"{plain(field.name)}:"
        if len(value) == 1:
            lines.append(f"{head} {value[0]}")
        else:
            lines.append(head)
            lines.extend(f"  {line}" for line in value)
    if reply.image_url:
        lines.append(f"Image: {reply.image_url}")
    if reply.footer:
        lines.append(plain(reply.footer))
    return "\n".join(lines)


def reply_json(reply: Reply, **extra) -> str:
    """The documented success shape (README, "JSON output"): every key always present."""
    out = {
        "ok": True,
        "title": plain(reply.title),
        "description": plain(reply.description),
        "fields": [{"name": plain(f.name), "value": plain(f.value)} for f in reply.fields],
        "tone": reply.tone.value,
        "url": reply.url,
        "image_url": reply.image_url,
        "footer": plain(reply.footer),
        "data": reply.data,
        **extra,
    }
    return json.dumps(out, indent=2, ensure_ascii=False)


def error_text(error: UserFacingError) -> str:
    return "\n".join([plain(error.message), *(plain(d) for d in error.details)])


def error_json(error: UserFacingError, exit_code: int) -> str:
    """The documented failure shape (README, "JSON output")."""
    out = {
        "ok": False,
        "error": plain(error.message),
        "details": [plain(d) for d in error.details],
        "temporary": error.temporary,
        "exit_code": exit_code,
    }
    return json.dumps(out, indent=2, ensure_ascii=False)
