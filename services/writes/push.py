"""/push, the way Campaign Codex's own sheets write: preview every entry that will change, re-read at
Confirm, write one entry at a time, and report exactly what was written.

- A ``type`` in the file sends ``flags.core.sheetClass`` too (the type alone never selects the sheet);
  a change between Campaign Codex sheets makes the module convert the entry, and the preview says what
  that conversion moves or drops and whether Foundry will ask the GM there first.
- A link added or removed in one of the two-way pairs (services/writes/links.py) is mirrored on the other
  entry, and a one-valued link that moves leaves its old owner's list.
- Confirm re-reads every entry: when what the writes touch changed since the preview, a fresh preview
  is shown instead of writing over the GM's edit.
- A write whose reply is lost (a crossed reply, a timeout) is read back: the reply says what it holds.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from dataclasses import dataclass, field

from core.errors import UserFacingError
from core.replies import Confirm, Decision, Reply, Tone
from core.textsafe import echo
from relay import EntryNotFound, JournalEntry
from relay.errors import CrossedReply, RelayError, RelayReplyTooLarge, RelayTimeout
from services.codex import codex_diff, describe_changes, parse_push_file, validate_against_type
from services.codex.conversion import asks_to_confirm, conversion_effects
from services.codex.schema import TYPE_LABELS
from services.codex.sheets import VISIBLE, create_document, sheet_class, type_of_sheet_class
from services.entries.reader import EntryReader, NoSuchEntry
from services.maps.world_maps import NameMaps
from services.worlds import ResolvedWorld
from services.writes.links import Side, as_list, pair_fields, reverse_changes
from services.writes.writer import EntryWriter, get_path, not_sent
from storage import NameEntry

__all__ = ["Pusher"]

DATA = "flags.campaign-codex.data."
UNKNOWN_ENTRY = "an entry not in the name map"
# Fresh previews shown at most this many times before giving up on an entry that keeps changing.
MAX_PREVIEWS = 3
NEW_ENTRY = "JournalEntry.(new)"


@dataclass
class Write:
    uuid: str
    name: str
    diff: dict[str, object]
    lines: list[str]
    # The live value at each path the write touches, when it was planned: a Confirm re-reads them.
    before: dict[str, object] = field(default_factory=dict)


@dataclass
class Plan:
    main: Write
    linked: list[Write]
    notes: list[str]
    visible: bool | None

    @property
    def writes(self) -> list[Write]:
        return ([self.main] if self.main.diff else []) + self.linked

    def fingerprint(self) -> str:
        return json.dumps([(w.uuid, w.diff, w.before) for w in self.writes], sort_keys=True, default=str)


class Pusher:
    def __init__(self, reader: EntryReader, writer: EntryWriter, maps: NameMaps):
        self.reader = reader
        self.writer = writer
        self.maps = maps

    @property
    def relay(self):
        return self.writer.relay

    # --- entry points -------------------------------------------------------------------------

    async def run(
        self, world: ResolvedWorld, name: str, raw: bytes, *, rename: str | None = None, confirm: Confirm
    ) -> Reply:
        """/push: the file checked, the entry found (in the map, else by name in the live world, else created)."""
        pushed = parse_push_file(raw)
        if rename is not None:
            rename = " ".join(rename.split())
            if not rename or len(rename) > 255:
                raise UserFacingError("The new name must be 1 to 255 characters long; nothing was sent.")
        entry = await self.reader.find(world.client_id, name)
        note = ""
        if entry is None:
            # The map may be stale: an entry of this exact name in the live world is offered instead.
            found = await self.reader.live_named(world, rename or name)
            if len(found) > 1:
                raise NoSuchEntry(
                    f"{len(found)} entries in the world are named “{echo(rename or name)}”: run /refresh, then pick one "
                    "from the suggestions. Nothing was sent.",
                )
            if not found:
                return await self.create(world, rename or name, pushed, confirm)
            entry = found[0]
            await self.maps.put(world.client_id, entry)
            note = f"“{echo(entry.name)}” is in the world but was not in the bot's name map: this updates it."
        return await self.push(world, entry, pushed, rename, confirm, note=note)

    async def push(
        self, world: ResolvedWorld, entry: NameEntry, pushed: dict, rename: str | None, confirm: Confirm, note: str = ""
    ) -> Reply:
        async with self.writer.entry_lock(entry.uuid):
            plan = await self._plan(world, entry, pushed, rename)
            for attempt in range(MAX_PREVIEWS):
                if not plan.writes:
                    return _nothing(plan)
                changed = attempt > 0
                decision = await confirm(self._preview(plan, note=note, changed=changed))
                if decision is not Decision.CONFIRMED:
                    return not_sent(decision)
                async with self.writer.world_lock(world.client_id):
                    fresh = await self._plan(world, entry, pushed, rename)
                    if fresh.fingerprint() == plan.fingerprint():
                        return await self._write(world, entry, fresh)
                plan = fresh
            return Reply(
                title=f"Not pushed — {echo(plan.main.name)} keeps changing",
                description="The entry changed in Foundry after each preview; nothing was written. Push again "
                "when nobody is editing it.",
                tone=Tone.WARNING,
            )

    async def create(self, world: ResolvedWorld, name: str, pushed: dict, confirm: Confirm) -> Reply:
        if not pushed.get("type"):
            raise UserFacingError(
                f'No entry is named “{echo(name)}”, and a new one needs a type: add "type" to the push file '
                f"({', '.join(TYPE_LABELS)}). Nothing was sent."
            )
        validate_against_type(pushed, None)
        codex_type = pushed["type"]
        document = create_document(pushed)
        links, notes, names = await self._plan_links(world, NEW_ENTRY, codex_type, {}, pushed.get("data") or {})
        data_lines = describe_changes({}, codex_diff({}, pushed), names=names)
        preview = Reply(
            title=f"Create “{echo(name)}”?",
            description=(
                f"No journal entry is named “{echo(name)}” in {echo(world.label)}. Create it as a "
                f"Campaign Codex {TYPE_LABELS[codex_type]} ({sheet_class(codex_type)}), hidden from players "
                f"(/reveal shares it)?\n" + _bullets(data_lines)
            ),
            tone=Tone.INFO,
            data={"create": name, "document": document},
        )
        if links:
            preview.add_field("Linked entries that will change", _linked_lines(links))
        if notes:
            preview.add_field("Notes", _bullets(notes, 1000))
        decision = await confirm(preview)
        if decision is not Decision.CONFIRMED:
            return not_sent(decision)
        async with self.writer.world_lock(world.client_id):
            existing = await self.reader.live_named(world, name)
            if existing:
                return Reply(
                    title=f"Not created — “{echo(name)}” exists now",
                    description="An entry of this name appeared in Foundry after the preview; nothing was created. "
                    "Push again to update it.",
                    tone=Tone.WARNING,
                )
            try:
                created = await self.relay.create_entry(name, document, client_id=world.client_id)
            except (RelayTimeout, CrossedReply, RelayReplyTooLarge) as error:
                return await self._create_unclear(world, name, error)
            await self.maps.put(world.client_id, NameEntry(uuid=created.uuid, name=created.name, folder=created.folder))
            reply = Reply(
                title=f"Created {echo(created.name)}",
                description=f"A Campaign Codex {TYPE_LABELS[codex_type]}, hidden from players; it is in the name map.",
                tone=Tone.SUCCESS,
                data={"uuid": created.uuid},
            )
            if links:
                # The other sides, now that the new entry has a uuid to point back at.
                linked, _, _ = await self._plan_links(
                    world, created.uuid, codex_type, {}, pushed.get("data") or {}, self_name=created.name
                )
                return await self._write_all(world, linked, reply, done=[created.name])
            return reply

    async def _create_unclear(self, world: ResolvedWorld, name: str, error: RelayError) -> Reply:
        """A /create whose reply never came: look for the name before saying anything."""
        try:
            found = await self.reader.live_named(world, name)
        except RelayError as search_error:
            return Reply(
                title=f"Unknown whether “{echo(name)}” was created",
                description=(
                    f"Foundry did not answer the create ({error.message.rstrip('.')}), and searching for the name "
                    f"failed too ({search_error.message.rstrip('.')}). Look for “{echo(name)}” in Foundry before "
                    "pushing again: pushing now could make a second entry."
                ),
                tone=Tone.WARNING,
            )
        if found:
            entry = found[0]
            await self.maps.put(world.client_id, entry)
            return Reply(
                title=f"Created {echo(entry.name)}",
                description="Foundry's reply was lost, but the entry is in the world now (found by name); "
                "it is in the name map.",
                tone=Tone.SUCCESS,
                data={"uuid": entry.uuid},
            )
        return Reply(
            title=f"Not created — “{echo(name)}”",
            description=(
                f"Foundry did not answer in time and no entry named “{echo(name)}” is in the world now. Foundry may "
                "still be working on it: check in Foundry (or /refresh, then /lookup) before pushing again."
            ),
            tone=Tone.WARNING,
        )

    # --- planning -----------------------------------------------------------------------------

    async def _plan(self, world: ResolvedWorld, entry: NameEntry, pushed: dict, rename: str | None) -> Plan:
        live = await self.reader.live(world, entry)
        codex = live.codex_flags
        old_type = codex.get("type")
        validate_against_type(pushed, old_type)
        new_type = pushed.get("type") or old_type
        old_data = codex.get("data") if isinstance(codex.get("data"), dict) else {}
        pushed_data = pushed.get("data") or {}
        linked, notes, names = await self._plan_links(
            world, live.uuid, new_type, old_data, pushed_data, self_name=live.name
        )
        diff = codex_diff(codex, pushed)
        lines = describe_changes(codex, diff, names=names)
        if pushed.get("type"):
            notes[:0] = self._sheet_change(live, old_type, pushed, diff, lines)
        if rename and rename != live.name:
            diff = {"name": rename, **diff}
            lines.insert(0, f"name: {echo(live.name, 60)} → {echo(rename, 60)}")
        before = {path: copy.deepcopy(get_path(live.raw, path)) for path in diff}
        level = (live.raw.get("ownership") or {}).get("default")
        visible = level >= VISIBLE if isinstance(level, int) else None
        return Plan(Write(live.uuid, live.name, diff, lines, before), linked, notes, visible)

    def _sheet_change(self, live: JournalEntry, old_type: str | None, pushed: dict, diff: dict, lines: list) -> list:
        """Add flags.core.sheetClass when the entry does not open with the type's sheet; say what
        Campaign Codex's conversion will do to the data."""
        new_type = pushed["type"]
        current = (live.flags.get("core") or {}).get("sheetClass")
        wanted = sheet_class(new_type)
        if current == wanted:
            return []
        diff["flags.core.sheetClass"] = wanted
        label = TYPE_LABELS[new_type]
        lines.append(f"sheet: {echo(str(current), 60) if current else 'plain journal'} → {label} ({wanted})")
        if not (old_type and old_type != new_type and type_of_sheet_class(current)):
            texts = [p for p in live.pages if p.get("type") == "text" and (p.get("text") or {}).get("content")]
            if texts and not (live.codex_flags.get("converted")):
                return [
                    "Foundry will ask the GM, in the Foundry window that runs the REST API module, whether to "
                    "copy this journal's text pages into the description."
                ]
            return []
        data = dict(live.codex_flags.get("data") or {})
        data.update({k: v for k, v in (pushed.get("data") or {}).items()})
        old_label = TYPE_LABELS.get(old_type, old_type)
        notes = [f"Campaign Codex converts this {old_label} to a {label}:"]
        effects = conversion_effects(old_type, new_type, data)
        notes += [f"{e.field}: {e.text}" for e in effects] or ["no field moves or is dropped"]
        notes.append("links to it in other Campaign Codex entries are moved to the matching field or removed")
        asked = asks_to_confirm(old_type, new_type, data)
        if asked:
            notes.append(
                f"Data would be lost ({', '.join(asked)}), so Foundry will ask the GM to confirm in the Foundry "
                "window that runs the REST API module. The type and sheet change at once; the fields move only "
                "when someone answers there."
            )
        return notes

    async def _plan_links(
        self,
        world: ResolvedWorld,
        self_uuid: str,
        codex_type: str | None,
        old_data: dict,
        pushed_data: dict,
        *,
        self_name: str | None = None,
    ):
        """The writes to other entries that keep two-way links two-way, notes on links that get no
        other side, and a uuid → name function for previews (names, never bare uuids)."""
        world_map = await self.maps.get(world.client_id)
        known: dict[str, str] = {}
        if self_name:
            known[self_uuid] = self_name

        def names(uuid: str) -> str:
            return known.get(uuid) or world_map.name_of(uuid) or UNKNOWN_ENTRY

        fields = pair_fields(codex_type)
        wanted: dict[str, list[tuple[Side, Side, bool]]] = defaultdict(list)
        for name, value in pushed_data.items():
            if name not in fields:
                continue
            new = as_list(value)
            old = as_list(old_data.get(name))
            for mine, theirs in fields[name]:
                for uuid in new:
                    if uuid != self_uuid:
                        wanted[uuid].append((mine, theirs, True))
                for uuid in old:
                    if uuid not in new and uuid != self_uuid:
                        wanted[uuid].append((mine, theirs, False))
        notes: list[str] = []
        pending: dict[str, tuple[JournalEntry, dict]] = {}
        moved_out: list[tuple[str, Side, str]] = []  # (old owner, its field, entry that leaves it)
        for uuid, changes in wanted.items():
            other = await self._read_other(world, uuid, notes, names)
            if other is None:
                continue
            known[uuid] = other.name
            other_type = other.codex_flags.get("type")
            data = dict(other.codex_flags.get("data") or {})
            values: dict[str, object] = {}
            for mine, theirs, linked in changes:
                if other_type not in theirs.types:
                    if linked:
                        notes.append(f"{echo(other.name)} is {_a(other_type)}, so it gets no link back ({mine.field}).")
                    continue
                change, old_owner = reverse_changes(self_uuid, theirs, {**data, **values}, linked=linked)
                values.update(change)
                if old_owner and old_owner != self_uuid:
                    moved_out.append((old_owner, mine, uuid))
            if values:
                pending[uuid] = (other, values)
        for owner_uuid, side, leaving in moved_out:
            if owner_uuid in pending:
                owner, values = pending[owner_uuid]
            else:
                owner = await self._read_other(world, owner_uuid, notes, names)
                if owner is None:
                    continue
                known[owner_uuid] = owner.name
                values = {}
            current = values.get(side.field, (owner.codex_flags.get("data") or {}).get(side.field))
            items = as_list(current)
            if leaving in items:
                values[side.field] = [u for u in items if u != leaving] if side.many else None
                pending[owner_uuid] = (owner, values)
        linked_writes = []
        for uuid, (other, values) in pending.items():
            diff = {DATA + k: v for k, v in values.items()}
            codex = other.codex_flags
            lines = describe_changes(codex, diff, names=names)
            before = {path: copy.deepcopy(get_path(other.raw, path)) for path in diff}
            linked_writes.append(Write(uuid, other.name, diff, lines, before))
        return linked_writes, notes, names

    async def _read_other(self, world: ResolvedWorld, uuid: str, notes: list[str], names) -> JournalEntry | None:
        if not uuid.startswith("JournalEntry."):
            return None
        try:
            return await self.relay.get_entry(uuid, client_id=world.client_id)
        except EntryNotFound:
            notes.append(f"{echo(names(uuid))} no longer exists in Foundry, so it gets no link back.")
            return None

    # --- writing ------------------------------------------------------------------------------

    async def _write(self, world: ResolvedWorld, entry: NameEntry, plan: Plan) -> Reply:
        done: list[str] = []
        main = plan.main
        if main.diff:
            updated = await self._write_one(world, main)
            if "name" in main.diff:
                await self.maps.put(
                    world.client_id, NameEntry(uuid=updated.uuid, name=updated.name, folder=entry.folder)
                )
            done.append(updated.name)
        reply = Reply(
            title=f"Pushed to {echo(done[0] if done else main.name)}",
            description=_bullets(main.lines) if main.diff else "Only linked entries needed a change.",
            footer=f"{len(main.diff)} change(s) written to {main.uuid}",
            tone=Tone.SUCCESS,
            data={"changes": main.diff, "uuid": main.uuid},
        )
        if plan.notes:
            reply.add_field("Campaign Codex", _bullets(plan.notes, 1000))
        return await self._write_all(world, plan.linked, reply, done=done)

    async def _write_all(self, world: ResolvedWorld, writes: list[Write], reply: Reply, *, done: list[str]) -> Reply:
        """The linked entries, one by one; on a failure the reply names what was and was not written."""
        for index, write in enumerate(writes):
            try:
                await self._write_one(world, write)
            except UserFacingError as error:
                left = [w.name for w in writes[index + 1 :]]
                reply.title = f"Partly written — {echo(write.name)} failed"
                reply.tone = Tone.ERROR
                reply.add_field("Written", _names(done) or "nothing")
                reply.add_field(f"Failed: {echo(write.name, 200)}", echo(error.message, 1000))
                if left:
                    reply.add_field("Not written", _names(left))
                reply.add_field(
                    "To finish",
                    "Push the same file again: the bot re-reads every entry and writes only what is still missing.",
                )
                reply.data.update(written=done, failed=write.name, not_written=left)
                return reply
            done.append(write.name)
        if writes:
            reply.add_field("Linked entries updated", _names(done[-len(writes) :]))
        reply.data["written"] = done
        return reply

    async def _write_one(self, world: ResolvedWorld, write: Write) -> JournalEntry:
        return await self.writer.update(world.client_id, write.uuid, write.diff)

    # --- previews -----------------------------------------------------------------------------

    def _preview(self, plan: Plan, *, note: str, changed: bool) -> Reply:
        main = plan.main
        title = f"Push to {echo(main.name)}?"
        if changed:
            title = f"Changed in Foundry since the preview — push to {echo(main.name)}?"
        preview = Reply(
            title=title,
            description=((note + "\n") if note else "")
            + (_bullets(main.lines) if main.diff else "Nothing changes on this entry itself."),
            footer=f"{len(main.diff)} change(s) to {main.name}"
            + (f" and {len(plan.linked)} linked entr{'y' if len(plan.linked) == 1 else 'ies'}" if plan.linked else ""),
            tone=Tone.INFO,
            data={
                "changes": main.diff,
                "uuid": main.uuid,
                "linked": {w.name: w.diff for w in plan.linked},
                "visible": plan.visible,
            },
        )
        if plan.linked:
            preview.add_field("Linked entries that will change", _linked_lines(plan.linked))
        if plan.notes:
            preview.add_field("Campaign Codex", _bullets(plan.notes, 1000))
        preview.add_field("Players", _visibility(plan.visible))
        return preview


def _visibility(visible: bool | None) -> str:
    if visible is None:
        return "Unknown (Foundry did not send the entry's ownership)."
    if visible:
        return "Visible to players (shared). /hide hides it."
    return "Hidden from players. /reveal shares it."


def _a(codex_type: object) -> str:
    if not isinstance(codex_type, str) or codex_type not in TYPE_LABELS:
        return "not a Campaign Codex entry of that kind"
    label = TYPE_LABELS[codex_type]
    return f"{'an' if label[0] in 'AEIOU' else 'a'} {label}"


def _linked_lines(writes: list[Write]) -> str:
    text = "\n".join(f"**{echo(w.name, 80)}**: " + "; ".join(w.lines) for w in writes)
    return text if len(text) <= 1000 else text[:990].rsplit("\n", 1)[0] + "\n…"


def _names(names: list[str]) -> str:
    text = ", ".join(echo(n, 80) for n in names)
    return text if len(text) <= 1000 else text[:990] + "…"


def _bullets(lines: list[str], limit: int = 3900) -> str:
    text = "\n".join(f"• {line}" for line in lines)
    return text if len(text) <= limit else text[:limit].rsplit("\n", 1)[0] + "\n…"


def _nothing(plan: Plan) -> Reply:
    return Reply(
        title=f"Nothing to change — {echo(plan.main.name)}",
        description="The entry (and every entry it links to) already holds exactly this data; nothing was sent.",
        tone=Tone.INFO,
        data={"changes": {}},
    )
