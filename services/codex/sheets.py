"""Which Campaign Codex sheet an entry opens with, and what a new entry of each type starts with.

Campaign Codex registers its sheets with ``makeDefault: false``: only ``flags.core.sheetClass`` selects
one, ``flags.campaign-codex.type`` alone opens a plain journal. The class strings and the ``data`` a new
entry starts with are those of the module's own ``create*Journal`` (cc13 ``campaign-manager.js``).
"""

from __future__ import annotations

import copy

__all__ = ["SHEET_CLASSES", "VISIBLE", "HIDDEN", "create_document", "sheet_class", "type_of_sheet_class"]

SHEET_CLASSES = {
    "region": "campaign-codex.RegionSheet",
    "location": "campaign-codex.LocationSheet",
    "shop": "campaign-codex.ShopSheet",
    "npc": "campaign-codex.NPCSheet",
    "tag": "campaign-codex.TagSheet",
    "group": "campaign-codex.GroupSheet",
    "quest": "campaign-codex.QuestSheet",
}
# ownership.default as Campaign Codex's eye button sets it: OBSERVER shares, NONE hides.
VISIBLE, HIDDEN = 2, 0

_NPC = {
    "linkedActor": None,
    "description": "",
    "linkedLocations": [],
    "linkedShops": [],
    "associates": [],
    "notes": "",
    "tagMode": False,
}
_DEFAULTS: dict[str, dict] = {
    "npc": _NPC,
    "tag": {**_NPC, "tagMode": True},
    "location": {"description": "", "linkedNPCs": [], "linkedScene": None, "linkedShops": [], "notes": ""},
    "shop": {
        "description": "",
        "linkedNPCs": [],
        "linkedLocation": None,
        "inventory": [],
        "linkedScene": None,
        "markup": 1.0,
        "notes": "",
    },
    "region": {"description": "", "linkedLocations": [], "linkedScene": None, "notes": ""},
    "group": {"description": "", "members": [], "linkedNPCs": [], "notes": ""},
    "quest": {"description": "", "notes": "", "quests": []},
}


def sheet_class(codex_type: str) -> str:
    return SHEET_CLASSES[codex_type]


def type_of_sheet_class(value: object) -> str | None:
    """The type Campaign Codex derives from a sheet class ("campaign-codex.NPCSheet" → "npc"), as its
    preUpdateJournalEntry hook does; None for any other sheet."""
    if not isinstance(value, str) or not value.startswith("campaign-codex."):
        return None
    derived = value.split(".", 1)[1].replace("Sheet", "").lower()
    return derived if derived in SHEET_CLASSES else None


def create_document(pushed: dict) -> dict:
    """The ``data`` of a /create for a new entry of ``pushed["type"]``: its sheet, the type's defaults
    under what the file gives (a null in the file keeps the default), hidden from players."""
    codex_type = pushed["type"]
    data = copy.deepcopy(_DEFAULTS[codex_type])
    data.update({k: copy.deepcopy(v) for k, v in (pushed.get("data") or {}).items() if v is not None})
    codex: dict = {"type": codex_type, "data": data}
    if pushed.get("image") is not None:
        codex["image"] = pushed["image"]
    return {
        "ownership": {"default": HIDDEN},
        "flags": {"core": {"sheetClass": SHEET_CLASSES[codex_type]}, "campaign-codex": codex},
    }
