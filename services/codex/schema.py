"""Reading and checking a push file: the ``flags.campaign-codex`` object a GM wants written.

Everything is refused here, before anything is sent: a wrong file must never reach the world.
Accepted shapes: the bare object ``{"type":..., "image":..., "data":{...}}`` (any non-empty subset),
``{"flags": {"campaign-codex": {...}}}`` and ``{"flags.campaign-codex": {...}}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.errors import UserFacingError

__all__ = [
    "PushFileError",
    "parse_push_file",
    "validate_against_type",
    "TYPES",
    "TYPE_LABELS",
    "HOUSEKEEPING_KEYS",
    "DATA_FIELDS",
    "MAX_DEPTH",
]

MAX_DEPTH = 32

TYPES = ("npc", "tag", "location", "shop", "region", "group", "quest")
TYPE_LABELS = {
    "npc": "NPC",
    "tag": "Faction",
    "location": "Location",
    "shop": "Entry",
    "region": "Region",
    "group": "Group",
    "quest": "Quest",
}
HOUSEKEEPING_KEYS = ("sheet-widgets", "widgets-position", "markerid", "noteid", "sidebarCollapsed")
TOP_KEYS = ("type", "image", "data")

# Field kinds. Every field has the same kind whatever the type, so a file without "type" can still
# be kind-checked before the live entry's type is known.
UUID_LIST, UUID_OR_NULL, HTML, BOOL, NUMBER, TAGS, INVENTORY, QUESTS, CARD_NOTES = (
    "uuid-list",
    "uuid-or-null",
    "html",
    "bool",
    "number",
    "tags",
    "inventory",
    "quests",
    "card-notes",
)
FIELD_KINDS: dict[str, str] = {
    "linkedActor": UUID_OR_NULL,
    "description": HTML,
    "notes": HTML,
    "linkedLocations": UUID_LIST,
    "linkedShops": UUID_LIST,
    "associates": UUID_LIST,
    "tagMode": BOOL,
    "linkedGroups": UUID_LIST,
    "linkedNPCs": UUID_LIST,
    "linkedScene": UUID_OR_NULL,
    "parentRegion": UUID_OR_NULL,
    "linkedLocation": UUID_OR_NULL,
    "inventory": INVENTORY,
    "markup": NUMBER,
    "isLoot": BOOL,
    "hideInventory": BOOL,
    "inventoryCash": NUMBER,
    "linkedRegions": UUID_LIST,
    "parentRegions": UUID_LIST,
    "members": UUID_LIST,
    "hiddenAssociates": UUID_LIST,
    "quests": QUESTS,
    "tags": TAGS,
    "linkedStandardJournals": UUID_LIST,
    "linkedQuests": UUID_LIST,
    "linkCardNotes": CARD_NOTES,
}
ANY_TYPE_FIELDS = ("tags", "linkedStandardJournals", "linkedQuests", "linkCardNotes")
_NPC = ("linkedActor", "description", "linkedLocations", "linkedShops", "associates", "notes", "tagMode")
DATA_FIELDS: dict[str, tuple[str, ...]] = {
    t: fields + ANY_TYPE_FIELDS
    for t, fields in {
        "npc": _NPC,
        "tag": _NPC + ("linkedGroups",),
        "location": ("description", "linkedNPCs", "linkedScene", "linkedShops", "notes", "parentRegion"),
        "shop": (
            "description",
            "linkedNPCs",
            "linkedLocation",
            "inventory",
            "linkedScene",
            "markup",
            "notes",
            "isLoot",
            "hideInventory",
            "inventoryCash",
        ),
        "region": (
            "description",
            "linkedLocations",
            "linkedRegions",
            "parentRegions",
            "linkedNPCs",
            "linkedShops",
            "linkedScene",
            "notes",
        ),
        "group": ("description", "members", "linkedNPCs", "notes", "hiddenAssociates"),
        "quest": ("description", "notes", "quests"),
    }.items()
}

# Known keys inside list items; other keys are allowed (the module adds some across versions).
_INVENTORY_ITEM = {"itemUuid": "uuid", "quantity": "number", "customPrice": "number-or-null", "infinite": "bool"}
_QUEST_ITEM = {
    "id": "string",
    "title": "string",
    "description": "string",
    "completed": "bool",
    "failed": "bool",
    "visible": "bool",
    "objectives": "list",
    "rewardXP": "number-or-null",
}

_STRING_SKIP = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = re.compile(r"[\[\]{}]")
_MAX_DETAILS = 20


class PushFileError(UserFacingError):
    """A push file that cannot be written as it is; ``details`` name each bad path."""


def _fail(message: str, details: list[str] | None = None) -> PushFileError:
    details = list(details or [])
    if len(details) > _MAX_DETAILS:
        details = details[:_MAX_DETAILS] + [f"… and {len(details) - _MAX_DETAILS} more problems."]
    return PushFileError(message, details=details)


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB ({n:,} bytes)"
    if n >= 1_000:
        return f"{n / 1_000:.1f} KB ({n:,} bytes)"
    return f"{n:,} bytes"


def _max_depth(text: str, limit: int) -> int:
    """Bracket nesting depth outside JSON strings, stopping as soon as it passes ``limit``."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRING_SKIP.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


MAX_PUSH_BYTES = 1_000_000


def check_push_size(size: int, *, max_bytes: int = MAX_PUSH_BYTES) -> None:
    """Refuse an oversized file from its announced size, before downloading it."""
    if size > max_bytes:
        raise _fail(f"The push file is {_size(size)}, over the limit of {_size(max_bytes)}; nothing was sent.")


def parse_push_file(raw: bytes, *, max_bytes: int = MAX_PUSH_BYTES) -> dict:
    """Decode, parse and check a push file; return the campaign-codex object to push.

    When the file carries no ``type``, the ``data`` fields are only kind-checked here: call
    ``validate_against_type(obj, live_type)`` once the live entry's type is known.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    check_push_size(len(raw), max_bytes=max_bytes)
    try:
        text = bytes(raw).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(
            f"The push file is not UTF-8 text (undecodable byte at position {exc.start}); save it as UTF-8 and try again."
        ) from None
    if not text.strip():
        raise _fail("The push file is empty.")
    depth = _max_depth(text, MAX_DEPTH)
    if depth > MAX_DEPTH:
        raise _fail(f"The push file is nested too deeply (more than {MAX_DEPTH} levels of objects and lists).")
    try:
        top = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise _fail(f"The push file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    except ValueError as exc:  # NaN / Infinity
        raise _fail(f"The push file is not valid JSON: {exc}.") from None
    except RecursionError:  # belt and braces: the depth check above should have caught it
        raise _fail(
            f"The push file is nested too deeply (more than {MAX_DEPTH} levels of objects and lists)."
        ) from None

    obj = _unwrap(top)
    _check_object(obj)
    if "type" in obj:
        validate_against_type(obj, None)
    return obj


def _kind_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _unwrap(top: Any) -> dict:
    if not isinstance(top, dict):
        raise _fail(f"The push file must hold a JSON object, not {_kind_name(top)}.")
    if "flags.campaign-codex" in top or "flags" in top:
        wrapper = "flags.campaign-codex" if "flags.campaign-codex" in top else "flags"
        others = sorted(k for k in top if k != wrapper)
        if others:
            raise _fail(
                "The push file can only carry flags.campaign-codex; remove the other top-level keys.",
                [f"{k}: not pushable" for k in others],
            )
        inner = top[wrapper]
        if wrapper == "flags":
            if not isinstance(inner, dict):
                raise _fail(f"flags must be an object holding campaign-codex, not {_kind_name(inner)}.")
            other_flags = sorted(k for k in inner if k != "campaign-codex")
            if other_flags:
                raise _fail(
                    "The push file can only carry flags.campaign-codex; remove the other flags.",
                    [f"flags.{k}: not pushable" for k in other_flags],
                )
            if "campaign-codex" not in inner:
                raise _fail("The push file's flags hold no campaign-codex object.")
            inner = inner["campaign-codex"]
        if not isinstance(inner, dict):
            raise _fail(f"flags.campaign-codex must be an object, not {_kind_name(inner)}.")
        return inner
    return top


def _bad_keys(value: Any, path: str) -> list[str]:
    """Keys Foundry would misread: dotted keys become paths, ``-=``/``==`` keys delete or replace."""
    problems: list[str] = []
    stack = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                here = f"{where}.{key}" if where else key
                if key == "":
                    problems.append(f"{where or 'the file'}: has an empty key")
                elif "." in key:
                    problems.append(f"{where or 'the file'}: key {key!r} contains a dot, which Foundry reads as a path")
                elif key.startswith(("-=", "==")):
                    problems.append(f"{where or 'the file'}: key {key!r} is Foundry's delete/replace syntax")
                stack.append((child, here))
        elif isinstance(node, list):
            for i, child in enumerate(node):
                stack.append((child, f"{where}[{i}]"))
    return sorted(problems)


def _check_object(obj: dict) -> None:
    if not obj:
        raise _fail("The push file has nothing to push: give at least one of type, image or data.")
    housekeeping = [k for k in obj if k in HOUSEKEEPING_KEYS]
    if housekeeping:
        raise _fail(
            "The push file sets keys Campaign Codex manages itself; remove them.",
            [f"{k}: owned by Campaign Codex, not pushable" for k in housekeeping],
        )
    unknown = [k for k in obj if k not in TOP_KEYS]
    if unknown:
        raise _fail(
            f"The push file has unknown keys; only {', '.join(TOP_KEYS)} can be pushed.",
            [f"{k}: unknown key" for k in unknown],
        )
    bad_keys = _bad_keys(obj, "")
    if bad_keys:
        raise _fail("The push file has keys that would be misread as paths or commands.", bad_keys)
    if "type" in obj and obj["type"] not in TYPES:
        shown = obj["type"] if isinstance(obj["type"], str) else _kind_name(obj["type"])
        raise _fail(f"Unknown Campaign Codex type {shown!r}; valid types are: {', '.join(TYPES)}.")
    if "image" in obj and obj["image"] is not None and not isinstance(obj["image"], str):
        raise _fail(f"image must be a path or URL (text) or null, not {_kind_name(obj['image'])}.")
    if "data" in obj:
        data = obj["data"]
        if not isinstance(data, dict):
            raise _fail(f"data must be an object of fields, not {_kind_name(data)}.")
        unknown_fields = sorted(k for k in data if k not in FIELD_KINDS)
        if unknown_fields:
            raise _fail(
                "The push file has data fields Campaign Codex does not know.",
                [f"data.{k}: unknown field" for k in unknown_fields],
            )
        problems: list[str] = []
        for key, value in data.items():
            if value is not None:  # null clears the field (see services/codex/diff.py)
                problems.extend(_check_kind(f"data.{key}", FIELD_KINDS[key], value))
        if problems:
            raise _fail("Some data fields have the wrong kind of value.", problems)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_items(path: str, value: Any, spec: dict[str, str], what: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{path} must be a list of {what}, not {_kind_name(value)}"]
    problems: list[str] = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object, not {_kind_name(item)}")
            continue
        for key, kind in spec.items():
            if key not in item:
                continue
            v = item[key]
            ok = {
                "uuid": isinstance(v, str),
                "string": isinstance(v, str),
                "number": _is_number(v),
                "number-or-null": v is None or _is_number(v),
                "bool": isinstance(v, bool),
                "list": isinstance(v, list),
            }[kind]
            if not ok:
                problems.append(f"{where}.{key} must be {_KIND_WORDS[kind]}, not {_kind_name(v)}")
    return problems


_KIND_WORDS = {
    "uuid": "a uuid (text)",
    "string": "text",
    "number": "a number",
    "number-or-null": "a number or null",
    "bool": "true or false",
    "list": "a list",
}


def _check_kind(path: str, kind: str, value: Any) -> list[str]:
    if kind == UUID_LIST:
        if not isinstance(value, list):
            return [f"{path} must be a list of uuids, not {_kind_name(value)}"]
        return [
            f"{path}[{i}] must be a uuid (text), not {_kind_name(v)}"
            for i, v in enumerate(value)
            if not isinstance(v, str)
        ]
    if kind == UUID_OR_NULL:
        return (
            []
            if value is None or isinstance(value, str)
            else [f"{path} must be a uuid (text) or null, not {_kind_name(value)}"]
        )
    if kind == HTML:
        return [] if isinstance(value, str) else [f"{path} must be text (HTML), not {_kind_name(value)}"]
    if kind == BOOL:
        return [] if isinstance(value, bool) else [f"{path} must be true or false, not {_kind_name(value)}"]
    if kind == NUMBER:
        return [] if _is_number(value) else [f"{path} must be a number, not {_kind_name(value)}"]
    if kind == TAGS:
        if isinstance(value, str):
            return []
        if not isinstance(value, list):
            return [f"{path} must be a list of tags (or one comma-separated text), not {_kind_name(value)}"]
        return [f"{path}[{i}] must be text, not {_kind_name(v)}" for i, v in enumerate(value) if not isinstance(v, str)]
    if kind == INVENTORY:
        return _check_items(path, value, _INVENTORY_ITEM, "items ({itemUuid, quantity, ...})")
    if kind == QUESTS:
        return _check_items(path, value, _QUEST_ITEM, "quests ({id, title, ...})")
    if kind == CARD_NOTES:
        if not isinstance(value, dict):
            return [f"{path} must be an object of link-card notes, not {_kind_name(value)}"]
        problems: list[str] = []
        for field, notes in value.items():
            problems.extend(
                _check_items(f"{path}.{field}", notes, {"uuid": "uuid", "note": "string"}, "notes ({uuid, note})")
            )
        return problems
    raise AssertionError(f"unhandled kind {kind}")  # pragma: no cover


def validate_against_type(obj: dict, live_type: str | None) -> None:
    """Check ``obj["data"]`` fields belong to the entry's type.

    The type is ``obj["type"]`` when the file sets one (the push changes it), else ``live_type``
    (the type the live entry has; None when it is not a Campaign Codex entry yet).
    """
    effective = obj.get("type") or live_type
    data = obj.get("data")
    if effective is None:
        if data:
            raise _fail(
                'This entry is not a Campaign Codex entry yet, so the push file must say which "type" it is '
                f"({', '.join(TYPES)})."
            )
        return
    if effective not in DATA_FIELDS:
        raise _fail(f"Unknown Campaign Codex type {effective!r}; valid types are: {', '.join(TYPES)}.")
    if not isinstance(data, dict):
        return
    allowed = DATA_FIELDS[effective]
    wrong = sorted(k for k in data if k not in allowed)
    if wrong:
        label = TYPE_LABELS[effective]
        raise _fail(
            f"These data fields do not belong to a {label} ({effective}) entry; allowed: {', '.join(allowed)}.",
            [f"data.{k}: not a {effective} field" for k in wrong],
        )
