"""The name index behind autocomplete and "did you mean" (names.py)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.maps.names import NameIndex, choice_label
from storage import NameEntry


def entry(name: str, folder: str | None = None, uuid: str | None = None) -> NameEntry:
    return NameEntry(uuid or f"JournalEntry.{abs(hash((name, folder))) % 10**8}", name, folder)


def names_of(entries) -> list[str]:
    return [e.name for e in entries]


def test_ranking_tiers_in_order():
    idx = NameIndex(
        entry(n)
        for n in [
            "Old Ravenloft Road",  # word-prefix
            "Ravenloft Castle",  # prefix
            "Ravenloft",  # exact
            "Bravenloftish",  # substring
            "Ravenlofts",  # prefix (shorter than "Ravenloft Castle")
            "Ravnloft Keep",  # fuzzy only (typo)
            "Unrelated",
        ]
    )
    assert names_of(idx.suggest("ravenloft")) == [
        "Ravenloft",
        "Ravenlofts",
        "Ravenloft Castle",
        "Old Ravenloft Road",
        "Bravenloftish",
        "Ravnloft Keep",
    ]


def test_exact_match_ignores_case_accents_and_spaces():
    idx = NameIndex([entry("Café  Noir"), entry("Cafe Noir Annex")])
    assert names_of(idx.suggest("  cafe noir ")) == ["Café  Noir", "Cafe Noir Annex"]
    assert names_of(idx.find_exact("CAFÉ NOIR")) == ["Café  Noir"]
    assert idx.find_exact("café") == []


def test_ties_shorter_then_alphabetical():
    idx = NameIndex(entry(n) for n in ["Bbb x", "Aaa x", "Ccc", "Bbb"])
    assert names_of(idx.suggest("")) == ["Aaa x", "Bbb", "Bbb x", "Ccc"]  # empty: alphabetical
    idx = NameIndex(entry(n) for n in ["xa long", "xb", "xa", "xc"])
    assert names_of(idx.suggest("x")) == ["xa", "xb", "xc", "xa long"]


def test_empty_prefix_gives_first_names_alphabetically():
    idx = NameIndex(entry(f"Name {i:03d}") for i in reversed(range(100)))
    got = idx.suggest("")
    assert len(got) == 25 and names_of(got) == [f"Name {i:03d}" for i in range(25)]
    assert len(idx.suggest("", limit=5)) == 5
    assert idx.suggest("name", limit=0) == []


def test_at_most_limit_results():
    idx = NameIndex(entry(f"Goblin {i}") for i in range(1000))
    assert len(idx.suggest("gob")) == 25
    assert len(idx.suggest("goblin 1")) == 25
    assert len(idx.suggest("xyzzy")) <= 25
    assert len(idx) == 1000


def test_typo_finds_the_name():
    idx = NameIndex(entry(n) for n in ["Strahd von Zarovich", "Ireena Kolyana", "Ismark the Lesser", "Barovia"])
    assert idx.suggest("strhad")[0].name == "Strahd von Zarovich"  # mistyped start
    assert idx.suggest("Strahd von Zarovick")[0].name == "Strahd von Zarovich"  # mistyped whole name
    assert idx.suggest("zarovick")[0].name == "Strahd von Zarovich"  # mistyped later word
    assert idx.close_matches("Irena Kolyana")[0].name == "Ireena Kolyana"
    assert idx.close_matches("qqqqqq") == []
    assert idx.close_matches("") == []


def test_typo_found_among_many_names():
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    filler = ["".join(rng.choice(letters) for _ in range(rng.randint(4, 12))) for _ in range(5000)]
    idx = NameIndex([entry(n) for n in filler] + [entry("Mordenkainen")])
    assert "Mordenkainen" in names_of(idx.suggest("mordekainen"))


def test_duplicates_labelled_with_folder():
    a = entry("Tavern", "Towns/Phandalin", "JournalEntry.a")
    b = entry("tavern", "Towns/Neverwinter", "JournalEntry.b")
    c = entry("Tavern Keeper", None, "JournalEntry.c")
    idx = NameIndex([a, b, c])
    assert idx.is_shared(a) and idx.is_shared(b) and not idx.is_shared(c)
    assert idx.choice_label(a) == "Tavern — Towns/Phandalin"
    assert idx.choice_label(b) == "tavern — Towns/Neverwinter"
    assert idx.choice_label(c) == "Tavern Keeper"
    assert {e.uuid for e in idx.find_exact("TAVERN")} == {"JournalEntry.a", "JournalEntry.b"}
    assert choice_label(entry("Tavern", None), True) == "Tavern — no folder"


def test_long_labels_cut_to_100_and_keep_folder_tail():
    label = choice_label(entry("N" * 150, "Campaign/" + "Deep/" * 20 + "Villains"), True)
    assert len(label) == 100 and "…" in label and label.endswith("Villains")
    assert len(choice_label(entry("N" * 150), False)) == 100
    assert choice_label(entry("   "), False) == "(unnamed)"


@given(name=st.text(max_size=300), folder=st.none() | st.text(max_size=300), dup=st.booleans())
@settings(max_examples=200, deadline=None)
def test_labels_never_exceed_100(name, folder, dup):
    label = choice_label(NameEntry("JournalEntry.x", name, folder), dup)
    assert 1 <= len(label) <= 100


@given(st.lists(st.text(max_size=20), max_size=40), st.text(max_size=8), st.integers(0, 30))
@settings(max_examples=200, deadline=None)
def test_suggest_is_well_formed(all_names, typed, limit):
    entries = [NameEntry(f"JournalEntry.{i}", n, None) for i, n in enumerate(all_names)]
    idx = NameIndex(entries)
    got = idx.suggest(typed, limit)
    assert len(got) <= limit
    assert len({e.uuid for e in got}) == len(got)  # no entry twice
    from services.maps.names import normalise

    t = normalise(typed)
    if t:
        # Every name containing what was typed is found when there is room for it.
        containing = [e for e in entries if t in normalise(e.name)]
        if len(containing) <= limit:
            assert {e.uuid for e in containing} <= {e.uuid for e in got}
