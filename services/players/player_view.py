"""What Foundry players may see of an entry: Foundry's ownership rules, applied where the module does not.

The module filters whole entries by ``userId`` but sends every page of a visible entry: pages the user
can't see are dropped here. Links to entries the view can't see are dropped too, so a player never
learns that such an entry exists. For a channel, "the players" are several Foundry users at once (every
player of the server): each rule then holds for all of them (``level_for_all``, ``pages_for_all``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from core.replies import Reply, Tone
from services.codex.render import LINK_FIELDS, absolute_image_url, neutralise_mentions, truncate

INHERIT, NONE, LIMITED, OBSERVER = -1, 0, 1, 2
LIMITED_LINE = "The GM has shared only this entry's title."


def level_for(ownership: object, user_id: str, inherited: int = NONE) -> int:
    """Foundry's level for a user: their own grant, else ``default``; INHERIT takes ``inherited``."""
    if not isinstance(ownership, dict):
        return inherited if inherited is not None else NONE
    level = ownership.get(user_id, ownership.get("default", INHERIT))
    if not isinstance(level, int) or isinstance(level, bool):
        return NONE  # malformed: fail closed
    return inherited if level == INHERIT else level


def entry_level(entry_ownership: object, user_id: str) -> int:
    level = level_for(entry_ownership, user_id, NONE)
    return NONE if level == INHERIT else level


def visible_pages(pages: list[dict], entry_ownership: object, user_id: str) -> list[dict]:
    """Pages the user may read: OBSERVER or better (a page's INHERIT means the entry's level)."""
    return pages_for_all(pages, entry_ownership, (user_id,))


def level_for_all(entry_ownership: object, user_ids: tuple[str, ...]) -> int:
    """The entry's level that every one of the users has (NONE for nobody)."""
    return min((entry_level(entry_ownership, u) for u in user_ids), default=NONE)


def pages_for_all(pages: list[dict], entry_ownership: object, user_ids: tuple[str, ...]) -> list[dict]:
    """Pages every one of the users may read."""
    if not user_ids:
        return []
    inherited = {u: entry_level(entry_ownership, u) for u in user_ids}
    return [p for p in pages if all(level_for(p.get("ownership"), u, inherited[u]) >= OBSERVER for u in user_ids)]


def without_hidden_links(flags: dict, can_see: Callable[[str], bool]) -> dict:
    """A copy of the entry's flags whose Campaign Codex link fields hold only journal entries the viewer
    may see (links to other documents are left: they render without a journal name)."""
    codex = flags.get("campaign-codex") if isinstance(flags, dict) else None
    data = codex.get("data") if isinstance(codex, dict) else None
    if not isinstance(data, dict):
        return flags
    flags = copy.deepcopy(flags)
    data = flags["campaign-codex"]["data"]

    def keep(uuid: object) -> bool:
        return not (isinstance(uuid, str) and uuid.startswith("JournalEntry.")) or can_see(uuid)

    for key, _title, _gm_only in LINK_FIELDS:
        value = data.get(key)
        if isinstance(value, list):
            data[key] = [u for u in value if keep(u)]
        elif isinstance(value, str) and not keep(value):
            data[key] = None
    return flags


def limited_reply(name: str, img: str | None, image_base: str | None) -> Reply:
    title = truncate(neutralise_mentions(" ".join(str(name or "").split())) or "Unnamed entry", 256)
    reply = Reply(title=title, description=LIMITED_LINE, tone=Tone.INFO, data={"limited": True})
    reply.image_url = absolute_image_url(img, image_base)
    return reply
