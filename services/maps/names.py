"""The in-memory name index behind autocomplete and "did you mean".

``NameIndex`` holds every journal entry's name once, normalised (accents stripped, case folded,
whitespace collapsed), and answers in tiers: exact, prefix, word-prefix, substring, then fuzzy
(rapidfuzz) only when the cheap tiers found fewer than asked. Within a tier shorter names come
first, then alphabetical order.

Speed: the normalised names are also joined into one string *in ranking order* (shorter first,
then alphabetical), so a ``str.find`` scan for ``"\\n" + typed`` meets prefix matches already
ranked and can stop after ``limit`` hits; the same holds for word starts and substrings. A query
therefore costs a handful of C-level ``find`` calls, whatever the size of the world.
"""

from __future__ import annotations

import pickle
import re
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import count
from typing import Any

from rapidfuzz import fuzz, process

from services.offload import CHUNK, each_part, in_steps
from storage import NameEntry

__all__ = ["NameIndex", "choice_label", "normalise", "CHOICE_LABEL_MAX"]

CHOICE_LABEL_MAX = 100  # Discord's limit for an autocomplete choice's name
FUZZY_MIN_CHARS = 3  # below this a fuzzy match is noise
FUZZY_CUTOFF = 65.0  # rapidfuzz ratio (0-100)
_FUZZY_K = (4, 5, 6, 7)  # head lengths kept (typed length + 1)
_DIRECT_MAX = 256  # prefix matches taken straight from a sorted range below this many

_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Case-folded, accent-free, whitespace-collapsed form used for every comparison."""
    text = text or ""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WS.sub(" ", text.casefold()).strip()


def _word_form(norm: str) -> str:
    """Punctuation turned into spaces, so "Jarl-Hrolf (old)" has the words jarl, hrolf, old."""
    return _NON_WORD.sub(" ", norm).strip()


def _ellipsize(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    return text[: limit - 1].rstrip() + "…"


def choice_label(entry: NameEntry, duplicate: bool) -> str:
    """The text of an autocomplete choice: the name, plus `` — folder`` when several entries share it.

    Cut to Discord's 100 characters with an ellipsis. When both parts do not fit, the folder keeps
    up to 45 characters (its deepest part) because that is what tells the entries apart.
    """
    name = _WS.sub(" ", entry.name or "").strip() or "(unnamed)"
    if not duplicate:
        return _ellipsize(name, CHOICE_LABEL_MAX)
    folder = _WS.sub(" ", entry.folder or "").strip() or "no folder"
    sep = " — "
    if len(name) + len(sep) + len(folder) <= CHOICE_LABEL_MAX:
        return f"{name}{sep}{folder}"
    folder_room = min(len(folder), 45)
    if len(folder) > folder_room:
        folder = "…" + folder[len(folder) - folder_room + 1 :]
    name_room = CHOICE_LABEL_MAX - len(sep) - len(folder)
    return f"{_ellipsize(name, name_room)}{sep}{folder}"


class _Table:
    """Fuzzy candidates: distinct ``heads`` (handed to rapidfuzz as they are) and, for each, the ranks
    holding it, best first, as one flat ``array('i')`` cut by ``offsets`` (head ``i`` owns
    ``ranks[offsets[i]:offsets[i + 1]]``). Lists of Python ints cost ~5x the memory."""

    __slots__ = ("heads", "ranks", "offsets")

    def __init__(self, heads: list[str], ranks: array | None = None, offsets: array | None = None):
        self.heads, self.ranks, self.offsets = heads, ranks, offsets  # ranks None: head i is rank i

    @classmethod
    def grouped(cls, heads: list[str], owners: array | None) -> _Table:
        """``heads[i]`` is held by rank ``owners[i]`` (by rank ``i`` when None); owners ascend.
        Distinct heads keep their first-seen order; each lists its ranks once, best first."""
        ids = dict(zip(dict.fromkeys(heads), count()))
        group_of = array("i", map(ids.__getitem__, heads))
        distinct = list(ids)
        del ids
        order = sorted(range(len(heads)), key=group_of.__getitem__)  # stable: ranks ascend per group
        if owners is None:  # one head per rank: no repeats within a group
            ranks = array("i", order)
            sorted_groups = array("i", map(group_of.__getitem__, order))
            offsets = array("i", (bisect_left(sorted_groups, g) for g in range(len(distinct))))
            offsets.append(len(ranks))
            return cls(distinct, ranks, offsets)
        ranks = array("i")
        offsets = array("i")
        last_group, last_rank = -1, -1
        append = ranks.append
        for i in order:
            group, rank = group_of[i], owners[i]
            if group != last_group:
                offsets.append(len(ranks))
                last_group, last_rank = group, -1
            if rank != last_rank:  # a name with two words of the same head lists once
                append(rank)
                last_rank = rank
        offsets.append(len(ranks))
        return cls(distinct, ranks, offsets)

    def group(self, idx: int, cap: int) -> Iterable[int]:
        if self.ranks is None:
            return (idx,)
        lo = self.offsets[idx]
        return self.ranks[lo : min(self.offsets[idx + 1], lo + cap)]


def _ranking_key(raw: list[str], items: list[NameEntry]):
    """Shorter names first, then by text; a function of its own so the lists can be freed after sorting."""
    return lambda i: (len(raw[i]), raw[i], items[i].name, items[i].uuid)


class NameIndex:
    """Names of a world's journal entries, ready for autocomplete and close matches.

    Memory (50,000 names, see docs/performance.md): rank lists are ``array('i')`` (4 bytes a rank,
    no int objects), exact matches come from bisecting the sorted names (no dict of lists), word
    starts are positions into the joined word forms (no suffix strings), and the fuzzy tables share
    one copy of each distinct head text. Building is pure Python on immutable inputs, so it can run
    in a worker thread (gm/maps.py does) while the event loop keeps serving the old index.
    """

    def __init__(self, entries: Iterable[NameEntry]):
        items = list(entries)
        raw = [normalise(e.name) for e in items]
        order = sorted(range(len(items)), key=_ranking_key(raw, items))
        # Everything below is indexed by *rank* (position in ranking order).
        self._entries: list[NameEntry] = [items[i] for i in order]
        norms = self._norms = [raw[i] for i in order]
        del items, order, raw
        words = [_word_form(n) for n in norms]  # only needed while building
        self._joined, self._starts = self._join(norms)
        self._wjoined, self._wstarts = self._join(words)
        # Sorted by text; equal texts keep rank order, which within one text is (name, uuid) order,
        # so this is also the alphabetical order of the empty query. Exact matches and prefixes
        # are ranges of it, found by bisection: few -> taken directly; many -> the ranking-ordered
        # string is scanned instead, which then meets hits quickly.
        by_text = sorted(range(len(norms)), key=norms.__getitem__)
        self._sorted_norms = [norms[r] for r in by_text]
        self._sorted_norm_ranks = array("i", by_text)
        del by_text
        # Starts of every later word (a position in _wjoined), sorted by the text from there to the
        # end of its name: the word-prefix tier bisects them (_suffix_range).
        wjoined, wstarts = self._wjoined, self._wstarts
        positions: list[int] = []
        for rank, wform in enumerate(words):
            base = wstarts[rank]
            pos = wform.find(" ")
            while pos >= 0:
                positions.append(base + pos + 1)
                pos = wform.find(" ", pos + 1)
        positions.sort(key=lambda p: wjoined[p : wjoined.index("\n", p)])
        self._suffix_pos = array("i", positions)
        self._suffix_ranks = array("i", (bisect_right(wstarts, p) - 1 for p in positions))
        del positions
        # Fuzzy tables for typos in 3-6 typed characters, the common autocomplete case, and the
        # whole later words for longer typed text.
        later: list[str] = []  # every later word long enough for a fuzzy match, in rank order
        owners = array("i")  # the rank each of them belongs to
        for rank, wform in enumerate(words):
            for word in wform.split(" ")[1:]:
                if len(word) >= FUZZY_MIN_CHARS:
                    later.append(word)
                    owners.append(rank)
        del words
        self._heads = {
            k: [_Table.grouped([n[:k] for n in norms], None), _Table.grouped([w[:k] for w in later], owners)]
            for k in _FUZZY_K
        }
        self._whole_words = _Table.grouped(later, owners)

    @staticmethod
    def _join(texts: list[str]) -> tuple[str, array]:
        """The texts joined as ``"\\n" + "\\n".join(texts) + "\\n"`` and where each starts; a last
        start (the final separator + 1) closes the last text."""
        starts = array("i")
        pos = 1
        for text in texts:
            starts.append(pos)
            pos += len(text) + 1
        starts.append(pos)
        return "\n" + "\n".join(texts) + "\n", starts

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> list[NameEntry]:
        """Every entry, in ranking order (do not modify)."""
        return self._entries

    # ----------------------------------------------------------------- between processes
    def to_parts(self) -> list[bytes]:
        """The index as small pickles, for the trip out of the worker process: attributes one by one, long
        lists (the heads of the fuzzy tables too) cut into ``CHUNK``-item slices. A part is (attribute, key,
        table, field, extend, value). ``_entries`` must already be positions (see ``build_parts``)."""
        parts: list[bytes] = []

        def emit(name: str, key: Any, table: int | None, field: str | None, value: Any) -> None:
            if isinstance(value, list) and len(value) > CHUNK:
                for start in range(0, len(value), CHUNK):
                    part = (name, key, table, field, start > 0, value[start : start + CHUNK])
                    parts.append(pickle.dumps(part, pickle.HIGHEST_PROTOCOL))
            else:
                parts.append(pickle.dumps((name, key, table, field, False, value), pickle.HIGHEST_PROTOCOL))

        for name, value in vars(self).items():
            if name == "_sorted_norms":
                continue  # the same strings as _norms, in _sorted_norm_ranks order: rebuilt from them on arrival
            if name == "_heads":
                emit(name, None, None, None, {k: [None] * len(tables) for k, tables in value.items()})
                for k, tables in value.items():
                    for i, table in enumerate(tables):
                        emit(name, k, i, None, _Table([], table.ranks, table.offsets))
                        emit(name, k, i, "heads", table.heads)
            elif name == "_whole_words":
                emit(name, None, None, None, _Table([], value.ranks, value.offsets))
                emit(name, None, None, "heads", value.heads)
            else:
                emit(name, None, None, None, value)
        return parts

    @classmethod
    def build_parts(cls, row_parts: list[bytes]) -> list[bytes]:
        """In the worker: the index of the rows (uuid, name, folder), as parts. Its entries travel as
        positions in the rows: the loop already holds those NameEntry objects, and sharing them saves a copy
        of every name."""
        rows = [row for part in row_parts for row in pickle.loads(part)]
        index = cls(NameEntry(uuid, name, folder) for uuid, name, folder in rows)
        position = {row[0]: i for i, row in enumerate(rows)}
        index._entries = array("i", (position[e.uuid] for e in index._entries))  # type: ignore[assignment]
        return index.to_parts()

    @classmethod
    async def from_parts(cls, parts: list[bytes], entries: list[NameEntry]) -> NameIndex:
        """Back on the loop, one part per turn: the index ``build_parts`` sent, its entries taken from
        ``entries`` (the rows it was built from)."""
        index = cls.__new__(cls)
        async for name, key, table, field, extend, value in each_part(parts):
            if table is None and field is None:  # a plain attribute (or a table's shell: _whole_words)
                if extend:
                    getattr(index, name).extend(value)
                else:
                    setattr(index, name, value)
            else:
                holder = getattr(index, name)
                if field is None:  # a fuzzy table's shell in _heads
                    holder[key][table] = value
                else:
                    obj = holder[key][table] if table is not None else holder
                    if extend:
                        getattr(obj, field).extend(value)
                    else:
                        setattr(obj, field, value)
        # Shares _norms' strings, as in an index built in place (pickled apart they would be copies).
        norms, index._sorted_norms = index._norms, []
        async for ranks in in_steps(index._sorted_norm_ranks):
            index._sorted_norms.extend(norms[r] for r in ranks)
        ranked: list[NameEntry] = []
        async for positions in in_steps(index._entries):
            ranked.extend(entries[i] for i in positions)
        index._entries = ranked
        return index

    # ----------------------------------------------------------------- lookups
    def _exact_ranks(self, norm: str) -> array:
        """Ranks (best first) of the names whose normalised form is ``norm``."""
        texts = self._sorted_norms
        lo = bisect_left(texts, norm)
        hi = bisect_right(texts, norm, lo)
        return self._sorted_norm_ranks[lo:hi]

    def find_exact(self, name: str) -> list[NameEntry]:
        """Entries whose name equals ``name`` ignoring case, accents and extra whitespace."""
        ranks = self._exact_ranks(normalise(name))
        return sorted((self._entries[r] for r in ranks), key=lambda e: ((e.folder or "").casefold(), e.name, e.uuid))

    def is_shared(self, entry: NameEntry) -> bool:
        """True when several entries have this (normalised) name."""
        return len(self._exact_ranks(normalise(entry.name))) > 1

    def choice_label(self, entry: NameEntry) -> str:
        """``choice_label`` with the duplicate flag taken from this index."""
        return choice_label(entry, self.is_shared(entry))

    def suggest(self, typed: str, limit: int = 25) -> list[NameEntry]:
        """Up to ``limit`` entries for what has been typed so far, best first."""
        if limit <= 0:
            return []
        t = normalise(typed)
        if not t:
            return [self._entries[r] for r in self._sorted_norm_ranks[:limit]]
        taken: list[int] = []
        seen: set[int] = set()

        def add(ranks: Iterable[int]) -> bool:
            for r in ranks:
                if r not in seen:
                    seen.add(r)
                    taken.append(r)
                    if len(taken) >= limit:
                        return True
            return False

        if add(self._exact_ranks(t)):
            return self._result(taken)
        texts = self._sorted_norms
        lo = bisect_left(texts, t)
        hi = bisect_left(texts, t + "\U0010ffff", lo)
        prefixed = self._take(self._sorted_norm_ranks, lo, hi, seen, limit - len(taken))
        if prefixed is None:
            prefixed = self._scan(self._joined, self._starts, "\n" + t, seen, limit - len(taken))
        if add(prefixed):
            return self._result(taken)
        wt = _word_form(t)
        if wt:
            lo, hi = self._suffix_range(wt)
            worded = self._take(self._suffix_ranks, lo, hi, seen, limit - len(taken))
            if worded is None:
                worded = self._scan(self._wjoined, self._wstarts, " " + wt, seen, limit - len(taken))
            if add(worded):
                return self._result(taken)
        if add(self._scan(self._joined, self._starts, t, seen, limit - len(taken))):
            return self._result(taken)
        if len(t) >= FUZZY_MIN_CHARS:
            add(self._fuzzy(t, seen, limit - len(taken)))
        return self._result(taken)

    def close_matches(self, name: str, limit: int = 5) -> list[NameEntry]:
        """Names near ``name`` for a "did you mean" line (same tiers as ``suggest``)."""
        if not normalise(name):
            return []
        return self.suggest(name, limit)

    # --------------------------------------------------------------- internals
    def _result(self, ranks: list[int]) -> list[NameEntry]:
        return [self._entries[r] for r in ranks]

    def _suffix_range(self, prefix: str) -> tuple[int, int]:
        """The range of ``_suffix_pos`` whose text (word start to end of name) starts with ``prefix``.
        A suffix's first len(prefix) characters sort as the suffixes do, so they can be bisected."""
        wjoined, size = self._wjoined, len(prefix)

        def head(p: int) -> str:
            return wjoined[p : p + size].partition("\n")[0]

        lo = bisect_left(self._suffix_pos, prefix, key=head)
        return lo, bisect_right(self._suffix_pos, prefix, lo, key=head)

    @staticmethod
    def _take(ranks: array, lo: int, hi: int, seen: set[int], need: int) -> list[int] | None:
        """Ranks (best first) of ``ranks[lo:hi]``, or None when there are so many that scanning the
        ranking-ordered string is cheaper."""
        if hi - lo > _DIRECT_MAX:
            return None
        return [r for r in sorted(set(ranks[lo:hi])) if r not in seen][:need]

    def _scan(self, joined: str, starts: array, needle: str, seen: set[int], need: int) -> list[int]:
        """Ranks of names containing ``needle`` in ranking order, skipping ``seen``, at most ``need``."""
        found: list[int] = []
        pos = 0
        n_names = len(self._entries)
        find = joined.find
        while len(found) < need:
            hit = find(needle, pos)
            if hit < 0:
                break
            # The name holding the hit's first non-separator character.
            rank = bisect_right(starts, hit + 1) - 1
            if rank not in seen:
                found.append(rank)
            if rank + 1 >= n_names:
                break
            pos = starts[rank + 1] - 1  # the separator before the next name
        return found

    def _tables(self, k: int) -> list[_Table]:
        """Tables for typed text of length k-1: kept for short typed text (built up front); for
        longer text the name heads are sliced per query and later words compared whole."""
        cached = self._heads.get(k)
        if cached is not None:
            return cached
        return [_Table([norm[:k] for norm in self._norms]), self._whole_words]

    def _fuzzy(self, t: str, seen: set[int], need: int) -> list[int]:
        """Typos: compare with each name's first len(t)+1 characters (a mistyped prefix or a
        mistyped whole name) and with the start of each later word; best score first."""
        scores: dict[int, float] = {}
        cap = need + len(seen) + 10
        tables = self._tables(len(t) + 1)
        if " " in t:
            tables = tables[:1]
        for table in tables:
            for _head, score, idx in process.extract(
                t, table.heads, scorer=fuzz.ratio, processor=None, limit=cap, score_cutoff=FUZZY_CUTOFF
            ):
                # A group lists its ranks best first: only its first `cap` can reach the top.
                for rank in table.group(idx, cap):
                    if score > scores.get(rank, -1.0):
                        scores[rank] = score
        ranked = sorted((r for r in scores if r not in seen), key=lambda r: (-scores[r], r))
        return ranked[:need]
