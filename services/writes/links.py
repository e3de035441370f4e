"""Two-way links: the other side of every link a push adds or removes, as Campaign Codex's drop handlers
(``game.campaignCodex.link*``) and its remove handler keep them. A write through the relay changes one
side only, so the bot writes the other side itself.

Each other entry's field is rewritten whole at its own dot-path, computed from that entry as read just
before (a read-modify-write of one list; the bot re-reads everything at Confirm).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pair", "PAIRS", "pair_fields", "Side", "reverse_changes"]


@dataclass(frozen=True)
class Side:
    types: tuple[str, ...]
    field: str
    many: bool  # a list; False: one uuid (the entry leaves its old owner's list when it moves)


@dataclass(frozen=True)
class Pair:
    a: Side
    b: Side


# campaign-codex.md, "Two-way links".
PAIRS = (
    Pair(Side(("location", "region"), "linkedNPCs", True), Side(("npc",), "linkedLocations", True)),
    Pair(Side(("shop",), "linkedNPCs", True), Side(("npc",), "linkedShops", True)),
    Pair(Side(("npc",), "associates", True), Side(("npc",), "associates", True)),
    Pair(Side(("group",), "linkedNPCs", True), Side(("tag",), "linkedGroups", True)),
    Pair(Side(("location", "region"), "linkedShops", True), Side(("shop",), "linkedLocation", False)),
    Pair(Side(("region",), "linkedLocations", True), Side(("location",), "parentRegion", False)),
)


def pair_fields(codex_type: str | None) -> dict[str, list[tuple[Side, Side]]]:
    """field of an entry of this type → [(this side, other side)] for every pair it takes part in."""
    out: dict[str, list[tuple[Side, Side]]] = {}
    for pair in PAIRS:
        for mine, theirs in ((pair.a, pair.b), (pair.b, pair.a)):
            if codex_type in mine.types and (mine, theirs) not in out.get(mine.field, []):
                out.setdefault(mine.field, []).append((mine, theirs))
    return out


def as_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) and value else []


def reverse_changes(
    self_uuid: str, theirs: Side, other_data: dict, *, linked: bool
) -> tuple[dict[str, object], str | None]:
    """The other entry's new field value so that it does (``linked``) or does not point back at
    ``self_uuid``; ``{}`` when it already does. Also the uuid of the old owner a one-valued field
    pointed at before (it must drop the other entry from its list), or None."""
    current = other_data.get(theirs.field)
    if theirs.many:
        items = as_list(current)
        if linked and self_uuid not in items:
            return {theirs.field: [*items, self_uuid]}, None
        if not linked and self_uuid in items:
            return {theirs.field: [u for u in items if u != self_uuid]}, None
        return {}, None
    if linked and current != self_uuid:
        old_owner = current if isinstance(current, str) and current else None
        return {theirs.field: self_uuid}, old_owner
    if not linked and current == self_uuid:
        return {theirs.field: None}, None
    return {}, None
