"""What Campaign Codex's own type conversion does to an entry's data, for the /push preview.

A change of ``flags.core.sheetClass`` from one ``campaign-codex.*`` sheet to another makes the module
(cc13 ``sheet-conversion.js``, ``_migrateInternalLinks``) move some link fields to the new type's
field and clear others; before that, when a field in its ``lossRules`` holds something, it asks for
confirmation in a dialog **in the Foundry client that made the update** (the browser hosting the REST
module). The type and sheet change at once; the data moves only after that dialog is answered.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.codex.schema import DATA_FIELDS, TYPE_LABELS

__all__ = ["Effect", "conversion_effects", "asks_to_confirm", "MOVE", "DROP", "SPLIT"]

MOVE, DROP, SPLIT = "move", "drop", "split"
_NPCISH = ("npc", "tag")

# (old, new) -> steps, in the module's order: (MOVE, field, target, target_is_list) | (DROP, field) | (SPLIT, field)
_RULES: dict[tuple[str, str], list[tuple]] = {}


def _rule(olds: tuple[str, ...], news: tuple[str, ...], *steps: tuple) -> None:
    for old in olds:
        for new in news:
            _RULES[(old, new)] = list(steps)


_rule(
    _NPCISH,
    ("shop", "group"),
    (DROP, "linkedShops"),
    (DROP, "linkedLocations"),
    (MOVE, "associates", "linkedNPCs", True),
)
_rule(_NPCISH, ("location",), (DROP, "linkedLocations"), (MOVE, "associates", "linkedNPCs", True))
_rule(_NPCISH, ("region",), (SPLIT, "linkedLocations"), (MOVE, "associates", "linkedNPCs", True))
_rule(("shop",), _NPCISH, (MOVE, "linkedNPCs", "associates", True), (MOVE, "linkedLocation", "linkedLocations", True))
_rule(("shop",), ("location", "group"), (DROP, "linkedLocation"))
_rule(("shop",), ("region",), (MOVE, "linkedLocation", "linkedLocations", True))
_rule(("location",), _NPCISH, (MOVE, "linkedNPCs", "associates", True), (MOVE, "parentRegion", "linkedLocations", True))
_rule(("location",), ("shop",), (MOVE, "parentRegion", "linkedLocation", False), (DROP, "linkedShops"))
_rule(("location",), ("region",), (MOVE, "parentRegion", "parentRegions", True))
_rule(("location",), ("group",), (DROP, "parentRegion"), (DROP, "linkedShops"))
_rule(
    ("region",),
    _NPCISH,
    (MOVE, "parentRegions", "linkedLocations", True),
    (MOVE, "linkedRegions", "linkedLocations", True),
    (MOVE, "linkedNPCs", "associates", True),
)
_rule(
    ("region",),
    ("shop", "group"),
    (DROP, "parentRegions"),
    (DROP, "linkedRegions"),
    (DROP, "linkedLocations"),
    (DROP, "linkedShops"),
)
_rule(("region",), ("location",), (DROP, "parentRegions"), (DROP, "linkedRegions"), (DROP, "linkedLocations"))
_rule(("group",), _NPCISH, (MOVE, "linkedNPCs", "associates", True))

# The fields whose loss makes the module ask first (its lossRules); other moves and drops go unasked.
_ASKS: dict[tuple[str, str], tuple[str, ...]] = {}
for _old, _news in {
    "npc": {"shop": ("linkedShops", "linkedLocations"), "group": ("linkedShops", "linkedLocations")},
    "tag": {"shop": ("linkedShops", "linkedLocations"), "group": ("linkedShops", "linkedLocations")},
    "shop": {"location": ("linkedLocation",), "group": ("linkedLocation",)},
    "location": {"shop": ("linkedShops",), "group": ("parentRegion", "linkedShops")},
    "region": {
        "shop": ("parentRegions", "linkedRegions", "linkedLocations", "linkedShops"),
        "location": ("parentRegions", "linkedRegions", "linkedLocations"),
        "group": ("parentRegions", "linkedRegions", "linkedLocations", "linkedShops"),
    },
}.items():
    for _new, _fields in _news.items():
        _ASKS[(_old, _new)] = _fields
_ASKS[("npc", "location")] = _ASKS[("tag", "location")] = ("linkedLocations",)


@dataclass(frozen=True)
class Effect:
    field: str
    text: str


def _filled(value: object) -> bool:
    return bool(value) if isinstance(value, (list, str, dict)) else value is not None


def conversion_effects(old_type: str, new_type: str, data: dict) -> list[Effect]:
    """Every field of ``data`` the conversion old → new moves or drops, plus fields it keeps that the
    new sheet does not show. Empty fields are left out: nothing happens to them that anyone would see."""
    effects: list[Effect] = []
    handled: set[str] = set()
    for step in _RULES.get((old_type, new_type), []):
        kind, field = step[0], step[1]
        handled.add(field)
        if not _filled(data.get(field)):
            continue
        if kind == DROP:
            effects.append(Effect(field, "dropped (cleared)"))
        elif kind == SPLIT:
            effects.append(
                Effect(field, "its regions move to linkedRegions; everything else in it is dropped (cleared)")
            )
        else:
            _, _, target, is_list = step
            effects.append(
                Effect(field, f"moved to {target}" if is_list else f"moved to {target} (only if {target} is empty)")
            )
    if new_type in DATA_FIELDS:
        label = TYPE_LABELS.get(new_type, new_type)
        for field in sorted(set(data) - handled - set(DATA_FIELDS[new_type])):
            if _filled(data.get(field)):
                effects.append(Effect(field, f"kept, but a {label} sheet does not show it"))
    return effects


def asks_to_confirm(old_type: str, new_type: str, data: dict) -> list[str]:
    """The fields Campaign Codex will name in its "will be lost" dialog in Foundry (none: no dialog)."""
    return [f for f in _ASKS.get((old_type, new_type), ()) if _filled(data.get(f))]
