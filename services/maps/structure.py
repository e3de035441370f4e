"""Reading the relay's ``/structure`` replies into a folder tree, quirks included (see relay.md).

The module builds a node as ``{id, uuid, type, ...subfolders keyed by name}`` and *then*, when the
folder holds entries directly, sets ``node.entities = [...]`` (a key that is absent when it holds
none). So

* two sibling folders with the same name collide and only the later is shown, subtree and all;
* a subfolder named ``id``, ``uuid`` or ``type`` overwrites that key: a dict where a string should
  be. The subfolder is kept; what it overwrote is marked unknown (an ``id`` is still known from
  ``uuid`` unless that is overwritten too);
* a subfolder named ``entities`` is the node's ``entities`` when its parent holds no entries, and is
  lost when it does (``may_hide_entities``); one named ``__proto__`` never reaches the JSON;
* nodes at ``recursiveDepth`` come without their subfolders.

``Tree`` records what a reply shows and which folders need a ``path=Folder.<id>`` read to be
complete. It never sends requests itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.offload import each_part, pickled_parts

_OWN_KEYS = ("id", "uuid", "type")
HIDDEN_NAME = "‹folder the relay did not name›"  # no Markdown characters: shown as is


@dataclass
class FolderRec:
    key: str  # the folder id, or "?<n>" when the relay's reply hid it
    name: str | None  # None while only the id is known (found through a search hit)
    parent: str | None  # key of the parent folder; None = root (meaningful only when placed)
    placed: bool  # name and parent are known
    visible: bool = False  # shown as a node of a /structure tree (so it won its name among siblings)
    entries_known: bool = False  # its direct entries were listed
    expanded: bool = False  # its subfolders were listed
    may_hide_entities: bool = False  # it holds entries directly: a subfolder named "entities" would be lost
    type: str = "JournalEntry"

    @property
    def id(self) -> str | None:
        return None if self.key.startswith("?") else self.key


@dataclass
class Tree:
    folders: dict[str, FolderRec] = field(default_factory=dict)
    entries: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # uuid -> (name, folder key)
    alias: dict[str, str] = field(default_factory=dict)  # "?n" -> the id found later
    _hidden_ids: int = 0

    # --- reading replies ----------------------------------------------------------------------

    def to_parts(self) -> list[bytes]:
        """Takes the entries out of the tree as parts (for the trip out of the worker process); the tree
        itself then pickles small."""
        uuids, values = list(self.entries), list(self.entries.values())
        self.entries = {}
        return pickled_parts(list(zip(uuids, values)))

    async def put_parts(self, parts: list[bytes]) -> None:
        """The entries ``to_parts`` took out, back in: one part per turn of the loop."""
        async for pairs in each_part(parts):
            self.entries.update(pairs)

    def read_root(self, data: dict, depth: int) -> list[str]:
        """The whole-world reply. Returns ids of folders that need a ``path=`` read."""
        root = data.get("entities")
        if isinstance(root, dict):
            self._read_entries(root.get("journalentrys"), None)
        # compendiumPacks: never world entries, never part of the map.
        return self._read_nodes(data.get("folders"), None, 1, depth)

    def read_subtree(self, folder_id: str, data: dict, depth: int) -> list[str]:
        """A ``path=Folder.<id>`` reply: that folder's direct entries and its subfolders."""
        rec = self.folders.get(folder_id) or self.add_unplaced(folder_id)
        rec.expanded = True
        entities = data.get("entities")
        if entities is None or self._read_entries(entities, folder_id):  # absent: it holds none directly
            rec.entries_known = True
            rec.may_hide_entities = bool(entities)
        return self._read_nodes(data.get("folders"), folder_id, 1, depth)

    def add_unplaced(self, folder_id: str) -> FolderRec:
        """A folder known only by its id (a search hit sits in it)."""
        rec = self.folders.get(folder_id)
        if rec is None:
            rec = self.folders[folder_id] = FolderRec(folder_id, None, None, placed=False)
        return rec

    def place(self, folder_id: str, name: str, parent: str | None) -> FolderRec:
        """Name and parent learned from /get-folder or the Folder document."""
        rec = self.add_unplaced(folder_id)
        if not rec.placed:
            rec.name, rec.parent, rec.placed = name, parent, True
        return rec

    def adopt_hidden_parent(self, child_id: str, parent_id: str | None) -> None:
        """The Folder document of ``child_id`` names its parent: when the tree knew that parent only
        under a key the relay hid ("?n"), that key is ``parent_id``."""
        rec = self.folders.get(child_id)
        if rec is not None and rec.parent is not None and rec.parent.startswith("?") and parent_id is not None:
            self._merge_hidden(rec.parent, parent_id)

    def _read_entries(self, items: Any, folder: str | None) -> bool:
        if not isinstance(items, list):
            return False
        for item in items:
            if not isinstance(item, dict):
                continue
            uuid, name = item.get("uuid"), item.get("name")
            if isinstance(uuid, str) and uuid.startswith("JournalEntry.") and isinstance(name, str):
                self.entries[uuid] = (name, folder)
        return True

    def _read_nodes(self, nodes: Any, parent: str | None, level: int, depth: int) -> list[str]:
        need: list[str] = []
        if not isinstance(nodes, dict):
            return need
        for name, node in nodes.items():
            if isinstance(node, dict):
                need += self._read_node(str(name), node, parent, level, depth)
        return need

    def _read_node(self, name: str, node: dict, parent: str | None, level: int, depth: int) -> list[str]:
        folder_id = node.get("id") if isinstance(node.get("id"), str) else None
        uuid = node.get("uuid")
        if folder_id is None and isinstance(uuid, str) and uuid.startswith("Folder."):
            folder_id = uuid.removeprefix("Folder.")
        key = folder_id or self._new_hidden_key()
        rec = self._record(key, name, parent)
        rec.visible = True

        subfolders = {k: v for k, v in node.items() if k not in (*_OWN_KEYS, "entities") and isinstance(v, dict)}
        subfolders.update({k: node[k] for k in _OWN_KEYS if isinstance(node.get(k), dict)})  # clobbered keys
        entities = node.get("entities")
        if entities is None or isinstance(entities, dict):
            # No direct entries (the key is set only when there are some); a dict is a subfolder named "entities".
            rec.entries_known = True
            if entities is not None:
                subfolders["entities"] = entities
        elif self._read_entries(entities, key):
            rec.entries_known = True
            rec.may_hide_entities = True

        need: list[str] = []
        if level < depth:
            rec.expanded = True
            for sub_name, sub in subfolders.items():
                need += self._read_node(sub_name, sub, key, level + 1, depth)
        if not (rec.expanded and rec.entries_known) and folder_id is not None:
            need.append(folder_id)
        return need

    def _record(self, key: str, name: str, parent: str | None) -> FolderRec:
        rec = self.folders.get(key)
        if rec is None:
            rec = self.folders[key] = FolderRec(key, name, parent, placed=True)
            return rec
        if (
            rec.placed
            and rec.parent is not None
            and rec.parent.startswith("?")
            and parent is not None
            and not parent.startswith("?")
            and parent != rec.parent
        ):
            # We knew this folder under a parent whose id the relay hid; now a read of `parent` shows
            # it: that is the hidden id. Its name and place carry over.
            self._merge_hidden(rec.parent, parent)
        rec.name, rec.parent, rec.placed = name, parent, True
        return rec

    def _merge_hidden(self, hidden_key: str, folder_id: str) -> None:
        self.alias[hidden_key] = folder_id
        hidden = self.folders.pop(hidden_key, None)
        rec = self.add_unplaced(folder_id)
        if hidden is not None:
            if hidden.placed and not rec.placed:
                rec.name, rec.parent, rec.placed = hidden.name, hidden.parent, True
            rec.visible = rec.visible or hidden.visible
            rec.entries_known = rec.entries_known or hidden.entries_known
            rec.may_hide_entities = rec.may_hide_entities or hidden.may_hide_entities
        for uuid, (name, folder) in list(self.entries.items()):
            if folder == hidden_key:
                self.entries[uuid] = (name, folder_id)
        for other in self.folders.values():
            if other.parent == hidden_key:
                other.parent = folder_id

    def _new_hidden_key(self) -> str:
        self._hidden_ids += 1
        return f"?{self._hidden_ids}"

    # --- questions ------------------------------------------------------------------------------

    def resolve(self, key: str | None) -> str | None:
        while key is not None and key in self.alias:
            key = self.alias[key]
        return key

    def knows(self, folder_id: str) -> bool:
        return self.resolve(folder_id) in self.folders

    def path(self, key: str | None) -> str | None:
        """Display path ("NPCs/Villains") of a folder; None for the root. A folder whose name or place
        is unknown shows as HIDDEN_NAME at the top of the path."""
        names: list[str] = []
        seen: set[str] = set()
        key = self.resolve(key)
        while key is not None and key not in seen:
            seen.add(key)
            rec = self.folders.get(key)
            if rec is None or not rec.placed or rec.name is None:
                names.append(HIDDEN_NAME)
                break
            names.append(rec.name)
            key = self.resolve(rec.parent)
        return "/".join(reversed(names)) or None

    def placed_fully(self, key: str | None) -> bool:
        """True when every folder from this one up to the root has a known name and place."""
        seen: set[str] = set()
        key = self.resolve(key)
        while key is not None:
            rec = self.folders.get(key)
            if rec is None or not rec.placed or key in seen:
                return False
            seen.add(key)
            key = self.resolve(rec.parent)
        return True
