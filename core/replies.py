"""What a command says, independent of Discord.

Services build a ``Reply``; cogs turn it into an embed (cogs/utils/embeds.py), the command-line
twin prints it as plain text or JSON (cli/terminal.py). Keeping one model means the bot and the CLI say the same thing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum


class Tone(str, Enum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


@dataclass
class ReplyField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class ImageRef:
    """An image the reply wants that Discord cannot fetch by itself: the bot fetches it (services/entries/images.py)
    and uploads it. Set only from the view the reader receives."""

    path: str | None = None  # a file on Foundry's server
    actor_uuid: str | None = None  # no image of its own: the linked actor's
    # Whose view the reply is: the actor is read as each of these Foundry users (all must see it); () the GM's.
    user_ids: tuple[str, ...] = ()
    base: str | None = None  # Foundry's public address, if known (the actor's image can then be linked)
    fallback_url: str | None = None  # what to link when the actor has no image either


@dataclass
class Reply:
    title: str | None = None
    description: str | None = None
    fields: list[ReplyField] = field(default_factory=list)
    tone: Tone = Tone.INFO
    url: str | None = None
    image_url: str | None = None
    thumbnail_url: str | None = None
    footer: str | None = None
    image: ImageRef | None = None
    # Extra data for --json output; never shown in Discord.
    data: dict = field(default_factory=dict)

    def add_field(self, name: str, value: str, *, inline: bool = False) -> Reply:
        self.fields.append(ReplyField(name, value, inline))
        return self

    def as_text(self) -> str:
        parts: list[str] = []
        if self.title:
            parts.append(self.title)
        if self.url:
            parts.append(self.url)
        if self.description:
            parts.append(self.description)
        for f in self.fields:
            parts.append(f"{f.name}:\n{f.value}" if "\n" in f.value else f"{f.name}: {f.value}")
        if self.image_url:
            parts.append(f"Image: {self.image_url}")
        if self.footer:
            parts.append(self.footer)
        return "\n\n".join(parts)


class Decision(Enum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    # The command line without --yes: the preview was shown, nothing is to be sent.
    PREVIEWED = "previewed"


# Shows a preview and waits for the person's answer: buttons in Discord, --yes on the command line.
Confirm = Callable[[Reply], Awaitable[Decision]]
