"""The narrowest dot-path update that turns the live ``flags.campaign-codex`` into the pushed one.

A push is a partial update: keys the file leaves out stay as they are; ``null`` clears a key (sent as
a null leaf, ``"flags.campaign-codex.data.notes": null``: Foundry's mergeObject assigns null like any
value, and Campaign Codex itself clears fields to null; the ``-=key`` deletion form would remove the
key, which no Campaign Codex code does). Objects are walked down to
their leaves (``flags.campaign-codex.data.description``); lists and scalars are replaced whole at
their own path. Foundry's dot-path merge creates missing intermediate objects, so the deepest path is
emitted even when the live entry lacks the parent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from services.codex.render import html_to_text, neutralise_mentions

__all__ = ["codex_diff", "describe_changes", "json_equal"]

_FORBIDDEN_ROOTS = {"_id", "pages", "ownership"}
_MISSING = object()


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: ``True`` is not ``1``, but ``1`` equals ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _check_prefix(prefix: str) -> None:
    parts = prefix.split(".")
    if not prefix or any(not p for p in parts) or parts[0] in _FORBIDDEN_ROOTS or prefix == "flags":
        raise ValueError(f"refusing to diff under {prefix!r}")


def codex_diff(live: dict, pushed: dict, *, prefix: str = "flags.campaign-codex") -> dict[str, object]:
    """Dot-path keys → new values, for what ``pushed`` changes in ``live``. Unchanged → ``{}``."""
    _check_prefix(prefix)
    out: dict[str, object] = {}
    _walk(live if isinstance(live, dict) else {}, pushed, prefix, out)
    return out


def _walk(live: dict, pushed: dict, prefix: str, out: dict[str, object]) -> None:
    for key, new in pushed.items():
        if not isinstance(key, str) or not key or "." in key or key.startswith(("-=", "==")):
            raise ValueError(f"key {key!r} under {prefix} cannot be written as a dot-path")
        path = f"{prefix}.{key}"
        old = live.get(key, _MISSING)
        if isinstance(new, dict):
            if isinstance(old, dict):
                _walk(old, new, path, out)
            elif old is _MISSING and new:
                _walk({}, new, path, out)  # Foundry creates the intermediate objects
            else:
                # An empty object where nothing is, or an object replacing a scalar/list: whole.
                out[path] = copy.deepcopy(new)
        elif new is None:
            # A clear: written as a null leaf, the way Campaign Codex clears fields itself. Nothing to
            # clear (missing or already null) sends nothing.
            if old is not _MISSING and old is not None:
                out[path] = None
        elif old is _MISSING or not json_equal(old, new):
            out[path] = copy.deepcopy(new)


def _lookup(obj: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def _named(value: Any, names: Callable[[str], str] | None) -> Any:
    """Uuids shown as entry names: a preview never shows a bare uuid for a link."""
    if names is None:
        return value
    if isinstance(value, str) and _is_uuid(value):
        return names(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [names(v) if _is_uuid(v) else v for v in value]
    return value


def _is_uuid(text: str) -> bool:
    head, _, rest = text.partition(".")
    return bool(rest) and head in ("JournalEntry", "Actor", "Scene", "Item", "Compendium", "JournalEntryPage")


def _shorten(value: Any, width: int) -> str:
    if value is _MISSING or value is None or value == "" or value == [] or value == {}:
        text = "(empty)"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = html_to_text(value) or "(empty)"
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = f"[{', '.join(value)}]"
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    text = " ".join(text.split())
    width = max(width, 2)
    if len(text) > width:
        text = text[: width - 1].rstrip() + "…"
    return neutralise_mentions(text)


def describe_changes(
    live: dict,
    diff: dict,
    *,
    width: int = 80,
    prefix: str = "flags.campaign-codex",
    names: Callable[[str], str] | None = None,
) -> list[str]:
    """One preview line per changed path: ``data.description: old → new``.

    ``live`` is the live campaign-codex object; paths are shown relative to ``prefix``. Values are
    flattened to text (HTML stripped), cut to about ``width`` characters; "(empty)" when missing.
    """
    lines: list[str] = []
    for path, new in diff.items():
        rel = path[len(prefix) + 1 :] if path.startswith(prefix + ".") else path
        old = (
            _lookup(live if isinstance(live, dict) else {}, rel.split("."))
            if path.startswith(prefix + ".")
            else _MISSING
        )
        shown_new = "(cleared)" if new is None and old not in (_MISSING, None) else _shorten(_named(new, names), width)
        lines.append(f"{rel}: {_shorten(_named(old, names), width)} → {shown_new}")
    return lines
