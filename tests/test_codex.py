"""Push-file checks, the dot-path diff and entry rendering (codex/)."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.codex import (
    PushFileError,
    codex_diff,
    describe_changes,
    parse_push_file,
    render_entry,
    validate_against_type,
)
from services.codex.render import LIMITS

PREFIX = "flags.campaign-codex"


def dumps(obj) -> bytes:
    return json.dumps(obj).encode("utf-8")


def refused(raw: bytes, **kw) -> PushFileError:
    with pytest.raises(PushFileError) as info:
        parse_push_file(raw, **kw)
    return info.value


# ------------------------------------------------------------------ schema: accepted
GOOD = {"type": "npc", "data": {"description": "<p>Hi</p>", "linkedLocations": ["JournalEntry.a"], "tags": ["x"]}}


@pytest.mark.parametrize(
    "wrapped",
    [GOOD, {"flags": {"campaign-codex": GOOD}}, {"flags.campaign-codex": GOOD}],
    ids=["bare", "flags-object", "dotted-key"],
)
def test_three_wrappings_accepted(wrapped):
    assert parse_push_file(dumps(wrapped)) == GOOD


def test_subset_without_type_and_utf8_bom_accepted():
    raw = "\ufeff".encode("utf-8") + dumps({"data": {"notes": "<p>é</p>"}})
    assert parse_push_file(raw) == {"data": {"notes": "<p>é</p>"}}


def test_tags_as_comma_string_and_full_shop_accepted():
    shop = {
        "type": "shop",
        "image": None,
        "data": {
            "tags": "a, b",
            "inventory": [{"itemUuid": "Item.x", "quantity": 2, "customPrice": None, "infinite": False, "extra": 1}],
            "markup": 1.5,
            "isLoot": False,
            "linkedLocation": None,
            "linkCardNotes": {"linkedNPCs": [{"uuid": "JournalEntry.a", "note": "cousin"}]},
        },
    }
    assert parse_push_file(dumps(shop)) == shop


# ------------------------------------------------------------------ schema: refused
def test_over_size_refused_before_decoding():
    raw = b"\xff" * (50 * 1024 * 1024)  # 50 MB, and not even UTF-8: the size check must come first
    err = refused(raw)
    assert "limit" in err.message and "52,428,800 bytes" in err.message and "1,000,000 bytes" in err.message


def test_size_limit_is_configurable():
    assert "limit" in refused(dumps(GOOD), max_bytes=10).message


def test_not_utf8():
    err = refused(b'{"type": "npc", "data": {"description": "caf\xe9"}}')
    assert "UTF-8" in err.message


def test_invalid_json_gives_line_and_column():
    err = refused(b'{\n  "type": "npc",\n  "data": {,}\n}')
    assert "not valid JSON" in err.message and "line 3" in err.message and "column" in err.message


def test_nan_is_not_json():
    assert "not valid JSON" in refused(b'{"data": {"markup": NaN}}').message


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"npc"', b"42", b"null"])
def test_not_an_object(raw):
    assert "must hold a JSON object" in refused(raw).message


@pytest.mark.parametrize("opener,closer", [("[", "]"), ('{"a":', "}")])
def test_thousand_deep_nesting_is_refused_not_a_crash(opener, closer):
    raw = (opener * 1000 + "1" + closer * 1000).encode()
    assert "nested too deeply" in refused(raw).message


def test_hundred_thousand_deep_nesting():
    assert "nested too deeply" in refused(b"[" * 100_000 + b"]" * 100_000, max_bytes=10_000_000).message


def test_brackets_inside_strings_do_not_count_as_depth():
    obj = {"data": {"description": "[" * 100 + '{\\"' * 50}}
    assert parse_push_file(dumps(obj)) == obj


@pytest.mark.parametrize("raw", [b"{}", b'{"flags": {"campaign-codex": {}}}', b"   "])
def test_empty(raw):
    err = refused(raw)
    assert "nothing to push" in err.message or "empty" in err.message


def test_unknown_type_lists_valid_types():
    err = refused(dumps({"type": "monster"}))
    assert "'monster'" in err.message
    for t in ("npc", "tag", "location", "shop", "region", "group", "quest"):
        assert t in err.message


def test_string_where_list_belongs():
    err = refused(dumps({"type": "location", "data": {"linkedNPCs": "JournalEntry.a"}}))
    assert "data.linkedNPCs must be a list of uuids" in err.details[0]


def test_every_bad_path_named():
    err = refused(
        dumps(
            {
                "data": {
                    "linkedNPCs": ["ok", 3],
                    "description": 5,
                    "isLoot": "yes",
                    "markup": True,
                    "quests": [{"title": 1}],
                }
            }
        )
    )
    text = "\n".join(err.details)
    assert "data.linkedNPCs[1] must be a uuid" in text
    assert "data.description must be text" in text
    assert "data.isLoot must be true or false" in text
    assert "data.markup must be a number" in text
    assert "data.quests[0].title must be text" in text


def test_unknown_top_level_key():
    err = refused(dumps({"type": "npc", "name": "Bob"}))
    assert "unknown keys" in err.message and "name: unknown key" in err.details


def test_whole_document_refused():
    err = refused(dumps({"name": "Bob", "_id": "x", "flags": {"campaign-codex": GOOD}}))
    assert "only carry flags.campaign-codex" in err.message
    assert {"_id: not pushable", "name: not pushable"} <= set(err.details)


def test_other_flags_refused():
    err = refused(dumps({"flags": {"campaign-codex": GOOD, "core": {"sheetClass": "x"}}}))
    assert "flags.core: not pushable" in err.details


@pytest.mark.parametrize("image", [3, ["a"], {"src": "a"}, True])
def test_image_must_be_text_or_null(image):
    assert "image must be" in refused(dumps({"image": image})).message


@pytest.mark.parametrize("key", ["sheet-widgets", "widgets-position", "markerid", "noteid", "sidebarCollapsed"])
def test_housekeeping_keys_refused(key):
    err = refused(dumps({"type": "npc", key: 1}))
    assert "manages itself" in err.message and f"{key}: owned by Campaign Codex, not pushable" in err.details


def test_unknown_data_field_for_type_lists_allowed():
    err = refused(dumps({"type": "location", "data": {"members": []}}))
    assert "Location" in err.message and "allowed:" in err.message and "linkedNPCs" in err.message
    assert "data.members: not a location field" in err.details


def test_field_known_nowhere():
    err = refused(dumps({"data": {"hitPoints": 3}}))
    assert "data.hitPoints: unknown field" in err.details


@pytest.mark.parametrize(
    "data",
    [{"linkCardNotes": {"JournalEntry.abc": "note"}}, {"quests": [{"a.b": 1}]}, {"-=notes": None}],
)
def test_dotted_and_deletion_keys_refused(data):
    err = refused(dumps({"type": "npc", "data": data}))
    assert "misread as paths" in err.message and err.details


def test_validate_against_live_type():
    obj = parse_push_file(dumps({"data": {"linkedActor": None}}))  # no type: kind-checked only
    validate_against_type(obj, "npc")
    with pytest.raises(PushFileError, match="Location"):
        validate_against_type(obj, "location")
    with pytest.raises(PushFileError, match='"type"'):
        validate_against_type(obj, None)  # not a codex entry yet: the file must name the type
    validate_against_type({"image": "a.png"}, None)  # nothing type-specific: fine
    validate_against_type({"type": "npc", "data": {"linkedActor": None}}, "location")  # the push sets the type


# ------------------------------------------------------------------ diff
LIVE = {
    "type": "npc",
    "image": "a.webp",
    "sheet-widgets": [1],
    "data": {"description": "<p>old</p>", "notes": "n", "linkedLocations": ["A", "B"], "tagMode": False},
}


def test_nested_leaves_only():
    diff = codex_diff(LIVE, {"data": {"description": "<p>new</p>"}})
    assert diff == {f"{PREFIX}.data.description": "<p>new</p>"}


def test_unchanged_is_empty():
    assert codex_diff(LIVE, copy.deepcopy({"type": "npc", "data": LIVE["data"]})) == {}
    assert codex_diff(LIVE, {}) == {}


def test_lists_replaced_whole():
    diff = codex_diff(LIVE, {"data": {"linkedLocations": ["A", "C"]}})
    assert diff == {f"{PREFIX}.data.linkedLocations": ["A", "C"]}


def test_missing_intermediate_gives_deepest_path():
    diff = codex_diff({}, {"type": "npc", "data": {"notes": "x", "linkCardNotes": {"linkedNPCs": []}}})
    assert diff == {
        f"{PREFIX}.type": "npc",
        f"{PREFIX}.data.notes": "x",
        f"{PREFIX}.data.linkCardNotes.linkedNPCs": [],
    }


def test_bool_is_not_number():
    assert codex_diff({"data": {"markup": 1}}, {"data": {"markup": True}}) == {f"{PREFIX}.data.markup": True}
    assert codex_diff({"data": {"markup": 1}}, {"data": {"markup": 1.0}}) == {}


def test_never_bare_flags_or_document_keys():
    diff = codex_diff(LIVE, {"type": "tag", "image": None, "data": {"tagMode": True, "members": ["x"]}})
    assert diff and all(k.startswith(PREFIX + ".") for k in diff)
    assert not any(k.split(".")[0] in {"_id", "pages", "ownership"} or k == "flags" for k in diff)
    for bad in ("flags", "", "pages", "_id.x", "ownership"):
        with pytest.raises(ValueError):
            codex_diff(LIVE, {"type": "npc"}, prefix=bad)


def test_dotted_key_in_pushed_is_refused_by_diff_too():
    with pytest.raises(ValueError):
        codex_diff(LIVE, {"data": {"a.b": 1}})


def test_sibling_keys_untouched():
    diff = codex_diff(LIVE, {"data": {"notes": "new"}})
    merged = dot_merge(LIVE, diff)
    assert merged["data"]["description"] == LIVE["data"]["description"]
    assert merged["sheet-widgets"] == [1]
    assert merged["data"]["notes"] == "new"


def test_describe_changes_shortens():
    live = {"data": {"description": "<p>Hello <b>old</b> &amp; @UUID[JournalEntry.a]{Bob}</p>"}}
    pushed = {"data": {"description": "<p>" + "word " * 100 + "</p>", "linkedNPCs": ["JournalEntry.a"], "notes": ""}}
    lines = describe_changes(live, codex_diff(live, pushed), width=40)
    assert lines[0].startswith("data.description: Hello old & Bob → word word")
    assert "<" not in lines[0] and lines[0].endswith("…") and len(lines[0]) < 40 * 2 + 30
    assert lines[1] == "data.linkedNPCs: (empty) → [JournalEntry.a]"
    assert lines[2] == "data.notes: (empty) → (empty)"


def test_describe_changes_neutralises_mentions():
    (line,) = describe_changes({}, codex_diff({}, {"data": {"notes": "@everyone"}}))
    assert "@everyone" not in line and "@\u200beveryone" in line


# --- property: applying the diff with a Foundry-style dot-path merge == live merged with pushed
def dot_merge(live: dict, diff: dict, prefix: str = PREFIX) -> dict:
    """Foundry's update: each dot-path sets one leaf, creating missing objects on the way."""
    result = copy.deepcopy(live)
    for path, value in diff.items():
        assert path.startswith(prefix + ".")
        *parents, leaf = path[len(prefix) + 1 :].split(".")
        node = result
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = copy.deepcopy(value)
    return result


_NOTHING = object()


def _fresh(value):
    """A pushed value where nothing is: its nulls (clears of nothing) left out; an object left with
    nothing to create is not created."""
    if value is None:
        return _NOTHING
    if isinstance(value, dict) and value:
        kept = {k: v for k, v in ((k, _fresh(v)) for k, v in value.items()) if v is not _NOTHING}
        return kept or _NOTHING
    return copy.deepcopy(value)


def deep_merge(live, pushed):
    """What a partial push means: pushed objects merge into live ones, everything else replaces;
    null clears a key that holds something and adds nothing where there is nothing."""
    if isinstance(live, dict) and isinstance(pushed, dict):
        out = copy.deepcopy(live)
        for key, value in pushed.items():
            if key in live:
                out[key] = deep_merge(live[key], value)
            elif (fresh := _fresh(value)) is not _NOTHING:
                out[key] = fresh
        return out
    return copy.deepcopy(pushed)


keys = st.sampled_from(["type", "data", "a", "b", "description", "linkedNPCs", "x"])
scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, width=16) | st.text(max_size=5)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(keys, json_values, max_size=5)


@given(live=json_objects, pushed=json_objects)
@settings(max_examples=300, deadline=None)
def test_diff_then_dot_merge_equals_deep_merge(live, pushed):
    diff = codex_diff(live, pushed)
    assert all(k.startswith(PREFIX + ".") for k in diff)
    assert dot_merge(live, diff) == deep_merge(live, pushed)
    # A second diff against the result is empty: nothing left to change.
    assert codex_diff(dot_merge(live, diff), pushed) == {}


# ------------------------------------------------------------------ render
NAMES = {"JournalEntry.bob": "Bob", "JournalEntry.inn": "The Prancing Pony", "JournalEntry.x": "Xavier"}.get
DESC = (
    "<h2>The Town</h2><p>Home of @UUID[JournalEntry.bob]{Bobby} and @UUID[JournalEntry.x] and "
    "@UUID[JournalEntry.gone].</p>"
    '<section class="secret" id="secret-1"><p>The mayor is a vampire.</p></section>'
    "<p></p><p></p><p></p><p>After.</p>"
)


def codex_flags(**data):
    return {"campaign-codex": {"type": "location", "image": None, "data": data}}


def render(flags, *, gm=False, pages=(), image_base=None, name="Hamlet", **kw):
    return render_entry(name, flags, list(pages), gm=gm, names=NAMES, image_base=image_base, **kw)


def embed_total(reply) -> int:
    return (
        len(reply.title or "")
        + len(reply.description or "")
        + len(reply.footer or "")
        + sum(len(f.name) + len(f.value) for f in reply.fields)
    )


def assert_within_limits(reply):
    assert len(reply.title or "") <= LIMITS["title"]
    assert len(reply.description or "") <= LIMITS["description"]
    assert len(reply.fields) <= LIMITS["fields"]
    for f in reply.fields:
        assert 0 < len(f.value) <= LIMITS["field_value"]
        assert 0 < len(f.name) <= LIMITS["field_name"]
    assert embed_total(reply) <= LIMITS["total"]


def test_secret_hidden_for_players_shown_to_gm():
    player = render(codex_flags(description=DESC))
    assert "vampire" not in player.as_text()
    gm = render(codex_flags(description=DESC), gm=True)
    assert "🔒 Secret:" in gm.description and "vampire" in gm.description


def test_revealed_secret_still_hidden_for_players():
    flags = codex_flags(description='<section class="secret revealed"><p>hidden</p></section><p>shown</p>')
    assert render(flags).description == "shown"


def test_notes_gm_only():
    flags = codex_flags(description="<p>Hi</p>", notes="<p>Bribe the guard</p>")
    assert "Bribe" not in render(flags).as_text()
    gm = render(flags, gm=True)
    assert any("Bribe the guard" in f.value and "notes" in f.name.lower() for f in gm.fields)


def test_uuid_labels_and_names():
    desc = render(codex_flags(description=DESC)).description
    assert "Home of Bobby and Xavier and unknown entry." in desc
    assert "@UUID" not in desc
    assert "\n\n\n" not in desc and desc.endswith("After.")
    assert desc.startswith("## The Town")


def test_linked_names_and_tags_fields():
    flags = codex_flags(
        linkedNPCs=["JournalEntry.bob", "JournalEntry.nope", "JournalEntry.bob"],
        linkedShops=[],
        parentRegion="JournalEntry.inn",
        tags="market, river",
    )
    fields = {f.name: f.value for f in render(flags).fields}
    assert fields["NPCs"] == "Bob, unknown entry"
    assert fields["Region"] == "The Prancing Pony"
    assert fields["Tags"] == "market, river"
    assert "Entries" not in fields  # empty lists give no field


def test_type_labels_in_footer():
    for ctype, label in [("npc", "NPC"), ("tag", "Faction"), ("shop", "Entry"), ("quest", "Quest")]:
        reply = render({"campaign-codex": {"type": ctype, "data": {}}})
        assert reply.footer.endswith(label)


def test_accepts_codex_object_directly():
    assert render({"type": "tag", "data": {"description": "<p>x</p>"}}).footer.endswith("Faction")


def test_long_link_list_says_and_more():
    many = {f"JournalEntry.{i}": f"Person number {i:04d}" for i in range(500)}
    reply = render_entry("X", codex_flags(linkedNPCs=list(many)), [], gm=False, names=many.get, image_base=None)
    (field,) = [f for f in reply.fields if f.name == "NPCs"]
    assert len(field.value) <= 1024 and field.value.rstrip().endswith("more") and "… and " in field.value
    shown = field.value.count("Person number")
    assert f"and {500 - shown} more" in field.value


def test_no_flags_entry_shows_page_titles():
    reply = render({}, pages=[{"name": "Chapter 1"}, {"name": "Maps"}, {"type": "text"}])
    assert reply.title == "Hamlet"
    assert [f.value for f in reply.fields if f.name == "Pages"] == ["Chapter 1\nMaps"]
    assert "not a Campaign Codex" in reply.footer


def test_quest_list():
    quests = [
        {"title": "Find the ring", "completed": True, "visible": True},
        {"title": "Slay the dragon", "failed": True, "visible": True},
        {"title": "Open quest", "visible": True},
        {"title": "GM secret quest", "visible": False},
        {"title": "Unmarked quest"},  # Campaign Codex shows players only quests marked visible
    ]
    flags = {"campaign-codex": {"type": "quest", "data": {"quests": quests}}}
    value = next(f.value for f in render(flags).fields if f.name == "Quests")
    assert "✅ Find the ring" in value and "❌ Slay the dragon (failed)" in value and "Open quest" in value
    assert "GM secret quest" not in value and "Unmarked quest" not in value
    assert "GM secret quest" in next(f.value for f in render(flags, gm=True).fields if f.name == "Quests")


def test_image_urls():
    rel = {"campaign-codex": {"type": "npc", "image": "worlds/my world/map.webp", "data": {}}}
    assert (
        render(rel, image_base="https://vtt.example.com/").image_url
        == "https://vtt.example.com/worlds/my%20world/map.webp"
    )
    assert (
        render(rel, image_base="https://vtt.example.com").image_url
        == "https://vtt.example.com/worlds/my%20world/map.webp"
    )
    assert render(rel).image_url is None  # no base: no broken link
    absolute = {"campaign-codex": {"type": "npc", "image": "https://cdn.example.com/a.png", "data": {}}}
    assert render(absolute).image_url == "https://cdn.example.com/a.png"
    assert (
        render(
            {"campaign-codex": {"type": "npc", "image": "data:image/png;base64,xx"}}, image_base="https://h"
        ).image_url
        is None
    )
    assert render({}, img="icons/x.svg", image_base="https://h").image_url == "https://h/icons/x.svg"


def test_mentions_neutralised():
    flags = codex_flags(
        description="<p>@everyone and @here and &lt;@123&gt; and &lt;@&amp;456&gt;</p>", tags=["@everyone"]
    )
    reply = render(flags, name="@here")
    text = reply.as_text()
    assert "@everyone" not in text and "@here" not in text and "<@1" not in text and "<@&4" not in text
    assert "@\u200beveryone" in reply.description


def test_100kb_description_within_limits():
    html = "".join(
        f"<p>Paragraph {i} with <b>bold</b> and <em>italics</em> and a link @UUID[JournalEntry.bob]{{Bob}}.</p>"
        for i in range(1200)
    )
    assert len(html) >= 100_000
    reply = render(codex_flags(description=html, notes=html), gm=True)  # its speed: bench/loop_lag.py
    assert_within_limits(reply)
    assert reply.description.endswith("…")


def test_many_fields_stay_within_total():
    long_names = {f"JournalEntry.{i}": "N" * 150 + str(i) for i in range(100)}
    data = {
        key: list(long_names)
        for key in (
            "linkedNPCs",
            "linkedLocations",
            "linkedShops",
            "associates",
            "members",
            "linkedRegions",
            "parentRegions",
            "linkedGroups",
            "linkedStandardJournals",
            "linkedQuests",
            "hiddenAssociates",
        )
    }
    data["description"] = "<p>" + "x " * 5000 + "</p>"
    data["notes"] = "<p>" + "y " * 5000 + "</p>"
    reply = render_entry(
        "T" * 300, {"type": "region", "data": data}, [], gm=True, names=long_names.get, image_base=None
    )
    assert_within_limits(reply)
    assert reply.title.endswith("…")


text_or_html = st.text(max_size=3000) | st.lists(
    st.sampled_from(
        [
            "<p>",
            "</p>",
            '<section class="secret">',
            "</section>",
            "@everyone ",
            "@UUID[JournalEntry.bob]",
            "{Bob}",
            "*",
            "_",
            "\n",
            "<h1>",
            "<li>",
            "&amp;",
            "x" * 50,
            "<br>",
            "é",
        ]
    ),
    max_size=400,
).map("".join)


@given(
    name=st.text(max_size=400),
    description=text_or_html,
    notes=text_or_html,
    links=st.lists(st.text(max_size=300), max_size=60),
    tags=st.lists(st.text(max_size=300), max_size=60) | st.text(max_size=2000),
    pages=st.lists(st.fixed_dictionaries({"name": st.text(max_size=300)}), max_size=60),
    gm=st.booleans(),
    ctype=st.sampled_from(["npc", "tag", "location", "shop", "region", "group", "quest", "weird", None]),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_render_never_exceeds_discord_limits(name, description, notes, links, tags, pages, gm, ctype):
    names = {u: u * 3 for u in links}.get
    data = {
        "description": description,
        "notes": notes,
        "linkedNPCs": links,
        "associates": links,
        "members": links,
        "linkedShops": links,
        "tags": tags,
        "quests": [{"title": t, "completed": i % 2 == 0} for i, t in enumerate(links)],
    }
    flags = {"campaign-codex": {"type": ctype, "data": data}} if ctype else {}
    reply = render_entry(name, flags, pages, gm=gm, names=names, image_base=None)
    assert_within_limits(reply)
    assert "@everyone" not in reply.as_text()
    if not gm:
        assert "🔒" not in reply.as_text() or "🔒" in name + description + "".join(links) + str(tags)


# --- the conversion cache (codex.render._convert_cached) ----------------------------------------------


def test_repeated_render_is_identical_and_served_from_the_cache():
    from services.codex import render as render_module

    render_module._convert_cached.cache_clear()
    first_player, first_gm = render(codex_flags(description=DESC)), render(codex_flags(description=DESC), gm=True)
    misses = render_module._convert_cached.cache_info().misses
    again_player, again_gm = render(codex_flags(description=DESC)), render(codex_flags(description=DESC), gm=True)
    info = render_module._convert_cached.cache_info()
    assert info.misses == misses and info.hits >= 2
    assert again_player.as_text() == first_player.as_text() and again_gm.as_text() == first_gm.as_text()
    assert "vampire" not in again_player.as_text() and "vampire" in again_gm.description  # views never mixed


def test_cached_conversion_follows_renamed_links():
    flags = codex_flags(description="<p>Ally: @UUID[JournalEntry.ally]</p>")
    before = render_entry("X", flags, [], gm=False, names={"JournalEntry.ally": "Old Name"}.get, image_base=None)
    after = render_entry("X", flags, [], gm=False, names={"JournalEntry.ally": "New Name"}.get, image_base=None)
    assert "Old Name" in before.description and "New Name" in after.description


def test_huge_descriptions_are_converted_but_not_cached():
    from services.codex import render as render_module

    render_module._convert_cached.cache_clear()
    big = "<p>" + "word " * 5_000 + "</p>"
    reply = render(codex_flags(description=big))
    assert reply.description.startswith("word word")
    assert render_module._convert_cached.cache_info().currsize == 0
