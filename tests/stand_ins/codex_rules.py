"""What Campaign Codex (cc13) does inside Foundry when a journal entry is written, for the relay stand-in.

Written from shared/docs/campaign-codex.md and cc13's main.js / sheet-conversion.js, independently of
the bot's services/codex: the stand-in must be able to disagree with the bot.
- No pre-create hook: a created entry keeps exactly the flags it was sent with; only
  ``flags.core.sheetClass`` picks its sheet.
- ``preUpdateJournalEntry``: a ``flags.core.sheetClass`` of ``campaign-codex.XSheet`` sets the type
  (and ``tagMode``); from another Campaign Codex sheet, the data is converted (moves and drops).
  The confirmation dialog is taken as answered "yes" at once; the fields it would name are recorded.
- Links are never mirrored: a write changes the entry it names and nothing else.
"""

from __future__ import annotations

import copy

NPCISH = ("npc", "tag")
# (old, new) -> steps: "drop:f", "list:f>t" (merge into list t), "one:f>t" (set t if empty), "split:f"
_STEPS: dict[tuple[str, str], list[str]] = {}
for _n in NPCISH:
    for _new in ("shop", "group"):
        _STEPS[(_n, _new)] = ["drop:linkedShops", "drop:linkedLocations", "list:associates>linkedNPCs"]
    _STEPS[(_n, "location")] = ["drop:linkedLocations", "list:associates>linkedNPCs"]
    _STEPS[(_n, "region")] = ["split:linkedLocations", "list:associates>linkedNPCs"]
    _STEPS[("shop", _n)] = ["list:linkedNPCs>associates", "list:linkedLocation>linkedLocations"]
    _STEPS[("location", _n)] = ["list:linkedNPCs>associates", "list:parentRegion>linkedLocations"]
    _STEPS[("region", _n)] = [
        "list:parentRegions>linkedLocations",
        "list:linkedRegions>linkedLocations",
        "list:linkedNPCs>associates",
    ]
    _STEPS[("group", _n)] = ["list:linkedNPCs>associates"]
_STEPS[("shop", "location")] = _STEPS[("shop", "group")] = ["drop:linkedLocation"]
_STEPS[("shop", "region")] = ["list:linkedLocation>linkedLocations"]
_STEPS[("location", "shop")] = ["one:parentRegion>linkedLocation", "drop:linkedShops"]
_STEPS[("location", "region")] = ["list:parentRegion>parentRegions"]
_STEPS[("location", "group")] = ["drop:parentRegion", "drop:linkedShops"]
_REGION_DROPS = ["drop:parentRegions", "drop:linkedRegions", "drop:linkedLocations"]
_STEPS[("region", "shop")] = _STEPS[("region", "group")] = [*_REGION_DROPS, "drop:linkedShops"]
_STEPS[("region", "location")] = list(_REGION_DROPS)

_LOSS = {
    ("npc", "shop"): ["linkedShops", "linkedLocations"],
    ("npc", "group"): ["linkedShops", "linkedLocations"],
    ("npc", "location"): ["linkedLocations"],
    ("tag", "shop"): ["linkedShops", "linkedLocations"],
    ("tag", "group"): ["linkedShops", "linkedLocations"],
    ("tag", "location"): ["linkedLocations"],
    ("shop", "location"): ["linkedLocation"],
    ("shop", "group"): ["linkedLocation"],
    ("location", "shop"): ["linkedShops"],
    ("location", "group"): ["parentRegion", "linkedShops"],
    ("region", "shop"): ["parentRegions", "linkedRegions", "linkedLocations", "linkedShops"],
    ("region", "location"): ["parentRegions", "linkedRegions", "linkedLocations"],
    ("region", "group"): ["parentRegions", "linkedRegions", "linkedLocations", "linkedShops"],
}


def _present(value) -> bool:
    return bool(value) if isinstance(value, (list, str)) else value is not None


def sheet_type(doc: dict) -> str | None:
    """The Campaign Codex type the entry's sheet shows, None when it opens as a plain journal."""
    sheet = ((doc.get("flags") or {}).get("core") or {}).get("sheetClass")
    if not isinstance(sheet, str) or not sheet.startswith("campaign-codex."):
        return None
    return sheet.split(".")[1].replace("Sheet", "").lower()


def new_sheet_in(diff: dict) -> str | None:
    """The sheet class an update sets, in dot-path or nested form."""
    if "flags.core.sheetClass" in diff:
        return diff["flags.core.sheetClass"]
    return (
        ((diff.get("flags") or {}).get("core") or {}).get("sheetClass") if isinstance(diff.get("flags"), dict) else None
    )


def before_update(doc: dict, diff: dict) -> dict | None:
    """preUpdateJournalEntry: returns what the conversion needs to run after the update, or None."""
    sheet = new_sheet_in(diff)
    if not isinstance(sheet, str) or not sheet.startswith("campaign-codex."):
        return None
    new_type = sheet.split(".")[1].replace("Sheet", "").lower()
    codex = (doc.get("flags") or {}).get("campaign-codex") or {}
    old_type = codex.get("type")
    diff["flags.campaign-codex.type"] = new_type
    if new_type == "tag":
        diff["flags.campaign-codex.data.tagMode"] = True
    elif old_type == "tag" or (codex.get("data") or {}).get("tagMode"):
        diff["flags.campaign-codex.data.tagMode"] = False
    was_codex_sheet = sheet_type(doc) is not None
    return {"old": old_type, "new": new_type, "convert": was_codex_sheet and old_type and old_type != new_type}


def after_update(world, doc: dict, pending: dict | None) -> None:
    """The module's internal migration, run once the update is in (dialog answered "yes")."""
    if not pending or not pending["convert"]:
        return
    codex = doc["flags"]["campaign-codex"]
    data = copy.deepcopy(codex.get("data") or {})
    key = (pending["old"], pending["new"])
    asked = [f for f in _LOSS.get(key, []) if _present(data.get(f))]
    world.codex_dialogs.append({"uuid": f"JournalEntry.{doc['_id']}", "lost": asked})
    for step in _STEPS.get(key, []):
        kind, rest = step.split(":")
        source, _, target = rest.partition(">")
        value = data.get(source)
        if not _present(value):
            continue
        if kind == "split":
            regions = [u for u in value if _type_of(world, u) == "region"]
            if regions:
                data["linkedRegions"] = [*(data.get("linkedRegions") or []), *regions]
        elif kind == "list":
            merged = list(data.get(target) or [])
            for item in value if isinstance(value, list) else [value]:
                if item not in merged:
                    merged.append(item)
            data[target] = merged
        elif kind == "one" and not data.get(target):
            data[target] = value[0] if isinstance(value, list) else value
        data[source] = None
    codex["data"] = data


def _type_of(world, uuid: str) -> str | None:
    doc = world.entry(uuid)
    return ((doc or {}).get("flags", {}).get("campaign-codex") or {}).get("type")
