"""Listing every journal entry of a world through the relay, for /refresh.

The relay has no paged listing (relay.md, "Search limits"): ``/search`` stops at 500 names. So:

1. ``/structure`` (one request, no count cap, asked for ``DEPTH`` levels) gives the folder tree with
   every entry where it sits. Folders it could not show fully get a ``path=Folder.<id>`` read each:
   nodes at the depth limit, and nodes whose ``entities`` list a subfolder named "entities" replaced.
2. One global ``/search`` cross-checks it. When it is *not* capped it lists every world entry: the
   map is proven (names and folders are taken from it; entries it lacks were deleted meanwhile).
   When it is capped it proves only the names up to its last one (the boundary). Either way a hit in
   a folder the tree never showed reveals a folder lost to a same-name sibling: it is read with
   ``path=Folder.<id>``.
3. Capped only: ``/get-folder?name=`` for every folder name. It returns the *first* folder of that
   name, while /structure shows the *last* of same-name siblings; when both are the same folder no
   other folder of that name sits beside it: that folder's place is proven. A journal folder the tree
   never showed is a hidden sibling: it is read and placed, and its place stays unproven (a third
   sibling could hide between the two). A name also used by a non-journal folder, or by another
   folder elsewhere, can't be proven this way. (Also used, uncapped, to name folders found by id.)

Requests: a world with F folders costs 2 requests when it has fewer than 500 entries and needs no
deeper reads, and about 2 + (number of distinct folder names) otherwise; the client's Pacer keeps
any number within the relay's 300/minute. Requests go one at a time (relay.md, "Concurrency hazard").
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
from relay import RelayClient, RelayModuleError
from services.gm.names import NameEntry
from services.gm.structure import Tree

log = logging.getLogger(__name__)

Progress = Callable[[str], Awaitable[None]]
T = TypeVar("T")

DEPTH = 20  # recursiveDepth asked of /structure; nodes at this depth are read again with path=
PROGRESS_EVERY = 2.0  # seconds between progress reports inside one step
_NOTE_PARTS = 8  # unverified parts named in the note; the rest are counted
_NAME_LIMIT = 60


@dataclass(frozen=True)
class Unverified:
    """A part of the world whose completeness could not be proven."""

    path: str | None  # folder path, None = the root; may hold gm.structure.HIDDEN_NAME
    reason: str  # plain words, already safe to show
    missing: int | None = None  # entries that may be missing; None = unknown number; 0 = none (paths only)
    after: str | None = None  # missing entries can only have names sorting after this one


@dataclass(frozen=True)
class Enumeration:
    entries: list[NameEntry]
    complete: bool
    # Why the map may be incomplete, in words for the GM (None when complete).
    note: str | None
    requests: int
    unverified: list[Unverified] = field(default_factory=list)
    searched_all: bool = False  # the global search listed every entry (world under 500 entries)


async def enumerate_journal(
    relay: RelayClient, client_id: str, progress: Progress | None = None, *, depth: int = DEPTH
) -> Enumeration:
    """Every journal entry of the world with its folder path. Relay errors propagate (a key without
    ``structure:read`` raises RelayScopeError naming it); an unproven map says so in ``note``."""
    return await _Run(relay, client_id, progress, depth).run()


class _Run:
    def __init__(self, relay: RelayClient, client_id: str, progress: Progress | None, depth: int):
        self.relay = relay
        self.client_id = client_id
        self.progress = progress
        self.depth = max(1, depth)
        self.tree = Tree()
        self.requests = 0
        self.read_done: set[str] = set()
        self.vanished: set[str] = set()  # folder ids the relay no longer knew when read
        self.unverified: list[Unverified] = []
        self.first_of: dict[str, tuple[str, Any] | None] = {}  # name -> (id, type) of the first folder so named
        self.collided: set[tuple[str | None, str]] = set()  # (parent, name) places where a sibling was hidden
        self._last_report = float("-inf")

    # --- plumbing -------------------------------------------------------------------------------

    async def _ask(self, call: Awaitable[T]) -> T:
        self.requests += 1
        return await call

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
                data = await self._ask(
                    self.relay.structure(
                        client_id=self.client_id, path=f"Folder.{folder_id}", recursive_depth=self.depth
                    )
                )
            except RelayModuleError as exc:
                if "not found" not in exc.message.casefold():
                    raise
                self.vanished.add(folder_id)  # deleted (or moved away) since the tree was read
                continue
            queue.extend(i for i in self.tree.read_subtree(folder_id, data, self.depth) if i not in self.read_done)

    # --- the steps ------------------------------------------------------------------------------

    async def run(self) -> Enumeration:
        await self._report("Reading the world's folder tree…")
        data = await self._ask(self.relay.structure(client_id=self.client_id, recursive_depth=self.depth))
        need = self.tree.read_root(data, self.depth)
        del data  # the parsed reply (tens of MB for a large world): the tree keeps what it needs
        await self._report(f"Folder tree read: {len(self.tree.entries)} entries in {len(self.tree.folders)} folders.")
        await self._read_folders(need)

        await self._report("Cross-checking with the relay's search…")
        search = await self._ask(self.relay.search_journal_entries(client_id=self.client_id))
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
            await self._read_folders(list(dict.fromkeys(unknown)))

        boundary = max((h.name for h in hits), key=str.casefold, default="") if search.capped else None
        await self._check_names(proving=search.capped)
        self._collect_unverified(search.capped, boundary)
        return await self._result(searched_all=not search.capped)

    def _placed_names(self) -> list[str]:
        return sorted({r.name for r in self.tree.folders.values() if r.placed and r.name is not None})

    async def _check_names(self, *, proving: bool) -> None:
        """/get-folder by name: proves places (when ``proving``) and names folders known only by id."""
        if not proving and not self._unplaced():
            return
        names = deque(self._placed_names())
        queued = set(names)
        await self._report(f"Checking {len(names)} folder name(s) for folders the relay hid…")
        checked = 0
        while names:
            if not proving and not self._unplaced():
                break
            name = names.popleft()
            checked += 1
            await self._report(
                f"Checking folder names for hidden folders ({checked} of {checked + len(names)})…", step=True
            )
            try:
                data = await self._ask(self.relay.get_folder(name, client_id=self.client_id))
            except RelayModuleError as exc:
                if "not found" not in exc.message.casefold():
                    raise
                self.first_of[name] = None  # renamed or deleted since the tree was read
                continue
            folder_id, kind = data.get("id"), data.get("type")
            if not isinstance(folder_id, str):
                self.first_of[name] = None
                continue
            self.first_of[name] = (folder_id, kind)
            if kind != "JournalEntry":
                continue
            parent = data.get("parent")
            parent = parent if isinstance(parent, str) and parent not in ("", "root") else None
            if parent is not None and not self.tree.knows(parent):
                continue  # its place is as unknown as before
            rec = self.tree.folders.get(self.tree.resolve(folder_id) or "")
            if rec is not None and rec.placed:
                continue
            # A journal folder no tree showed where it sits: a same-name sibling hid it.
            rec = self.tree.place(folder_id, name, self.tree.resolve(parent))
            self.collided.add((rec.parent, name))
            await self._read_folders([folder_id])
            if proving:  # the hidden folder's subfolders need their places checked too
                fresh = [n for n in self._placed_names() if n not in queued]
                queued.update(fresh)
                names.extend(fresh)

    def _unplaced(self) -> list[str]:
        return [k for k, r in self.tree.folders.items() if not r.placed]

    def _collect_unverified(self, capped: bool, boundary: str | None) -> None:
        tree = self.tree
        by_folder: dict[str | None, int] = {}
        for _name, folder in tree.entries.values():
            by_folder[folder] = by_folder.get(folder, 0) + 1

        for key in self._unplaced():
            n = sum(c for f, c in by_folder.items() if tree.resolve(f) == key or _under(tree, f, key))
            listed = (
                f"{n} entr{'y sits' if n == 1 else 'ies sit'} in a folder the relay showed only by its id, "
                f"so the map can't give {'its' if n == 1 else 'their'} real folder"
            )
            if capped:
                self.unverified.append(
                    Unverified(tree.path(key), f"{listed}; the folder hiding it may hold more entries", None, boundary)
                )
            else:
                self.unverified.append(Unverified(tree.path(key), listed, 0))
        for folder_id in sorted(self.vanished):
            if capped and tree.folders[folder_id].placed:  # an unplaced one is reported above
                self.unverified.append(
                    Unverified(
                        tree.path(folder_id), "the folder changed while it was being read; run /refresh again", None
                    )
                )
        if not capped:
            return  # the search listed every entry: only folder paths can be wrong, reported above

        for key, rec in tree.folders.items():
            if not rec.placed:
                continue
            if rec.id is None and not (rec.expanded and rec.entries_known):
                self.unverified.append(
                    Unverified(
                        tree.path(key),
                        "the relay hid this folder's id, so what it didn't show of the folder can't be read",
                        None,
                    )
                )
            if not rec.visible:
                continue
            reason = self._place_unproven(key, rec)
            if reason:
                self.unverified.append(Unverified(tree.path(key), reason, None, boundary))

    def _place_unproven(self, key: str, rec: Any) -> str | None:
        first = self.first_of.get(rec.name)
        hidden = "so a folder of the same name could sit hidden beside it"
        if (rec.parent, rec.name) in self.collided:
            return "the relay hid a same-name folder beside it (found and read), and it can hide more than one"
        if rec.name not in self.first_of:
            return f"its name wasn't checked, {hidden}"
        if first is None:
            return f"it was renamed or deleted during the refresh, {hidden}"
        folder_id, kind = first
        if folder_id == key:
            return None
        if kind != "JournalEntry":
            return f"a folder of another kind has the same name and the relay looks up only the first, {hidden}"
        return f"another journal folder has the same name and the relay looks up only the first, {hidden}"

    def _entries(self) -> list[NameEntry]:
        """The tree's entries with their folder paths, sorted. Only reads the tree."""
        tree = self.tree
        paths: dict[str | None, str | None] = {}  # one path string per folder, shared by its entries

        def path(folder: str | None) -> str | None:
            if folder not in paths:
                paths[folder] = tree.path(folder)
            return paths[folder]

        entries = [
            NameEntry(uuid=uuid, name=name, folder=path(folder)) for uuid, (name, folder) in tree.entries.items()
        ]
        entries.sort(key=lambda e: (e.name.casefold(), e.folder or "", e.uuid))
        return entries

    async def _result(self, *, searched_all: bool) -> Enumeration:
        # ~0.1 s of CPU for 50,000 entries: in a worker thread, so the event loop keeps answering
        # interactions (nothing else touches this run's tree meanwhile).
        entries = await asyncio.to_thread(self._entries)
        complete = not self.unverified
        note = None if complete else _note(self.unverified)
        await self._report(
            f"Done: {len(entries)} entries, {self.requests} relay request(s)"
            + ("." if complete else "; some parts could not be verified.")
        )
        return Enumeration(
            entries=entries,
            complete=complete,
            note=note,
            requests=self.requests,
            unverified=list(self.unverified),
            searched_all=searched_all,
        )


def _under(tree: Tree, key: str | None, ancestor: str) -> bool:
    seen: set[str] = set()
    key = tree.resolve(key)
    while key is not None and key not in seen:
        seen.add(key)
        rec = tree.folders.get(key)
        if rec is None:
            return False
        if key == ancestor:
            return True
        key = tree.resolve(rec.parent) if rec.placed else None
    return False


def _note(parts: list[Unverified]) -> str:
    lines = [f"The map may be incomplete: the relay could not prove {len(parts)} part(s) of the world complete."]
    for part in parts[:_NOTE_PARTS]:
        where = "the top level" if part.path is None else f"“{echo(part.path, 80)}”"
        if part.missing == 0:
            lines.append(f"• {where}: {part.reason}.")
            continue
        count = "an unknown number of entries" if part.missing is None else f"up to {part.missing} entries"
        after = f", all named after “{echo(part.after, _NAME_LIMIT)}”" if part.after else ""
        lines.append(f"• {where}: {part.reason} ({count} may be missing{after}).")
    if len(parts) > _NOTE_PARTS:
        lines.append(f"…and {len(parts) - _NOTE_PARTS} more part(s).")
    return "\n".join(lines)
