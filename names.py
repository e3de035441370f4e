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

import re
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Iterable

from rapidfuzz import fuzz, process

__all__ = ["NameEntry", "NameIndex", "choice_label", "normalise", "CHOICE_LABEL_MAX"]

CHOICE_LABEL_MAX = 100  # Discord's limit for an autocomplete choice's name
FUZZY_MIN_CHARS = 3  # below this a fuzzy match is noise
FUZZY_CUTOFF = 65.0  # rapidfuzz ratio (0-100)
_FUZZY_K = (4, 5, 6, 7)  # head lengths kept (typed length + 1)
_DIRECT_MAX = 256  # prefix matches taken straight from a sorted range below this many

_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class NameEntry:
    uuid: str
    name: str
    folder: str | None = None  # folder path for display, e.g. "NPCs/Villains"


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


class NameIndex:
    """Names of a world's journal entries, ready for autocomplete and close matches."""

    def __init__(self, entries: Iterable[NameEntry]):
        items = list(entries)
        norms = [normalise(e.name) for e in items]
        order = sorted(range(len(items)), key=lambda i: (len(norms[i]), norms[i], items[i].name, items[i].uuid))
        # Everything below is indexed by *rank* (position in ranking order).
        self._entries: list[NameEntry] = [items[i] for i in order]
        self._norms: list[str] = [norms[i] for i in order]
        self._words: list[str] = [_word_form(n) for n in self._norms]
        self._alpha = array("l", sorted(
            range(len(self._entries)), key=lambda r: (self._norms[r], self._entries[r].name, self._entries[r].uuid)
        ))
        self._by_norm: dict[str, list[int]] = {}
        for rank, norm in enumerate(self._norms):
            self._by_norm.setdefault(norm, []).append(rank)
        self._joined, self._starts = self._join(self._norms)
        self._wjoined, self._wstarts = self._join(self._words)
        # Sorted views answer "how many names start with this?" by bisection: few → take them
        # directly; many → scan the ranking-ordered string, which then meets hits quickly.
        by_text = sorted(range(len(self._norms)), key=self._norms.__getitem__)
        self._sorted_norms = [self._norms[r] for r in by_text]
        self._sorted_norm_ranks = array("l", by_text)
        suffixes: list[tuple[str, int]] = []
        for rank, wform in enumerate(self._words):
            pos = wform.find(" ")
            while pos >= 0:
                suffixes.append((wform[pos + 1 :], rank))
                pos = wform.find(" ", pos + 1)
        suffixes.sort()
        self._sorted_suffixes = [text for text, _ in suffixes]
        self._sorted_suffix_ranks = array("l", (rank for _, rank in suffixes))
        del suffixes
        # Fuzzy tables for typos in 3-6 typed characters, the common autocomplete case.
        self._heads = {k: self._build_tables(k) for k in _FUZZY_K}
        self._whole_words = self._build_tables(None)[1]  # for longer typed text

    @staticmethod
    def _join(texts: list[str]) -> tuple[str, array]:
        starts = array("l")
        pos = 1
        for text in texts:
            starts.append(pos)
            pos += len(text) + 1
        return "\n" + "\n".join(texts) + "\n", starts

    def __len__(self) -> int:
        return len(self._entries)

    # ----------------------------------------------------------------- lookups
    def find_exact(self, name: str) -> list[NameEntry]:
        """Entries whose name equals ``name`` ignoring case, accents and extra whitespace."""
        ranks = self._by_norm.get(normalise(name), [])
        return sorted((self._entries[r] for r in ranks), key=lambda e: ((e.folder or "").casefold(), e.name, e.uuid))

    def is_shared(self, entry: NameEntry) -> bool:
        """True when several entries have this (normalised) name."""
        return len(self._by_norm.get(normalise(entry.name), ())) > 1

    def choice_label(self, entry: NameEntry) -> str:
        """``choice_label`` with the duplicate flag taken from this index."""
        return choice_label(entry, self.is_shared(entry))

    def suggest(self, typed: str, limit: int = 25) -> list[NameEntry]:
        """Up to ``limit`` entries for what has been typed so far, best first."""
        if limit <= 0:
            return []
        t = normalise(typed)
        if not t:
            return [self._entries[r] for r in self._alpha[:limit]]
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

        if add(self._by_norm.get(t, ())):
            return self._result(taken)
        prefixed = self._starting_with(self._sorted_norms, self._sorted_norm_ranks, t, seen, limit - len(taken))
        if prefixed is None:
            prefixed = self._scan(self._joined, self._starts, "\n" + t, seen, limit - len(taken))
        if add(prefixed):
            return self._result(taken)
        wt = _word_form(t)
        if wt:
            worded = self._starting_with(self._sorted_suffixes, self._sorted_suffix_ranks, wt, seen, limit - len(taken))
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

    @staticmethod
    def _starting_with(texts: list[str], ranks: array, prefix: str, seen: set[int], need: int) -> list[int] | None:
        """Ranks (best first) whose sorted text starts with ``prefix``, or None when there are so
        many that scanning the ranking-ordered string is cheaper."""
        lo = bisect_left(texts, prefix)
        hi = bisect_left(texts, prefix + "\U0010ffff", lo)
        if hi - lo > _DIRECT_MAX:
            return None
        return [r for r in sorted(set(ranks[lo:hi])) if r not in seen][:need]

    def _scan(self, joined: str, starts: array, needle: str, seen: set[int], need: int) -> list[int]:
        """Ranks of names containing ``needle`` in ranking order, skipping ``seen``, at most ``need``."""
        found: list[int] = []
        pos = 0
        n_names = len(starts)
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

    def _build_tables(self, k: int | None) -> list[tuple[list[str], list[list[int]] | None]]:
        """Distinct name heads and distinct later-word heads of length ``k`` (whole when None),
        each with the ranks holding it, best rank first. With ``k`` None only the words."""
        names: dict[str, list[int]] = {}
        words: dict[str, list[int]] = {}
        for rank, (norm, wform) in enumerate(zip(self._norms, self._words)):
            if k is not None:
                names.setdefault(norm[:k], []).append(rank)
            for word in wform.split(" ")[1:]:
                if len(word) >= FUZZY_MIN_CHARS:
                    ranks = words.setdefault(word[:k], [])
                    if not ranks or ranks[-1] != rank:
                        ranks.append(rank)
        return [(list(names), list(names.values())), (list(words), list(words.values()))]

    def _tables(self, k: int) -> list[tuple[list[str], list[list[int]] | None]]:
        """Tables for typed text of length k-1: kept for short typed text (built up front); for
        longer text the name heads are sliced per query and later words compared whole."""
        cached = self._heads.get(k)
        if cached is not None:
            return cached
        return [([norm[:k] for norm in self._norms], None), self._whole_words]

    def _fuzzy(self, t: str, seen: set[int], need: int) -> list[int]:
        """Typos: compare with each name's first len(t)+1 characters (a mistyped prefix or a
        mistyped whole name) and with the start of each later word; best score first."""
        scores: dict[int, float] = {}
        cap = need + len(seen) + 10
        tables = self._tables(len(t) + 1)
        if " " in t:
            tables = tables[:1]
        for heads, groups in tables:
            for _head, score, idx in process.extract(
                t, heads, scorer=fuzz.ratio, processor=None, limit=cap, score_cutoff=FUZZY_CUTOFF
            ):
                # A group lists its ranks best first: only its first `cap` can reach the top.
                for rank in groups[idx][:cap] if groups is not None else (idx,):
                    if score > scores.get(rank, -1.0):
                        scores[rank] = score
        ranked = sorted((r for r in scores if r not in seen), key=lambda r: (-scores[r], r))
        return ranked[:need]
