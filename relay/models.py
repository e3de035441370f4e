"""Typed views of the relay's replies.

The ``from_*`` constructors raise ValueError when a reply is not shaped as relay.md says; the client
turns that into RelayBadResponse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _field(obj: Any, key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    if not isinstance(obj, dict):
        raise ValueError(f"expected an object holding '{key}', got {type(obj).__name__}")
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind):
        raise ValueError(f"'{key}' is {type(value).__name__}, not {getattr(kind, '__name__', kind)}")
    return value


@dataclass(frozen=True)
class JournalEntry:
    uuid: str
    id: str
    name: str
    folder: str | None
    flags: dict
    pages: list[dict]
    raw: dict
    # Asked as a player with LIMITED permission: the module sends only {uuid, name, type, img}.
    limited: bool = False

    @property
    def ownership(self) -> dict:
        value = self.raw.get("ownership") if isinstance(self.raw, dict) else None
        return value if isinstance(value, dict) else {}

    @property
    def img(self) -> str | None:
        value = self.raw.get("img") if isinstance(self.raw, dict) else None
        return value if isinstance(value, str) and value else None

    @property
    def codex_flags(self) -> dict:
        return self.flags.get("campaign-codex") or {}

    @classmethod
    def from_doc(cls, uuid: str, doc: Any) -> JournalEntry:
        pages = _field(doc, "pages", list, optional=True) or []
        if not all(isinstance(p, dict) for p in pages):
            raise ValueError("'pages' holds something other than objects")
        return cls(
            uuid=uuid,
            id=_field(doc, "_id", str),
            name=_field(doc, "name", str),
            folder=_field(doc, "folder", str, optional=True),
            flags=_field(doc, "flags", dict, optional=True) or {},
            pages=pages,
            raw=doc,
        )

    @classmethod
    def from_limited(cls, uuid: str, doc: Any) -> JournalEntry:
        """The trimmed reply for a LIMITED viewer: a name (and maybe an image), nothing else."""
        return cls(
            uuid=uuid,
            id=uuid.rsplit(".", 1)[-1],
            name=_field(doc, "name", str),
            folder=None,
            flags={},
            pages=[],
            raw={"img": _field(doc, "img", str, optional=True)},
            limited=True,
        )


@dataclass(frozen=True)
class SearchHit:
    uuid: str
    id: str
    name: str
    folder: str | None
    img: str | None

    @classmethod
    def from_result(cls, result: Any) -> SearchHit:
        return cls(
            uuid=_field(result, "uuid", str),
            id=_field(result, "id", str),
            name=_field(result, "name", str),
            folder=_field(result, "folder", str, optional=True),
            img=_field(result, "img", str, optional=True),
        )


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    # The relay cuts at the limit without paging: when True the list may be missing entries.
    capped: bool


@dataclass(frozen=True)
class World:
    client_id: str
    world_id: str
    title: str
    foundry_version: str
    system_title: str
    online: bool
    custom_name: str | None
    public_url: str | None

    @property
    def label(self) -> str:
        return self.custom_name or self.title

    @classmethod
    def from_client(cls, client: Any) -> World:
        return cls(
            client_id=_field(client, "clientId", str),
            world_id=_field(client, "worldId", str, optional=True) or "",
            # An untitled world is still a world: fall back to its id so the label is never blank.
            title=_field(client, "worldTitle", str, optional=True)
            or _field(client, "worldId", str, optional=True)
            or _field(client, "clientId", str),
            foundry_version=_field(client, "foundryVersion", str, optional=True) or "",
            system_title=_field(client, "systemTitle", str, optional=True) or "",
            online=_field(client, "isOnline", bool),
            custom_name=_field(client, "customName", str, optional=True) or None,
            public_url=_field(client, "publicUrl", str, optional=True) or None,
        )


@dataclass(frozen=True)
class FoundryUser:
    id: str
    name: str
    role: int  # 0 NONE, 1 PLAYER, 2 TRUSTED, 3 ASSISTANT, 4 GAMEMASTER
    is_gm: bool

    @classmethod
    def from_reply(cls, user: Any) -> FoundryUser:
        role = _field(user, "role", int, optional=True) or 0
        return cls(
            id=_field(user, "id", str),
            name=_field(user, "name", str),
            role=role,
            is_gm=bool(_field(user, "isGM", bool, optional=True)) or role >= 3,  # ASSISTANT counts as GM
        )


@dataclass(frozen=True)
class RelayStatus:
    version: str


@dataclass(frozen=True)
class DownloadedFile:
    """A file from Foundry's server, fetched by the module in the GM's browser (``GET /download``)."""

    path: str
    data: bytes
    # As the relay labelled it; Foundry's browser may give none ("application/octet-stream").
    content_type: str
    filename: str | None


@dataclass(frozen=True)
class FolderDoc:
    """A Folder document read by id: what names a folder the tree did not show."""

    id: str
    name: str
    type: str
    parent: str | None

    @classmethod
    def from_doc(cls, doc: Any) -> FolderDoc:
        return cls(
            id=_field(doc, "_id", str),
            name=_field(doc, "name", str),
            type=_field(doc, "type", str, optional=True) or "",
            parent=_field(doc, "folder", str, optional=True) or None,
        )


@dataclass(frozen=True)
class StructureReply:
    """A /structure reply as the relay's bytes, and a digest that ignores its request id."""

    raw: bytes
    digest: str
