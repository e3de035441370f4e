"""What a browser or Campaign Codex hides never reaches a player: HTML a browser would not display, enricher
links to hidden entries, and every one of Campaign Codex's own player-hiding rules (hidden associates, tab
overrides, module-wide default hidden tabs, quest visibility, the image area), in a player's /lookup, a GM's
public post and the /reveal post. Every request sent to Discord and every log line is scanned."""

from __future__ import annotations

import pytest

from tests.helpers import no_leak


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
