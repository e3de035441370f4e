"""Listing every journal entry of a world through the relay, for /refresh and the background refresh.

The relay has no paged listing (relay.md, "Search limits"): ``/search`` stops at 500 names. So:

1. ``/structure`` (one request, no count cap, asked for ``DEPTH`` levels) gives the folder tree with
   every entry where it sits, except where the module's name-keyed tree hides something
   (services/maps/structure.py). Folders shown without their subfolders (at the depth limit) or without
   their id get a ``path=Folder.<id>`` read each.
2. One global ``/search`` cross-checks it. When it is *not* capped it lists every world entry with its
   folder id: the map is proven (entries the tree lacks are added, entries the search lacks were
   deleted meanwhile). Either way a hit in a folder the tree never showed reveals a hidden folder: its
   Folder document (``/get?uuid=Folder.<id>``, then its parents' until a known one) gives its real name
   and place, and a ``path=`` read gives its subtree.
3. Capped only (more than 500 entries): ``/get-folder?name=`` for every journal folder name, plus the
   names the tree drops ("entities" under a folder holding entries, "__proto__"). It returns the
   *first* folder of that name (any type), while the tree shows the *last* of same-name siblings: when
   both are the same folder no sibling of that name hides beside it, and its place is proven. A journal
   folder the tree never showed is a hidden sibling: it is named, placed and read. What stays unproven
   is said precisely, with the fix (distinct folder names in Foundry, then /refresh).

Requests: 2 for a world under 500 entries with nothing hidden; about 2 + (distinct folder names) past
500. One at a time; the client paces them under the relay's 300/minute, and a 429 (another user of the
key spent the bucket) is waited out here, within ``budget`` seconds for the whole run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.textsafe import echo
from relay import RelayClient, RelayModuleError, RelayRateLimited
from relay.client import loads
from relay.errors import EntryNotFound
from services.maps.structure import Tree
from services.offload import Offloader, in_steps, worth_offloading
from storage import NameEntry

log = logging.getLogger(__name__)

Progress = Callable[[str], Awaitable[None]]
T = TypeVar("T")

DEPTH = 20  # recursiveDepth asked of /structure; nodes at this depth are read again with path=
BUDGET = 600.0  # seconds a whole run may take, waits for the rate limit included
PROGRESS_EVERY = 2.0  # seconds between progress reports inside one step
RATE_LIMIT_WAIT = 2.0  # seconds waited after a 429: the relay's bucket refills 5 requests a second
_NOTE_PARTS = 8  # folders named in the note; the rest are counted
# Parsing a /structure reply and reading it into a tree costs about 15 ms of the loop's time per MB.
PARSE_MS_PER_BYTE = 15 / 1_000_000
# Folder names the module's tree can drop whatever their siblings are called (see structure.py).
_DROPPED_NAMES = ("entities", "__proto__")


@dataclass(frozen=True)
class Unverified:
    """A folder whose neighbourhood could not be proven complete."""

    path: str | None  # folder path ("NPCs/Villains"), None = the top level
    reason: str  # "shared", "hid", "dropped", "changed": see _note


@dataclass(frozen=True)
class Enumeration:
    entries: list[NameEntry]
    complete: bool
    # What was mapped and what could not be proven, in words for the GM (None when complete).
    note: str | None
    requests: int
    unverified: list[Unverified] = field(default_factory=list)
    searched_all: bool = False  # the global search listed every entry (world under 500 entries)
    digest: str | None = None  # of the /structure tree, for the background refresh
    unchanged: bool = False  # the tree's digest matched ``known_digest``: nothing else was read
    whole_tree: bool = False  # the tree alone showed every entry: its digest stands for the whole map


async def enumerate_journal(
    relay: RelayClient,
    client_id: str,
    progress: Progress | None = None,
    *,
    depth: int = DEPTH,
    known_digest: str | None = None,
    budget: float = BUDGET,
    offload: Offloader | None = None,
) -> Enumeration:
    """Every journal entry of the world with its folder path. Relay errors propagate (a key without
    ``structure:read`` raises RelayScopeError naming it); an unproven map says so in ``note``.
    With ``known_digest``, a tree whose digest matches returns at once with ``unchanged`` set."""
    return await _Run(relay, client_id, progress, depth, budget, offload or Offloader(processes=False)).run(
        known_digest
    )


def parse_structure(raw: bytes) -> dict:
    body = loads(raw)
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def read_tree(raw: bytes, depth: int) -> tuple[Tree, list[str], list[bytes]]:
    """In the worker: (the tree without its entries, folder ids to read with path=, the entries as parts)."""
    tree = Tree()
    need = tree.read_root(parse_structure(raw), depth)
    return tree, need, tree.to_parts()


class _Run:
    def __init__(
        self,
        relay: RelayClient,
        client_id: str,
        progress: Progress | None,
        depth: int,
        budget: float,
        offload: Offloader,
    ):
        self.relay = relay
        self.offload = offload
        self.client_id = client_id
        self.progress = progress
        self.depth = max(1, depth)
        self.deadline = time.monotonic() + budget
        self.tree = Tree()
        self.requests = 0
        self.read_done: set[str] = set()
        self.vanished: set[str] = set()  # folder ids the relay no longer knew when read
        self.unverified: list[Unverified] = []
        self.first_of: dict[str, tuple[str, Any] | None] = {}  # name -> (id, type) of the first folder so named
        self.collided: set[tuple[str | None, str]] = set()  # (parent, name) places where a sibling was hidden
        self.hidden_found = False
        self._last_report = float("-inf")

    # --- plumbing -------------------------------------------------------------------------------

    async def _ask(self, call: Callable[[], Awaitable[T]]) -> T:
        """One request; a 429 is waited out (with a progress line) and the request sent again."""
        while True:
            wait = RATE_LIMIT_WAIT
            self.requests += 1
            try:
                return await call()
            except RelayRateLimited:
                if time.monotonic() + wait > self.deadline:
                    raise
                await self._report(f"The relay asked to slow down (its 300 requests a minute); waiting {wait:.0f} s…")
                await asyncio.sleep(wait)

    async def _report(self, text: str, *, step: bool = False) -> None:
        """Progress; within a step at most every PROGRESS_EVERY seconds (each report edits a message)."""
        if self.progress is None:
            return
        now = time.monotonic()
        if step and now - self._last_report < PROGRESS_EVERY:
            return
        self._last_report = now
        try:
            await self.progress(text)
        except Exception:  # a failed progress edit must not cost the refresh
            log.warning("Refresh progress report failed", exc_info=True)

    async def _read_folders(self, ids: list[str]) -> None:
        """``path=Folder.<id>`` reads, including the further reads they call for."""
        queue = deque(i for i in ids if i not in self.read_done)
        done = 0
        while queue:
            folder_id = queue.popleft()
            rec = self.tree.folders.get(self.tree.resolve(folder_id) or "")
            if folder_id in self.read_done or (rec is not None and rec.expanded and rec.entries_known):
                continue  # already read, or fully shown by the read of a folder above it
            self.read_done.add(folder_id)
            done += 1
            await self._report(
                f"Reading folders the tree didn't show in full ({done} read, {len(queue)} to go)…", step=True
            )
            try:
                data = await self._ask(  # a subtree: small enough to parse on the loop
                    lambda fid=folder_id: self.relay.structure(
                        client_id=self.client_id, path=f"Folder.{fid}", recursive_depth=self.depth
                    )
                )
            except RelayModuleError as exc:
                if "not found" not in exc.message.casefold():
                    raise
                self.vanished.add(folder_id)  # deleted (or moved away) since the tree was read
                continue
            queue.extend(i for i in self.tree.read_subtree(folder_id, data, self.depth) if i not in self.read_done)

    async def _place(self, folder_id: str) -> bool:
        """Names a folder known only by its id, and every unknown parent above it, from their Folder
        documents. False when the folder is gone."""
        current: str | None = folder_id
        seen: set[str] = set()
        while current is not None and current not in seen:  # Foundry has no parent cycles; never loop anyway
            seen.add(current)
            rec = self.tree.folders.get(self.tree.resolve(current) or "")
            if rec is not None and rec.placed:
                return True
            try:
                doc = await self._ask(lambda fid=current: self.relay.folder_document(fid, client_id=self.client_id))
            except EntryNotFound:
                self.vanished.add(current)
                return False
            self.tree.place(doc.id, doc.name, doc.parent)
            self.tree.folders[doc.id].type = doc.type
            current = doc.parent
        return True

    async def _reveal(self, folder_ids: list[str]) -> None:
        """Folders the tree hid, known by id: named and placed, then read whole (subfolders included)."""
        for folder_id in dict.fromkeys(folder_ids):
            if not await self._place(folder_id):
                continue
            # The topmost folder the tree hid holds the others: reading it shows them all.
            top = folder_id
            rec = self.tree.folders[folder_id]
            while rec.parent is not None and not self.tree.folders[self.tree.resolve(rec.parent)].visible:
                top = self.tree.resolve(rec.parent)
                rec = self.tree.folders[top]
                if top in self.read_done:
                    break
            if not self.tree.folders[top].visible:
                top_rec = self.tree.folders[top]
                if top_rec.name not in _DROPPED_NAMES:  # those are hidden by their name, not by a sibling
                    self.collided.add((top_rec.parent, top_rec.name))
                self.hidden_found = True
            await self._read_folders([top])

    # --- the steps ------------------------------------------------------------------------------

    async def run(self, known_digest: str | None) -> Enumeration:
        await self._report("Reading the world's folder tree…")
        reply = await self._ask(
            lambda: self.relay.structure_reply(client_id=self.client_id, recursive_depth=self.depth)
        )
        if known_digest is not None and reply.digest == known_digest:
            return Enumeration([], True, None, self.requests, digest=reply.digest, unchanged=True)
        digest = reply.digest
        if worth_offloading(len(reply.raw) * PARSE_MS_PER_BYTE):
            # Parsing and reading megabytes holds the GIL: in the worker process.
            self.tree, need, parts = await self.offload.run(
                read_tree, reply.raw, self.depth, what="reading the world's folder tree"
            )
            await self.tree.put_parts(parts)
        else:
            need = self.tree.read_root(parse_structure(reply.raw), self.depth)
        del reply
        await self._report(f"Folder tree read: {len(self.tree.entries)} entries in {len(self.tree.folders)} folders.")
        whole = not need and not any(k.startswith("?") for k in self.tree.folders)
        await self._read_folders(need)
        await self._name_hidden_keys()
        from_tree = set(self.tree.entries)

        await self._report("Cross-checking with the relay's search…")
        search = await self._ask(lambda: self.relay.search_journal_entries(client_id=self.client_id))
        hits = [h for h in search.hits if h.uuid.startswith("JournalEntry.")]
        if not search.capped:
            # Every world entry is in the search: it is the later, complete reading.
            listed = {h.uuid for h in hits}
            for uuid in [u for u in self.tree.entries if u not in listed]:
                del self.tree.entries[uuid]
        unknown: list[str] = []
        for hit in hits:
            if hit.folder and not self.tree.knows(hit.folder):
                self.tree.add_unplaced(hit.folder)
                unknown.append(hit.folder)
            self.tree.entries[hit.uuid] = (hit.name, self.tree.resolve(hit.folder) if hit.folder else None)
        if unknown:
            await self._report(f"The search found entries in {len(set(unknown))} folder(s) the tree hid; reading them…")
            await self._reveal(unknown)

        if search.capped:
            await self._check_names()
        self._collect_unverified(search.capped)
        whole = whole and not self.hidden_found and self.tree.entries.keys() == from_tree
        return await self._result(searched_all=not search.capped, digest=digest, whole_tree=whole)

    async def _name_hidden_keys(self) -> None:
        """A node whose ``id`` and ``uuid`` were both overwritten by subfolders so named is known by a
        "?n" key: the Folder document of one of its subfolders names its id."""
        for key in [k for k in self.tree.folders if k.startswith("?")]:
            child = next((r for r in self.tree.folders.values() if r.parent == key and r.id is not None), None)
            if child is None:
                continue
            try:
                doc = await self._ask(lambda cid=child.id: self.relay.folder_document(cid, client_id=self.client_id))
            except EntryNotFound:
                continue
            self.tree.adopt_hidden_parent(child.key, doc.parent)

    def _visible_names(self) -> list[str]:
        return sorted({r.name for r in self.tree.folders.values() if r.visible and r.name is not None})

    async def _check_names(self) -> None:
        """/get-folder by name: proves places, and finds journal folders the tree hid."""
        names = deque(self._visible_names())
        if any(r.may_hide_entities for r in self.tree.folders.values()):
            names.append("entities")
        names.append("__proto__")
        queued = set(names)
        await self._report(f"Checking {len(names)} folder name(s) for folders the relay hid…")
        checked = 0
        while names:
            name = names.popleft()
            checked += 1
            await self._report(
                f"Checking folder names for hidden folders ({checked} of {checked + len(names)})…", step=True
            )
            try:
                data = await self._ask(lambda n=name: self.relay.get_folder(n, client_id=self.client_id))
            except RelayModuleError as exc:
                if "not found" not in exc.message.casefold():
                    raise
                self.first_of[name] = None  # no folder of that name (any more)
                continue
            folder_id, kind = data.get("id"), data.get("type")
            if not isinstance(folder_id, str):
                self.first_of[name] = None
                continue
            self.first_of[name] = (folder_id, kind)
            if kind != "JournalEntry":
                continue
            rec = self.tree.folders.get(self.tree.resolve(folder_id) or "")
            if rec is not None and rec.placed:
                continue
            # A journal folder no tree showed: a same-name sibling (or its name) hid it.
            parent = data.get("parentFolder")
            parent = parent if isinstance(parent, str) and parent else None
            if parent is not None and not await self._place(parent):
                continue
            self.tree.place(folder_id, name, self.tree.resolve(parent))
            if name not in _DROPPED_NAMES:
                self.collided.add((self.tree.resolve(parent), name))
            await self._reveal([folder_id])
            fresh = [n for n in self._visible_names() if n not in queued]  # its subfolders need checking too
            queued.update(fresh)
            names.extend(fresh)

    def _collect_unverified(self, capped: bool) -> None:
        tree = self.tree
        for folder_id in sorted(self.vanished):
            rec = tree.folders.get(folder_id)
            where = tree.path(folder_id) if rec is not None and rec.placed else f"Folder.{folder_id}"
            self.unverified.append(Unverified(where, "changed"))
        if not capped:
            return  # the search listed every entry, and every folder holding one was named
        for name in _DROPPED_NAMES:
            if self.first_of.get(name) is not None:
                self.unverified.append(Unverified(name, "dropped"))
        for key, rec in tree.folders.items():
            if not rec.visible or not rec.placed or rec.name in _DROPPED_NAMES:
                continue
            reason = self._place_unproven(key, rec)
            if reason:
                self.unverified.append(Unverified(tree.path(key), reason))

    def _place_unproven(self, key: str, rec: Any) -> str | None:
        if (rec.parent, rec.name) in self.collided:
            return "hid"
        if rec.name not in self.first_of:
            return "changed"
        first = self.first_of[rec.name]
        if first is None:
            return "changed"  # renamed or deleted during the refresh
        return None if first[0] == key else "shared"

    async def _entries(self) -> list[NameEntry]:
        """The tree's entries with their folder paths, a chunk at a time (50,000 take ~0.1 s of CPU)."""
        tree = self.tree
        paths: dict[str | None, str | None] = {}  # one path string per folder, shared by its entries
        entries: list[NameEntry] = []
        async for chunk in in_steps(list(tree.entries.items())):  # nothing else changes the tree meanwhile
            for uuid, (name, folder) in chunk:
                if folder not in paths:
                    paths[folder] = tree.path(folder)
                entries.append(NameEntry(uuid=uuid, name=name, folder=paths[folder]))
        tree.entries = {}  # freed before the map is built, which can then reuse the memory
        return entries

    async def _result(self, *, searched_all: bool, digest: str, whole_tree: bool) -> Enumeration:
        entries = await self._entries()
        complete = not self.unverified
        note = None if complete else _note(len(entries), self.unverified)
        await self._report(
            f"Done: {len(entries)} entries, {self.requests} relay request(s)"
            + ("." if complete else "; see the note on what could not be proven.")
        )
        return Enumeration(
            entries=entries,
            complete=complete,
            note=note,
            requests=self.requests,
            unverified=list(self.unverified),
            searched_all=searched_all,
            digest=digest,
            whole_tree=whole_tree,
        )


def _quoted(paths: list[str | None]) -> str:
    shown = ", ".join("the top level" if p is None else f"“{echo(p, 80)}”" for p in paths[:_NOTE_PARTS])
    more = len(paths) - _NOTE_PARTS
    return shown + (f" and {more} more" if more > 0 else "")


def _note(mapped: int, parts: list[Unverified]) -> str:
    """Leads with what was mapped, then which folders could not be proven and how to fix that."""
    by_reason: dict[str, list[str | None]] = {}
    for part in parts:
        by_reason.setdefault(part.reason, []).append(part.path)
    lines = [f"{mapped:,} entr{'y' if mapped == 1 else 'ies'} mapped."]
    fix_names = False
    if "shared" in by_reason:
        fix_names = True
        lines.append(
            f"Past 500 entries the relay can't show whether another folder of the same name hides beside "
            f"{_quoted(by_reason['shared'])}: each name is used by more than one folder."
        )
    if "hid" in by_reason:
        fix_names = True
        lines.append(
            f"The relay hid a same-name folder beside {_quoted(by_reason['hid'])}; it was found and mapped, "
            "but the relay could hide more than one."
        )
    if "dropped" in by_reason:
        fix_names = True
        names = ", ".join(f"“{p}”" for p in by_reason["dropped"])
        lines.append(f"The relay drops folders named {names} in some places, and this world has one.")
    if fix_names:
        lines.append("To make the map provably complete, give those folders distinct names in Foundry, then /refresh.")
    if "changed" in by_reason:
        lines.append(f"{_quoted(by_reason['changed'])} changed while the map was read: run /refresh again.")
    return "\n".join(lines)
