"""What a browser or Campaign Codex hides never reaches a player: HTML a browser would not display, enricher
links to hidden entries, and every one of Campaign Codex's own player-hiding rules (hidden associates, tab
overrides, module-wide default hidden tabs, quest visibility, the image area), in a player's /lookup, a GM's
public post and the /reveal post. Every request sent to Discord and every log line is scanned."""

from __future__ import annotations

import pytest

from tests.helpers import no_leak, run_until_button


def npc(description: str = "<p>Visible words.</p>", **data) -> dict:
    return {"campaign-codex": {"type": "npc", "image": None, "data": {"description": description, **data}}}


async def refresh(env) -> None:
    result = await env.h.slash(env.gm, env.channel, "refresh")
    assert "Name map refreshed" in result.text, result.text


def public_text(result) -> str:
    return "\n".join(m.text for m in result.messages if not m.ephemeral)


# --- HTML a browser would not display --------------------------------------------------------------

BROWSER_HIDDEN = (
    "<p>Shown before.</p>"
    '<section class="secret"/>Selfclosed secret.</section>'
    "<p>a<template><b>Template words</b></template>b</p>"
    "<div hidden>Hidden attribute words</div>"
    '<p style="color: red; DISPLAY : none !important">Display none words</p>'
    '<p style="displ\\61y:/* comment */none">Escaped style words</p>'
    '<span style="visibility:hidden">Invisible words</span>'
    "<dialog>Closed dialog words</dialog>"
    "<style>.x{color:red}</style><script>Script words</script><noscript>Noscript words</noscript>"
    "<p>Shown after.</p>"
)
NEVER_DISPLAYED = (
    "Template words",
    "Hidden attribute words",
    "Display none words",
    "Escaped style words",
    "Invisible words",
    "Closed dialog words",
    "Script words",
    "Noscript words",
)


async def test_html_a_browser_would_not_display_never_reaches_players(gm_env):
    gm_env.world.add_entry("Harbor", flags=npc(BROWSER_HIDDEN))
    await refresh(gm_env)
    hidden = (*NEVER_DISPLAYED, "Selfclosed secret")
    with no_leak(gm_env, hidden, "player lookup"):
        mine = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor")
    assert "Shown before." in mine.text and "Shown after." in mine.text

    gm = await gm_env.h.slash(gm_env.gm, gm_env.channel, "lookup", name="Harbor")
    assert "Shown after." in public_text(gm)
    for word in hidden:
        assert word not in public_text(gm)
    # The GM's own view marks the secret; what no browser displays is not shown to the GM either.
    private = "\n".join(m.text for m in gm.messages if m.ephemeral)
    assert "Selfclosed secret" in private and "🔒 Secret" in private
    for word in NEVER_DISPLAYED:
        assert word not in private


async def test_an_embed_of_a_hidden_entry_is_rendered_as_a_link_never_as_its_id(gm_env):
    vault = gm_env.world.add_entry("Vault of Ash", ownership={"default": 0})
    shared = gm_env.world.add_entry("Old Mill")
    gm_env.world.add_entry(
        "Harbor", flags=npc(f"<p>See @Embed[{vault} inline] and @Embed[{shared}] and @Embed[{vault}]{{The vault}}.</p>")
    )
    await refresh(gm_env)
    vault_id = vault.split(".", 1)[1]
    with no_leak(gm_env, (vault_id, "Vault of Ash", "@Embed"), "embed"):
        mine = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor")
    assert "See unknown entry and Old Mill and The vault." in mine.text

    gm = await gm_env.h.slash(gm_env.gm, gm_env.channel, "lookup", name="Harbor", private=True)
    assert "See Vault of Ash and Old Mill" in gm.text and vault_id not in gm.text


@pytest.mark.parametrize("depth", [150, 5000])
async def test_html_nested_too_deep_to_parse_safely_is_left_out_when_it_could_hide_text(gm_env, depth):
    deep = "<div>" * depth + '<section class="secret">Deep secret words</section>' + "</div>" * depth
    plain = "<em>" * depth + "Plain deep words" + "</em>" * depth
    gm_env.world.add_entry("Deep", flags=npc(deep))
    gm_env.world.add_entry("Plain", flags=npc(plain))
    await refresh(gm_env)
    with no_leak(gm_env, ("Deep secret words",), "deep html"):
        deep_reply = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Deep")
        plain_reply = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Plain")
    assert "nested too deeply to show" in deep_reply.text
    assert "Plain deep words" in plain_reply.text


# --- Campaign Codex's own hiding rules --------------------------------------------------------------


def tabs(**overrides) -> list[dict]:
    return [{"key": key, "label": key.title(), **state} for key, state in overrides.items()]


@pytest.fixture
async def codex_world(gm_env):
    """An NPC sheet using every way Campaign Codex hides things from players, and the entries it links to."""
    world = gm_env.world
    spy = world.add_entry("Hidden Spy", flags=npc("<p>Spy.</p>"))
    friend = world.add_entry("Open Friend", flags=npc("<p>Friend.</p>"))
    inn = world.add_entry("Secret Inn", flags={"campaign-codex": {"type": "shop", "data": {"description": "x"}}})
    quest = world.add_entry("Quiet Quest", flags={"campaign-codex": {"type": "quest", "data": {"quests": []}}})
    journal = world.add_entry("Handout Pile")
    flags = npc(
        "<p>Info tab words.</p>",
        associates=[spy, friend],
        hiddenAssociates=[spy],
        linkedShops=[inn],
        linkedQuests=[quest],
        linkedStandardJournals=[journal],
        inventory=[{"itemUuid": "Item.x", "quantity": 1}],
    )
    flags["campaign-codex"]["tab-overrides"] = tabs(
        shops={"visible": True, "hidden": True},
        quests={"visible": False, "hidden": False},  # not even the GM's sheet shows it
        inventory={"visible": True, "hidden": "yes"},  # the sheets test truthiness
    )
    gm_env.extra["baron"] = world.add_entry("Baron Vell", flags=flags)
    await refresh(gm_env)
    return gm_env


CODEX_HIDDEN = ("Hidden Spy", "Secret Inn", "Quiet Quest", "Inventory")


async def test_hidden_associates_and_hidden_tabs_never_reach_a_player(codex_world):
    env = codex_world
    with no_leak(env, CODEX_HIDDEN, "player lookup"):
        mine = await env.h.slash(env.player, env.channel, "lookup", name="Baron Vell")
    assert "Info tab words." in mine.text and "Open Friend" in mine.text and "Handout Pile" in mine.text

    gm = await env.h.slash(env.gm, env.channel, "lookup", name="Baron Vell")
    posted = public_text(gm)
    assert "Open Friend" in posted
    for word in CODEX_HIDDEN:
        assert word not in posted, word
    private = "\n".join(m.text for m in gm.messages if m.ephemeral)
    assert "Hidden Spy" in private and "Secret Inn" in private  # the GM's own view holds everything


@pytest.mark.parametrize("settings_overrides", [{"codex_hidden_tabs": "npc.info, *.journals"}])
async def test_module_wide_default_hidden_tabs_apply_unless_an_entry_overrides_them(codex_world):
    env = codex_world
    env.world.add_entry(
        "Mira Thorn",
        flags={
            "campaign-codex": {
                "type": "npc",
                "data": {"description": "<p>Mira's own words.</p>"},
                "tab-overrides": tabs(info={"hidden": False}),  # this sheet shows its info tab to players
            }
        },
    )
    await refresh(env)
    with no_leak(env, ("Info tab words", "Handout Pile"), "default hidden tabs"):
        baron = await env.h.slash(env.player, env.channel, "lookup", name="Baron Vell")
        mira = await env.h.slash(env.player, env.channel, "lookup", name="Mira Thorn")
    assert "Open Friend" in baron.text and "Mira's own words." in mira.text


@pytest.mark.parametrize(
    "settings_overrides",
    [{"codex_hidden_tabs": '{"npc": {"associates": {"visible": true, "hidden": true}, "quests": true}}'}],
)
async def test_the_json_of_campaign_codexs_own_setting_is_understood(codex_world):
    env = codex_world
    with no_leak(env, ("Open Friend", "Hidden Spy"), "setting JSON"):
        mine = await env.h.slash(env.player, env.channel, "lookup", name="Baron Vell")
    assert "Info tab words." in mine.text and "Handout Pile" in mine.text


async def test_a_reveal_post_holds_only_what_campaign_codex_shows_players(codex_world):
    env = codex_world
    env.world.entry(env.extra["baron"])["ownership"] = {"default": 0}
    await refresh(env)
    task, preview = await run_until_button(env.h, env.gm, env.channel, "reveal", name="Baron Vell")
    with no_leak(env, CODEX_HIDDEN, "reveal post"):
        await env.h.click(env.gm, preview, label="Confirm")
        await task
    [post] = env.h.messages_in(env.channel)
    assert "The GM revealed Baron Vell" in post.text and "Open Friend" in post.text


async def test_quests_players_may_not_see_and_hidden_rewards_stay_hidden(gm_env):
    quests = [
        {"id": "q1", "title": "Open Road", "visible": True, "hideRewards": True},
        {"id": "q2", "title": "Unmarked Quest"},  # no visible flag: cc13 normalises it to false
        {"id": "q3", "title": "Marked Hidden", "visible": False},
    ]
    flags = {
        "campaign-codex": {
            "type": "quest",
            "data": {
                "description": "<p>Go.</p>",
                "quests": quests,
                "inventory": [{"itemUuid": "Item.r", "quantity": 2}],
            },
        }
    }
    gm_env.world.add_entry("Road", flags=flags)
    await refresh(gm_env)
    with no_leak(gm_env, ("Unmarked Quest", "Marked Hidden", "Inventory"), "quests"):
        mine = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Road")
    assert "Open Road" in mine.text


async def test_a_limited_entry_shows_no_picture_campaign_codex_hides(gm_env):
    gm_env.world.public_url = "https://vtt.example.org"
    hidden_area = {"campaign-codex": {"type": "npc", "data": {}, "tab-overrides": tabs(imageArea={"hidden": True})}}
    gm_env.world.add_entry("Masked", flags=hidden_area, img="worlds/x/masked-face.webp", ownership={"default": 1})
    gm_env.world.add_entry("Plain", flags=npc(), img="worlds/x/plain-face.webp", ownership={"default": 1})
    await refresh(gm_env)
    with no_leak(gm_env, ("masked-face",), "limited image area"):
        masked = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Masked")
        gm = await gm_env.h.slash(gm_env.gm, gm_env.channel, "lookup", name="Masked", private=False)
    plain = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Plain")
    assert "shared only this entry's title" in masked.text and masked.response.embeds[0].image.url is None
    assert plain.response.embeds[0].image.url == "https://vtt.example.org/worlds/x/plain-face.webp"
    assert public_text(gm) and "masked-face" not in str([m.payload for m in gm.messages if not m.ephemeral])


def test_tab_rules_follow_campaign_codexs_sheets():
    """cc13: a tab is hidden from players when not visible or hidden (override first, then the module default);
    flags are tested for truthiness; an NPC sheet reads an older world's "npcs" default as its associates; a
    faction (an NPC in tag mode) takes the tag sheet's defaults."""
    from services.codex.hiding import for_players, tabs_hidden_from_players

    assert tabs_hidden_from_players({"type": "npc", "data": {}}, {"npc": {"npcs": (True, True)}}) == {"associates"}
    assert tabs_hidden_from_players({"type": "npc", "data": {"tagMode": True}}, {"tag": {"info": (True, True)}}) == {
        "info"
    }
    override = {"type": "location", "tab-overrides": [{"key": "npcs", "hidden": 0}, {"key": "npcs", "hidden": 1}]}
    assert tabs_hidden_from_players(override, {"location": {"npcs": (True, True)}}) == set()  # the first one counts
    shown = for_players(
        {"campaign-codex": {"type": "npc", "data": {"associates": ["JournalEntry.a", {"odd": 1}], "notes": "GM"}}}, {}
    )
    assert shown["campaign-codex"]["data"]["associates"] == ["JournalEntry.a", {"odd": 1}]
    assert shown["campaign-codex"]["data"]["notes"] == ""
