"""What Campaign Codex itself hides from players, read from its sheets (cc13 ``scripts/sheets/*-sheet.js``).

A player's view of an entry is its flags with all of this taken out, before it is rendered:

- ``data.hiddenAssociates`` (uuids): the sheets drop those link cards for players (``entityCard`` returns nothing
  for a hidden card; quest lists skip hidden quests). Taken out of every link field.
- Tabs: a tab is shown to a player only when it is visible (``tab-overrides[key].visible``, else the module-wide
  default, else true) and not hidden (``tab-overrides[key].hidden``, else the module-wide default, else false).
  The module-wide defaults are the world setting ``campaign-codex.defaultTabVisibility``, which the relay cannot
  read: the GM copies it into ``CODEX_HIDDEN_TABS`` (core/settings.py). A hidden tab takes out the fields it
  shows (``TAB_FIELDS``); where one field feeds two tabs (an NPC's associates are split into the Associates and
  Factions tabs by the linked entries' types, which the bot does not know) hiding either takes it out.
- The image: ``imageArea`` hidden (or not visible) in ``tab-overrides`` (base-sheet.js ``showImage``).
- Quests: a quest is listed for players only when its ``visible`` is set (the sheets' ``filter(q => q.visible)``);
  a quest sheet's rewards (its inventory) are hidden when its quest has ``hideRewards``.
- A shop's ``hideInventory``; the notes tab is the GM's (``allowPlayerNotes`` only lets players keep their own).

Where the bot is stricter than cc13 (so a GM's intent to hide is never undone): hiddenAssociates is applied to
every type and every link field (the tag sheet's side tree and a location's region header ignore it), and a
group's tab overrides hide from players (the group sheet checks only ``visible``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from services.codex.render import LINK_FIELDS

__all__ = ["TAB_FIELDS", "TabDefaults", "for_players", "image_hidden_from_players", "tabs_hidden_from_players"]

# Module-wide defaults: sheet type -> tab key -> (visible, hidden), as in defaultTabVisibility.
TabDefaults = Mapping[str, Mapping[str, tuple[bool, bool]]]

_QUESTS = ("linkedQuests",)
_JOURNALS = ("linkedStandardJournals",)
# Per sheet: the tabs cc13 builds (_getTabDefinitions) and the data fields each shows that the bot renders.
TAB_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "npc": {
        "info": ("description", "linkedActor"),
        "regions": ("linkedLocations",),
        "locations": ("linkedLocations",),
        "shops": ("linkedShops",),
        "inventory": ("inventory",),
        "associates": ("associates",),
        "factions": ("associates",),
        "quests": _QUESTS,
        "journals": _JOURNALS,
        "notes": ("notes",),
    },
    "tag": {
        "info": ("description", "linkedActor"),
        "inventory": ("inventory",),
        "quests": _QUESTS,
        "journals": _JOURNALS,
        "notes": ("notes",),
    },
    "location": {
        "info": ("description",),
        "shops": ("linkedShops",),
        "inventory": ("inventory",),
        "npcs": ("linkedNPCs",),
        "factions": ("linkedNPCs",),
        "quests": _QUESTS,
        "journals": _JOURNALS,
        "notes": ("notes",),
    },
    "shop": {
        "info": ("description",),
        "inventory": ("inventory",),
        "npcs": ("linkedNPCs",),
        "factions": ("linkedNPCs",),
        "quests": _QUESTS,
        "journals": _JOURNALS,
        "notes": ("notes",),
    },
    "region": {
        "info": ("description",),
        "locations": ("linkedLocations",),
        "regions": ("linkedRegions",),
        "parentregions": ("parentRegions",),
        "shops": ("linkedShops",),
        "inventory": ("inventory",),
        "npcs": ("linkedNPCs",),
        "factions": ("linkedNPCs",),
        "quests": _QUESTS,
        "journals": _JOURNALS,
        "notes": ("notes",),
    },
    "group": {
        "info": ("description",),
        "regions": ("members",),
        "locations": ("members",),
        "shops": ("members",),
        "npcs": ("members",),
        "factions": ("linkedNPCs",),
        "quests": _QUESTS,
        "journals": _JOURNALS,
        "notes": ("notes",),
    },
    "quest": {
        "info": ("description", "quests"),
        "inventory": ("inventory",),
        "journals": _JOURNALS,
        "notes": ("notes",),
    },
}
_EMPTY: dict[str, Any] = {"description": "", "quests": [], "inventory": []}


def _truthy(value: Any) -> bool:
    """JavaScript's truthiness, as the sheets test these flags."""
    if value is None or value is False or value == "" or value == 0:
        return False
    return not (isinstance(value, float) and value != value)  # NaN


def _overrides(codex: Mapping) -> dict[str, Mapping]:
    found = codex.get("tab-overrides")
    if not isinstance(found, list):
        return {}
    by_key: dict[str, Mapping] = {}
    for override in found:
        if isinstance(override, Mapping) and isinstance(override.get("key"), str):
            by_key.setdefault(override["key"], override)  # the sheets' find(): the first one counts
    return by_key


def _defaults_type(codex: Mapping, sheet: str) -> str:
    data = codex.get("data") if isinstance(codex.get("data"), Mapping) else {}
    return "tag" if sheet == "npc" and _truthy(data.get("tagMode")) else sheet


def tabs_hidden_from_players(codex: Mapping, defaults: TabDefaults) -> set[str]:
    """The tabs of this entry's sheet that a player is not shown."""
    sheet = codex.get("type") if isinstance(codex.get("type"), str) else None
    if sheet not in TAB_FIELDS:
        return set()
    overrides = _overrides(codex)
    module = dict(defaults.get(_defaults_type(codex, sheet), {}))
    if sheet == "npc" and "npcs" in module and "associates" not in module:
        module["associates"] = module["npcs"]  # older worlds keep an NPC's associates tab as "npcs"
    hidden = set()
    for tab in TAB_FIELDS[sheet]:
        override = overrides.get(tab, {})
        default_visible, default_hidden = module.get(tab, (True, False))
        visible = override.get("visible")
        hide = override.get("hidden")
        visible = default_visible if visible is None else _truthy(visible)
        hide = default_hidden if hide is None else _truthy(hide)
        if not visible or hide:
            hidden.add(tab)
    return hidden


def image_hidden_from_players(codex: Mapping) -> bool:
    """base-sheet.js: ``showImage = !isGM && imageArea.hidden ? false : (imageArea.visible ?? true)``."""
    override = _overrides(codex).get("imageArea")
    if override is None:
        return False
    visible = override.get("visible")
    return _truthy(override.get("hidden")) or (visible is not None and not _truthy(visible))


def for_players(flags: Any, defaults: TabDefaults) -> Any:
    """A copy of an entry's flags holding only what Campaign Codex shows a player (see the module docstring).
    Flags of other shapes come back as they are. ``tab-overrides`` stay, so ``image_hidden_from_players`` still
    answers for the copy (the image area hides the linked actor's portrait too)."""
    codex = flags.get("campaign-codex") if isinstance(flags, Mapping) else None
    if not isinstance(codex, Mapping):
        return flags
    flags = copy.deepcopy(dict(flags))
    codex = flags["campaign-codex"]
    if image_hidden_from_players(codex):
        codex["image"] = None
    data = codex.get("data")
    if not isinstance(data, dict):
        return flags
    sheet = codex.get("type") if isinstance(codex.get("type"), str) else ""
    for tab in tabs_hidden_from_players(codex, defaults):
        for field in TAB_FIELDS[sheet][tab]:
            data[field] = copy.copy(_EMPTY.get(field))
    hidden = data.get("hiddenAssociates")
    hidden = {u for u in hidden if isinstance(u, str)} if isinstance(hidden, list) else set()
    for key, _title, _gm_only in LINK_FIELDS:
        value = data.get(key)
        if isinstance(value, list):
            data[key] = [u for u in value if not (isinstance(u, str) and u in hidden)]
        elif isinstance(value, str) and value in hidden:
            data[key] = None
    data["hiddenAssociates"] = []
    data["notes"] = ""
    quests = data.get("quests")
    if isinstance(quests, list):
        first = quests[0] if quests else None
        data["quests"] = [q for q in quests if isinstance(q, Mapping) and _truthy(q.get("visible"))]
        if sheet == "quest" and isinstance(first, Mapping) and _truthy(first.get("hideRewards")):
            data["inventory"] = []
    if sheet == "shop" and _truthy(data.get("hideInventory")):
        data["inventory"] = []
    return flags
