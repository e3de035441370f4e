"""A journal entry (with or without Campaign Codex flags) as a neutral ``Reply`` for ``/lookup``.

Players must never see secrets or GM notes: ``gm=False`` drops ``<section class="secret">`` blocks
(revealed or not) and the ``notes`` field. HTML is parsed as a browser parses it (html5lib: a self-closed
``<section class="secret"/>`` still opens the section), and what a browser would not display (``<template>``,
the ``hidden`` attribute, ``display:none``, scripts, styles) is dropped for every reader. Every text is kept
inside Discord's embed limits and ``@everyone``/``@here``/mention syntax is defused with a zero-width space.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from bs4 import BeautifulSoup, NavigableString
from markdownify import MarkdownConverter

from core.replies import Reply, Tone
from services.codex.schema import TYPE_LABELS

__all__ = [
    "render_entry",
    "html_to_markdown",
    "html_to_text",
    "neutralise_mentions",
    "absolute_image_url",
    "LIMITS",
    "TYPE_LABELS",
]

LIMITS = {
    "title": 256,
    "description": 4096,
    "field_name": 256,
    "field_value": 1024,
    "fields": 25,
    "total": 6000,
    "footer": 2048,
}
# Linked fields in display order: (data key, field title, GM only).
LINK_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("linkedActor", "Actor", False),
    ("parentRegion", "Region", False),
    ("parentRegions", "Parent regions", False),
    ("linkedLocation", "Location", False),
    ("linkedLocations", "Locations", False),
    ("linkedRegions", "Regions", False),
    ("linkedScene", "Scene", False),
    ("linkedNPCs", "NPCs", False),
    ("members", "Members", False),
    ("associates", "Associates", False),
    ("hiddenAssociates", "Hidden associates", True),
    ("linkedShops", "Entries", False),
    ("linkedGroups", "Groups", False),
    ("linkedQuests", "Quests", False),
    ("linkedStandardJournals", "Journals", False),
)
UNKNOWN = "unknown entry"
_HTML_INPUT_MAX = 400_000  # characters of HTML parsed; far more than 4096 characters of output need
# markdownify recurses once per element level: deeper elements are unwrapped (their text kept) so a
# description nested hundreds deep cannot exhaust the interpreter's stack.
_MAX_NESTING = 40
# Conversions remembered (key: the HTML after link names were filled in, and the view), for sources
# up to _CACHE_SOURCE_MAX characters: at most 256 x 10 K characters held (a 2 KB description: ~1 MB).
_CACHE_SIZE = 256
_CACHE_SOURCE_MAX = 10_000

_ENRICHER = re.compile(
    r"@(UUID|Embed|JournalEntry|Actor|Item|Scene|RollTable|Compendium)\[([^\]\n]{1,300})\](?:\{([^}\n]{0,300})\})?"
)
# Elements a browser never displays, whatever their content.
_NEVER_SHOWN = ("template", "script", "style", "noscript", "head", "title", "meta", "link", "base", "object", "embed")
# An HTML5 parser's work grows faster than linearly with nesting; ProseMirror never nests near this deep.
_PARSE_DEPTH = 100
_TAG_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_VOID = frozenset("area base br col embed hr img input keygen link meta param source track wbr".split())
# What can hide text in HTML: a deeper source holding any of these is never shown (see _convert).
_HIDING_MARKS = re.compile(
    r"secret|hidden|template|display|visibility|<\s*/?\s*(?:script|style|noscript|dialog|head|title|object|embed)|<!",
    re.IGNORECASE,
)
TOO_DEEP = "(This description is nested too deeply to show; simplify its formatting in Foundry.)"
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|(.))", re.DOTALL)
_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)
_DISCORD_MENTION = re.compile(r"<(@[!&]?|#)(?=\d)")
_BLANKS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")
_TRAILING = re.compile(r"[ \t]+\n")
_TAG = re.compile(r"<[^>]*>")
_MD_SPECIAL = re.compile(r"([\\*_~`|>#\[\]()])")


# ----------------------------------------------------------------- text helpers
def neutralise_mentions(text: str) -> str:
    """``@everyone``/``@here`` and ``<@id>``-style mentions made inert with a zero-width space."""
    if not text:
        return text
    text = _MENTION.sub(lambda m: "@\u200b" + m.group(1), text)
    return _DISCORD_MENTION.sub(lambda m: "<" + m.group(1) + "\u200b", text)


def escape_md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def truncate(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Cut ``text`` to ``limit`` characters at a paragraph, line or word boundary, adding ``ellipsis``."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return ellipsis[:limit]
    room = limit - len(ellipsis)
    head = text[:room]
    for sep in ("\n\n", "\n", " "):
        cut = head.rfind(sep)
        if cut >= room * 0.6:
            head = head[:cut]
            break
    return head.rstrip() + ellipsis


def _link_name(kind: str, target: str, label: str | None, names: Callable[[str], str | None]) -> str:
    if label:
        return label
    if kind == "Embed":  # @Embed[uuid option …]: the uuid is the first word
        target = (target.split() or [""])[0]
    uuid = target if kind in ("UUID", "Compendium", "Embed") else f"{kind}.{target}"
    return _safe_name(names, uuid) or UNKNOWN


def _safe_name(names: Callable[[str], str | None], uuid: Any) -> str | None:
    if not isinstance(uuid, str) or not uuid:
        return None
    try:
        name = names(uuid)
    except Exception:  # a faulty name map must not break a lookup
        return None
    return name if isinstance(name, str) and name.strip() else None


def _replace_enrichers(source: str, names: Callable[[str], str | None], *, escape: bool) -> str:
    def repl(m: re.Match) -> str:
        label = m.group(3)
        if label is not None:
            return label  # already HTML (or text) from the same source
        name = _link_name(m.group(1), m.group(2), None, names)
        return html.escape(name) if escape else name

    return _ENRICHER.sub(repl, source)


class _Converter(MarkdownConverter):
    def convert_img(self, el, text, parent_tags):  # embeds show no inline images; keep the alt text
        alt = el.attrs.get("alt") or ""
        return alt

    def convert_a(self, el, text, parent_tags):
        href = el.get("href") or ""
        if not href.startswith(("http://", "https://")):
            return text  # relative and Foundry-internal links would be broken in Discord
        return super().convert_a(el, text, parent_tags)


_CONVERTER = _Converter(heading_style="ATX", bullets="-", strip_document="strip", escape_misc=False)


def html_to_markdown(source: str, *, gm: bool, names: Callable[[str], str | None]) -> str:
    """ProseMirror HTML → Discord Markdown: links resolved, secrets dropped (or marked for a GM)."""
    if not source:
        return ""
    source = _replace_enrichers(source[:_HTML_INPUT_MAX], names, escape=True)
    if len(source) <= _CACHE_SOURCE_MAX:
        return _convert_cached(source, gm)
    return _convert(source, gm)


@lru_cache(maxsize=_CACHE_SIZE)
def _convert_cached(source: str, gm: bool) -> str:
    return _convert(source, gm)


def _convert(source: str, gm: bool) -> str:
    """HTML with links already resolved → Markdown. Depends on nothing but its arguments, so its
    result can be cached: an entry looked up again with the same linked names skips BeautifulSoup
    and markdownify (most of a /lookup's own CPU time, docs/performance.md).

    HTML nested deeper than ``_PARSE_DEPTH`` is read with the linear html.parser instead, and only when it
    holds nothing that can hide text (the two parsers read such markup differently); otherwise it is left out.
    """
    if _nesting(source) > _PARSE_DEPTH:
        if _HIDING_MARKS.search(source):
            return TOO_DEEP
        soup = BeautifulSoup(source, "html.parser")
    else:
        soup = BeautifulSoup(source, "html5lib")  # as Foundry's browser builds the document
    for tag in soup.find_all(_never_displayed):
        if not tag.decomposed:  # an element inside one already dropped goes with it
            tag.decompose()
    for section in soup.find_all(_is_secret):
        if not gm:
            section.decompose()
            continue
        section.name = "blockquote"
        marker = soup.new_tag("p")
        strong = soup.new_tag("strong")
        strong.string = "🔒 Secret:"
        marker.append(strong)
        section.insert(0, marker)
    _flatten_deep(soup)  # after secrets are gone: unwrapping never moves a secret's text out of it
    text = _CONVERTER.convert_soup(soup)
    return _tidy(text)


def _nesting(source: str) -> int:
    """How deep the elements of ``source`` go, counted from its tags alone (every start tag of a non-void
    element opens one, every end tag closes one): never less than a browser's depth, up to a few implied
    wrappers."""
    depth = deepest = 0
    for match in _TAG_TOKEN.finditer(source):
        if match.group(1):
            depth = max(depth - 1, 0)
        elif match.group(2).casefold() not in _VOID:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def _flatten_deep(soup) -> None:
    """Replace every element at depth ``_MAX_NESTING`` by its plain text (iteratively, and each element
    once: linear in the size of the document, however deep)."""
    cut = []
    stack = [(soup, 0)]
    while stack:
        node, depth = stack.pop()
        for child in node.children:
            if getattr(child, "name", None) is None:  # text, comments
                continue
            if depth + 1 >= _MAX_NESTING:
                cut.append(child)
            else:
                stack.append((child, depth + 1))
    for tag in cut:
        tag.replace_with(NavigableString(" ".join(tag.get_text(" ").split())))


def _is_secret(tag) -> bool:
    classes = tag.get("class") or []
    return any(c.casefold() == "secret" for c in classes)


def _never_displayed(tag) -> bool:
    """An element a browser does not display: by kind, by the ``hidden`` attribute, an unopened dialog, or by
    an inline style that hides it (CSS comments and escapes decoded first, as a browser reads them)."""
    if tag.name in _NEVER_SHOWN or tag.has_attr("hidden"):
        return True
    if tag.name == "dialog" and not tag.has_attr("open"):
        return True
    style = tag.get("style")
    return isinstance(style, str) and _hides(style)


def _css_unescape(match: re.Match) -> str:
    if match.group(1) is None:
        return match.group(2)
    code = int(match.group(1), 16)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def _hides(style: str) -> bool:
    style = _CSS_ESCAPE.sub(_css_unescape, _CSS_COMMENT.sub("", style))
    for declaration in style.split(";"):
        name, colon, value = declaration.partition(":")
        if not colon:
            continue
        name = name.strip().casefold()
        value = value.casefold().replace("!important", "").strip()
        if (name == "display" and value == "none") or (
            name in ("visibility", "content-visibility") and value in ("hidden", "collapse")
        ):
            return True
    return False


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _TRAILING.sub("\n", text)
    text = _BLANKS.sub("\n\n", text)
    return neutralise_mentions(text.strip())


def html_to_text(source: str) -> str:
    """HTML flattened to one line of plain text (for previews): tags dropped, entities decoded,
    ``@UUID[...]{Label}`` → Label."""
    if not source:
        return ""
    text = _replace_enrichers(source, lambda _u: None, escape=False)
    text = _TAG.sub(" ", text)
    return " ".join(html.unescape(text).split())


def absolute_image_url(path: Any, image_base: str | None) -> str | None:
    """An http(s) URL for the image, or None when there is no safe way to make one."""
    if not isinstance(path, str):
        return None
    path = path.strip()
    if not path or any(c in path for c in "\n\r\t"):
        return None
    if path.lower().startswith(("http://", "https://")):
        return quote(path, safe=":/?#[]@!$&'()*+,;=-._~%")
    if ":" in path.split("/", 1)[0] or path.startswith("//"):
        return None  # data:, file:, protocol-relative… never a working embed image
    if not image_base or not image_base.lower().startswith(("http://", "https://")):
        return None
    return image_base.rstrip("/") + "/" + quote(path.lstrip("/"), safe="/-._~%!$&'()*+,;=@")


# ------------------------------------------------------------------ rendering
def _names_field(uuids: list, names: Callable[[str], str | None]) -> str:
    """Names joined with ", " within the field-value limit, "and N more" for the rest."""
    seen: list[str] = []
    for u in uuids:
        if isinstance(u, str) and u and u not in seen:
            seen.append(u)
    labels = [escape_md(neutralise_mentions(_safe_name(names, u) or UNKNOWN)) for u in seen]
    return _join_capped(labels, ", ")


def _join_capped(items: list[str], sep: str, limit: int = LIMITS["field_value"]) -> str:
    """``items`` joined by ``sep`` within ``limit`` characters, ending "… and N more" when cut."""
    items = [truncate(" ".join(item.split()), 200) for item in items]
    kept: list[str] = []
    length = 0
    for i, item in enumerate(items):
        add = len(item) + (len(sep) if kept else 0)
        after = len(items) - i - 1
        reserve = len(f"{sep}… and {after} more") if after else 0
        if length + add + reserve > limit:
            left = len(items) - i  # fits: the previous step reserved room for exactly this
            return sep.join(kept) + (f"{sep}… and {left} more" if kept else f"… and {left} more")
        kept.append(item)
        length += add
    return sep.join(kept)


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list):
        return [t.strip() for t in value if isinstance(t, str) and t.strip()]
    return []


def _quest_lines(quests: Any, gm: bool) -> list[str]:
    lines: list[str] = []
    if not isinstance(quests, list):
        return lines
    for q in quests:
        if not isinstance(q, dict):
            continue
        if not gm and not q.get("visible"):  # Campaign Codex lists for players only quests marked visible
            continue
        title = q.get("title") if isinstance(q.get("title"), str) and q.get("title").strip() else "Untitled quest"
        title = escape_md(neutralise_mentions(" ".join(title.split())))
        if q.get("failed") is True:
            lines.append(f"❌ {title} (failed)")
        elif q.get("completed") is True:
            lines.append(f"✅ {title} (completed)")
        else:
            lines.append(f"▫️ {title}")
    return lines


def _codex_of(flags: Any) -> dict:
    """Accept either the document's ``flags`` or its ``flags.campaign-codex`` object."""
    if not isinstance(flags, dict):
        return {}
    inner = flags.get("campaign-codex")
    if isinstance(inner, dict):
        return inner
    if "type" in flags or "data" in flags:
        return flags
    return {}


def render_entry(
    entry_name: str,
    flags: dict,
    pages: list[dict],
    *,
    gm: bool,
    names: Callable[[str], str | None],
    image_base: str | None,
    img: str | None = None,
) -> Reply:
    """The entry as a Reply within Discord's embed limits.

    ``flags`` may be the document's ``flags`` or its ``flags.campaign-codex``. ``names`` maps a
    uuid to an entry name (None when unknown). ``img`` is the entry's own image, used when Campaign
    Codex has none. Secrets, notes and hidden quests only appear with ``gm=True``.
    """
    codex = _codex_of(flags)
    data = codex.get("data") if isinstance(codex.get("data"), dict) else {}
    ctype = codex.get("type") if isinstance(codex.get("type"), str) else None
    is_codex = bool(codex) and (ctype is not None or bool(data))
    label = TYPE_LABELS.get(ctype or "", (ctype or "Entry").title() if is_codex else "Journal entry")

    title = neutralise_mentions(" ".join(str(entry_name or "").split())) or "Unnamed entry"
    title = truncate(title, LIMITS["title"])
    reply = Reply(title=title, tone=Tone.INFO)
    reply.footer = f"Campaign Codex · {label}" if is_codex else "Journal entry (not a Campaign Codex sheet)"
    reply.data = {"type": ctype, "label": label, "campaign_codex": is_codex}

    description = ""
    fields: list[tuple[str, str]] = []
    if is_codex:
        desc_html = data.get("description")
        if isinstance(desc_html, str):
            description = html_to_markdown(desc_html, gm=gm, names=names)
        for key, field_title, gm_only in LINK_FIELDS:
            if gm_only and not gm:
                continue
            value = data.get(key)
            uuids = value if isinstance(value, list) else [value] if isinstance(value, str) and value else []
            if uuids:
                text = _names_field(uuids, names)
                if text:
                    fields.append((field_title, text))
        tags = _tags(data.get("tags"))
        if tags:
            fields.append(("Tags", _join_capped([escape_md(neutralise_mentions(t)) for t in tags], ", ")))
        quest_lines = _quest_lines(data.get("quests"), gm)
        if quest_lines:
            fields.append(("Quests" if ctype == "quest" else "Quest list", _join_capped(quest_lines, "\n")))
        inventory = data.get("inventory")
        if isinstance(inventory, list) and inventory and (gm or data.get("hideInventory") is not True):
            fields.append(("Inventory", f"{len(inventory)} item{'s' if len(inventory) != 1 else ''}"))
        if gm:
            notes_html = data.get("notes")
            if isinstance(notes_html, str):
                notes = html_to_markdown(notes_html, gm=True, names=names)
                if notes:
                    fields.append(("🔒 GM notes", truncate(notes, LIMITS["field_value"])))
    else:
        titles = [
            escape_md(neutralise_mentions(" ".join(p.get("name").split())))
            for p in (pages or [])
            if isinstance(p, dict) and isinstance(p.get("name"), str) and p.get("name").strip()
        ]
        description = "Not a Campaign Codex entry." if titles else "Not a Campaign Codex entry, and it has no pages."
        if titles:
            fields.append(("Pages", _join_capped(titles, "\n")))

    _fit(reply, description, fields)
    reply.image_url = absolute_image_url(codex.get("image") or img, image_base)
    return reply


def _fit(reply: Reply, description: str, fields: list[tuple[str, str]]) -> None:
    """Place description and fields within the per-part and 6000-character limits.

    Fields come in priority order; the description gives way first (down to ~1000 characters),
    then trailing fields are dropped.
    """
    fields = [
        (truncate(name, LIMITS["field_name"]), truncate(value, LIMITS["field_value"]))
        for name, value in fields
        if name and value and value.strip()
    ][: LIMITS["fields"]]
    description = truncate(description, LIMITS["description"])
    fixed = len(reply.title or "") + len(reply.footer or "")

    def used(fs: list[tuple[str, str]]) -> int:
        return fixed + sum(len(n) + len(v) for n, v in fs)

    min_desc = min(len(description), 1000)
    while fields and used(fields) + min_desc > LIMITS["total"]:
        fields.pop()
    room = LIMITS["total"] - used(fields)
    if len(description) > room:
        description = truncate(description, max(room, 0))
    reply.description = description or None
    reply.fields = []
    for name, value in fields:
        reply.add_field(name, value)
