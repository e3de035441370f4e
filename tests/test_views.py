"""/lookup rendering of big entries in the worker process: the same reply as in place, links named."""

from __future__ import annotations

import os

from services.codex import render_entry
from services.entries.views import render_view
from services.offload import Offloader

NAMES = {"JournalEntry.bob00000000000001": "Bob the Smith", "JournalEntry.ann00000000000002": "Ann of the Mill"}


def flags(paragraphs: int) -> dict:
    html = (
        "".join(
            f"<p>Paragraph {i}: <b>bold</b>, @UUID[JournalEntry.bob00000000000001] and "
            f"@JournalEntry[ann00000000000002] met at <em>the mill</em>.</p>"
            for i in range(paragraphs)
        )
        + '<section class="secret"><p>Only the GM knows.</p></section>'
    )
    return {
        "campaign-codex": {
            "type": "npc",
            "data": {"description": html, "notes": "<p>GM notes</p>", "linkedNPCs": ["JournalEntry.ann00000000000002"]},
        }
    }


async def test_a_big_entry_renders_in_the_worker_exactly_as_in_place():
    big = flags(4_000)  # ~400 KB of HTML
    offload = Offloader()
    try:
        player = await render_view("Baron", big, [], gm=False, names=NAMES.get, image_base=None, offload=offload)
        gm = await render_view("Baron", big, [], gm=True, names=NAMES.get, image_base=None, offload=offload)
        assert offload.worker_pid not in (None, os.getpid())  # rendered in the worker process
    finally:
        await offload.close()

    assert player == render_entry("Baron", big, [], gm=False, names=NAMES.get, image_base=None)
    assert gm == render_entry("Baron", big, [], gm=True, names=NAMES.get, image_base=None)
    assert "Bob the Smith" in player.description and "Ann of the Mill" in player.as_text()
    assert "GM notes" not in player.as_text() and "GM notes" in gm.as_text()


async def test_a_small_entry_renders_in_place_the_same():
    small = flags(3)
    player = await render_view("Baron", small, [], gm=False, names=NAMES.get, image_base=None)
    assert player == render_entry("Baron", small, [], gm=False, names=NAMES.get, image_base=None)
