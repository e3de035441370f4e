"""Entry images in /lookup: linked when Foundry has a public address, else fetched through the relay's /download
and attached; too large, missing, no scope, slow, cached, and only from the view the reader receives."""

from __future__ import annotations

import asyncio
import base64
import io
import os

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image
from pydantic import SecretStr

from core.replies import ImageRef
from relay import CrossedReply, FileMissing, FileTooLarge, RelayClient, RelayScopeError
from services.entries.images import (
    DISCORD_UPLOAD_LIMIT,
    ImageCache,
    ImageService,
    PreparedImage,
    fit_for_discord,
    foundry_path,
)
from tests.conftest import RELAY_KEY
from tests.helpers import no_leak
from tests.stand_ins.relay_server import ALL_SCOPES, StandInRelay

MAP = "worlds/ashes/maps/harbor map.png"


def png(width: int = 40, height: int = 30, colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def webp(width: int = 12, height: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 60, 90)).save(out, "WEBP")
    return out.getvalue()


WEBP = webp()


def noise_png(width: int, height: int) -> bytes:
    """A PNG that does not compress: its size is about width × height × 3 bytes."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG", compress_level=1)
    return out.getvalue()


def noise_gif(width: int, height: int, frames: int = 3) -> bytes:
    """An animated GIF that does not compress: over Discord's 10 MiB for 1900 × 1900 × 3 frames."""
    out = io.BytesIO()
    pictures = [Image.frombytes("P", (width, height), os.urandom(width * height)) for _ in range(frames)]
    pictures[0].save(out, "GIF", save_all=True, append_images=pictures[1:], duration=100, loop=0)
    data = out.getvalue()
    assert len(data) > DISCORD_UPLOAD_LIMIT
    return data


def animated_gif(frames: int = 3) -> bytes:
    out = io.BytesIO()
    pictures = [Image.new("P", (16, 16), i * 40) for i in range(frames)]
    pictures[0].save(out, "GIF", save_all=True, append_images=pictures[1:], duration=100, loop=0)
    return out.getvalue()


def location(image: str | None = MAP, **extra) -> dict:
    return {
        "campaign-codex": {"type": "location", "image": image, "data": {"description": "<p>Salt and tar.</p>"}, **extra}
    }


def allow_files(env) -> None:
    env.relay.keys[RELAY_KEY].add("file:read")


async def refresh(env) -> None:
    result = await env.h.slash(env.gm, env.channel, "refresh")
    assert not result.errors, result.errors


async def lookup(env, who=None, name="Harbor", **options):
    result = await env.h.slash(who or env.player, env.channel, "lookup", name=name, **options)
    assert not result.errors, result.errors
    return result


def attached(message) -> tuple[str, bytes]:
    [(filename, data)] = message.attachments
    return filename, data


# --- linked or attached ------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"foundry_public_url": "https://vtt.example.com"}])
async def test_with_a_public_address_the_image_is_linked_and_nothing_is_downloaded(gm_env):
    allow_files(gm_env)
    gm_env.world.add_file(MAP, png())
    gm_env.world.add_entry("Harbor", flags=location())
    await refresh(gm_env)

    result = await lookup(gm_env)

    [message] = result.messages
    assert message.embeds[0].image.url == "https://vtt.example.com/worlds/ashes/maps/harbor%20map.png"
    assert message.attachments == []
    assert gm_env.relay.requests("/download") == []


async def test_without_a_public_address_the_image_is_fetched_through_the_relay_and_attached(gm_env):
    allow_files(gm_env)
    picture = png()
    gm_env.world.add_file(MAP, picture, "image/png")
    gm_env.world.add_entry("Harbor", flags=location())
    await refresh(gm_env)

    result = await lookup(gm_env)

    [message] = result.messages
    filename, data = attached(message)
    assert data == picture and filename == "harbor_map.png"
    embed = message.embeds[0]
    assert embed.image.url == message.payload["attachments"][0]["url"]  # the embed shows the upload
    assert "Salt and tar." in embed.description and not message.ephemeral
    [download] = gm_env.relay.requests("/download")
    assert download.query["path"] == MAP and download.query["clientId"] == gm_env.world.client_id


async def test_an_npc_without_an_image_shows_its_linked_actors_image(gm_env):
    allow_files(gm_env)
    portrait = png(20, 20, (10, 200, 10))
    gm_env.world.add_file("worlds/ashes/actors/baron.webp", portrait, "image/webp")
    actor = gm_env.world.add_actor("Baron Vell", img="worlds/ashes/actors/baron.webp", ownership={"default": 2})
    flags = {"campaign-codex": {"type": "npc", "image": None, "data": {"linkedActor": actor, "description": "x"}}}
    gm_env.world.add_entry("Baron Vell", flags=flags)
    await refresh(gm_env)

    result = await lookup(gm_env, name="Baron Vell")

    assert attached(result.messages[0])[1] == portrait
    [actor_read] = [r for r in gm_env.relay.requests("/get") if r.query["uuid"] == actor]
    assert actor_read.query["userId"]  # read as the player whose view it is


async def test_a_linked_actor_a_player_may_not_see_lends_them_no_portrait(gm_env):
    """The actor is read with the player's userId: one hidden from them (the GM's NPC sheet) gives no picture,
    nor its file name; the GM's own view still shows it."""
    allow_files(gm_env)
    portrait = png(20, 20, (10, 200, 10))
    gm_env.world.add_file("worlds/ashes/actors/secret-lich-portrait.webp", portrait, "image/webp")
    actor = gm_env.world.add_actor("Lich", img="worlds/ashes/actors/secret-lich-portrait.webp")  # hidden
    flags = {"campaign-codex": {"type": "npc", "image": None, "data": {"linkedActor": actor, "description": "x"}}}
    gm_env.world.add_entry("Old Hermit", flags=flags)
    await refresh(gm_env)

    with no_leak(gm_env, ("secret-lich-portrait", "secret_lich_portrait"), "hidden actor"):
        mine = await lookup(gm_env, name="Old Hermit")
    assert all(m.attachments == [] for m in mine.messages)
    assert gm_env.relay.requests("/download") == []
    assert all(r.query.get("userId") for r in gm_env.relay.requests("/get") if r.query["uuid"] == actor)
    gm_public = [m for m in (await lookup(gm_env, gm_env.gm, name="Old Hermit")).messages if not m.ephemeral]
    assert gm_public and all(m.attachments == [] and "lich" not in m.text.lower() for m in gm_public)

    gm = await lookup(gm_env, gm_env.gm, name="Old Hermit", private=True)
    assert attached(gm.messages[0])[1] == portrait


@pytest.mark.parametrize("settings_overrides", [{"foundry_public_url": "https://vtt.example.com"}])
async def test_with_a_public_address_fallbacks_are_linked_actor_first_then_the_modules_default(gm_env):
    with_portrait = gm_env.world.add_actor("Mira", img="worlds/ashes/actors/mira.png", ownership={"default": 1})
    placeholder_only = gm_env.world.add_actor("Nobody", ownership={"default": 2})  # the SVG placeholder: not shown
    for name, actor in (("Mira Thorn", with_portrait), ("Nobody", placeholder_only)):
        data = {"linkedActor": actor, "description": "x"}
        gm_env.world.add_entry(name, flags={"campaign-codex": {"type": "npc", "data": data}})
    gm_env.world.add_entry("Harbor", flags=location(image=None))
    await refresh(gm_env)

    mira = await lookup(gm_env, name="Mira Thorn")
    nobody = await lookup(gm_env, name="Nobody")
    harbor = await lookup(gm_env)

    assert mira.messages[0].embeds[0].image.url == "https://vtt.example.com/worlds/ashes/actors/mira.png"
    assert nobody.messages[0].embeds[0].image.url == "https://vtt.example.com/modules/campaign-codex/ui/npc.webp"
    assert harbor.messages[0].embeds[0].image.url == "https://vtt.example.com/modules/campaign-codex/ui/location.webp"
    assert gm_env.relay.requests("/download") == []


async def test_without_a_public_address_the_modules_default_picture_is_not_downloaded(gm_env):
    allow_files(gm_env)
    gm_env.world.add_file("modules/campaign-codex/ui/location.webp", png())
    gm_env.world.add_entry("Harbor", flags=location(image=None))
    await refresh(gm_env)

    result = await lookup(gm_env)

    assert result.messages[0].attachments == [] and result.messages[0].embeds[0].image.url is None
    assert gm_env.relay.requests("/download") == []


# --- too large, odd formats, missing ---------------------------------------------------------------


async def test_a_picture_over_discords_limit_is_scaled_down_and_says_so(gm_env):
    allow_files(gm_env)
    big = noise_png(2200, 1700)
    assert len(big) > DISCORD_UPLOAD_LIMIT
    gm_env.world.add_file(MAP, big, "image/png")
    gm_env.world.add_entry("Harbor", flags=location())
    await refresh(gm_env)

    result = await lookup(gm_env)

    [message] = result.messages
    filename, data = attached(message)
    assert len(data) <= DISCORD_UPLOAD_LIMIT and filename == "harbor_map.jpg"
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    assert message.embeds[0].image.url == message.payload["attachments"][0]["url"]
    assert "scaled down" in message.embeds[0].footer.text


@pytest.mark.parametrize("path", ["worlds/ashes/data/journal.db", "worlds/ashes/harbor.webm", "worlds/ashes/x.svg"])
async def test_an_image_path_naming_a_file_that_is_no_picture_is_never_fetched(gm_env, path):
    """Any Foundry file can be named as an entry's image: only picture file names are ever fetched."""
    allow_files(gm_env)
    gm_env.world.add_file(path, b"SQLite format 3\x00 journal rows: Vault of Ash", "application/octet-stream")
    gm_env.world.add_entry("Harbor", flags=location(image=path))
    await refresh(gm_env)

    for who in (gm_env.player, gm_env.gm):
        result = await lookup(gm_env, who)
        assert all(m.attachments == [] for m in result.messages) and "Salt and tar." in result.text
    assert gm_env.relay.requests("/download") == []


@pytest.mark.parametrize(
    "data",
    [b"SQLite format 3\x00 journal rows: Vault of Ash", png()[:40], b"GIF89a" + b"\x00" * 64],
    ids=["a database", "a truncated png", "a bare gif header"],
)
async def test_a_picture_name_whose_bytes_are_no_picture_is_never_uploaded(gm_env, data):
    allow_files(gm_env)
    gm_env.world.add_file("worlds/ashes/notes.png", data, "image/png")
    gm_env.world.add_entry("Harbor", flags=location(image="worlds/ashes/notes.png"))
    await refresh(gm_env)

    result = await lookup(gm_env)

    [message] = result.messages
    assert message.attachments == [] and "Salt and tar." in message.text
    assert "not a picture the bot can read" in message.embeds[0].footer.text
    assert all(not r.files for r in gm_env.h.fake.requests)


async def test_a_too_large_file_the_bot_cannot_resize_is_left_out_with_a_note(gm_env):
    allow_files(gm_env)
    gm_env.world.add_file("worlds/ashes/harbor.gif", noise_gif(1900, 1900), "image/gif")
    gm_env.world.add_entry("Harbor", flags=location(image="worlds/ashes/harbor.gif"))
    await refresh(gm_env)

    result = await lookup(gm_env)

    [message] = result.messages
    assert message.attachments == []
    assert "Image left out" in message.embeds[0].footer.text and "Salt and tar." in message.text


async def test_an_animated_picture_that_fits_is_sent_as_it_is(gm_env):
    allow_files(gm_env)
    gif = animated_gif()
    gm_env.world.add_file("worlds/ashes/flag.gif", gif, "image/gif")
    gm_env.world.add_entry("Harbor", flags=location(image="worlds/ashes/flag.gif"))
    await refresh(gm_env)

    result = await lookup(gm_env)

    assert attached(result.messages[0]) == ("flag.gif", gif)


async def test_a_missing_file_leaves_the_image_out_without_an_error(gm_env):
    allow_files(gm_env)
    gm_env.world.add_entry("Harbor", flags=location())
    await refresh(gm_env)

    result = await lookup(gm_env)

    [message] = result.messages
    assert message.attachments == [] and message.embeds[0].image.url is None
    assert "Salt and tar." in message.text and "error" not in message.text.lower()
    assert len(gm_env.relay.requests("/download")) == 1


async def test_discord_refusing_the_upload_still_delivers_the_text(gm_env):
    allow_files(gm_env)
    gm_env.h.fake.upload_limit = 1000  # Discord's limit lower than the bot believed
    gm_env.world.add_file(MAP, noise_png(40, 40), "image/png")
    gm_env.world.add_entry("Harbor", flags=location())
    await refresh(gm_env)

    result = await lookup(gm_env)

    [message] = result.messages
    assert message.attachments == [] and "Salt and tar." in message.text
    assert "Image left out" in message.embeds[0].footer.text
    assert [v.kind for v in gm_env.h.take_violations()] == ["too_large"]


# --- scope, slowness, cache ---------------------------------------------------------------------------


async def test_without_the_file_read_scope_there_is_no_image_no_error_and_status_names_the_scope(gm_env):
    gm_env.world.add_file(MAP, png())
    gm_env.world.add_entry("Harbor", flags=location())
    await refresh(gm_env)

    first = await lookup(gm_env)
    second = await lookup(gm_env)

    for result in (first, second):
        [message] = result.messages
        assert message.attachments == [] and "Salt and tar." in message.text
        assert "scope" not in message.text
    assert len(gm_env.relay.requests("/download")) == 1  # refused once, then not asked again for a while
    status = await gm_env.h.slash(gm_env.gm, gm_env.channel, "status")
    assert "lacks the 'file:read' scope" in status.text and "add 'file:read'" in status.text

    allow_files(gm_env)
    status = await gm_env.h.slash(gm_env.gm, gm_env.channel, "status")
    assert "fetched through the relay ('file:read')" in status.text
    assert attached((await lookup(gm_env)).messages[0])[1] == png()  # /status found the scope: tried again


async def test_a_slow_image_never_holds_back_the_text_it_is_edited_in_later(gm_env):
    allow_files(gm_env)
    picture = png()
    gm_env.world.add_file(MAP, picture, "image/png")
    gm_env.world.add_entry("Harbor", flags=location())
    await refresh(gm_env)
    gm_env.app.images.wait = 0.05
    gm_env.relay.add_latency("/download", 0.5)  # far longer than the text waits

    result = await lookup(gm_env)

    [message] = result.messages
    _thinking, text, *later = message.record.history  # the defer, the text, then edits
    assert "Salt and tar." in text["embeds"][0]["description"] and not text.get("attachments")
    assert later  # the image arrived afterwards, as an edit of the same message
    assert attached(message)[1] == picture
    assert message.embeds[0].image.url == message.payload["attachments"][0]["url"]
    assert "Salt and tar." in message.text


async def test_an_image_the_relay_never_delivers_leaves_the_text_as_it_was(gm_env):
    allow_files(gm_env)
    gm_env.world.add_file(MAP, png())
    gm_env.world.add_entry("Harbor", flags=location())
    await refresh(gm_env)
    gm_env.app.images.wait = 0.05
    gm_env.relay.not_answering("/download")  # the relay gives up with 408

    result = await lookup(gm_env)

    [message] = result.messages
    assert message.attachments == [] and "Salt and tar." in message.text
    assert len(message.record.history) == 2  # the defer, then the text; never edited


async def test_a_busy_channel_downloads_each_image_once(gm_env):
    allow_files(gm_env)
    picture = png()
    gm_env.world.add_file(MAP, picture, "image/png")
    gm_env.world.add_entry("Harbor", flags=location())
    await refresh(gm_env)

    results = [await lookup(gm_env, who) for who in (gm_env.player, gm_env.gm, gm_env.player)]

    assert all(attached(r.messages[0])[1] == picture for r in results)
    assert len(gm_env.relay.requests("/download")) == 1


# --- privacy: only the view the reader receives ----------------------------------------------------------


async def test_no_image_is_fetched_for_an_entry_the_reader_does_not_get(gm_env):
    allow_files(gm_env)
    gm_env.world.add_file(MAP, png())
    uuid = gm_env.world.add_entry("Harbor", flags=location())
    await refresh(gm_env)

    unknown = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbour Master")
    gm_env.world.delete_entry(uuid)
    stale = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor")

    assert "No entry named" in unknown.text and "stale" in stale.text
    assert gm_env.relay.requests("/download") == []


@pytest.mark.parametrize("level", [0, 1], ids=["hidden", "limited"])
async def test_no_image_is_fetched_for_a_player_foundry_does_not_show_the_entry_to(gm_env, level):
    allow_files(gm_env)
    gm_env.world.add_file(MAP, png())
    gm_env.world.add_entry("Harbor", flags=location(), ownership={"default": level})
    await refresh(gm_env)

    as_player = await gm_env.h.slash(gm_env.player, gm_env.channel, "lookup", name="Harbor")
    if level == 0:
        assert as_player.text.startswith("No entry named")
    else:
        assert "shared only this entry's title" in as_player.text
    assert all(m.attachments == [] for m in as_player.messages)
    assert gm_env.relay.requests("/download") == []

    # A GM's public lookup: the channel gets nothing of a hidden entry; the picture only in the GM's own view.
    as_gm = await lookup(gm_env, gm_env.gm)
    public = [m for m in as_gm.messages if not m.ephemeral]
    assert all(m.attachments == [] for m in public)
    if level == 0:
        assert public == []


async def test_a_picture_hidden_from_players_is_fetched_only_for_the_gms_own_view(gm_env):
    allow_files(gm_env)
    picture = png()
    gm_env.world.add_file(MAP, picture, "image/png")
    hidden = [{"key": "imageArea", "label": "Image", "visible": False, "hidden": True}]
    gm_env.world.add_entry("Harbor", flags=location(**{"tab-overrides": hidden}))
    await refresh(gm_env)

    as_player = await lookup(gm_env)
    assert as_player.messages[0].attachments == [] and gm_env.relay.requests("/download") == []

    as_gm = await lookup(gm_env, gm_env.gm, private=True)
    assert attached(as_gm.messages[0])[1] == picture and as_gm.messages[0].ephemeral


# --- pieces ----------------------------------------------------------------------------------------------


@pytest.fixture
async def download_relay():
    relay = StandInRelay(keys={"k": set(ALL_SCOPES), "no-files": set(ALL_SCOPES) - {"file:read"}})
    world = relay.add_world("client-a", "Ashes")
    world.add_file("worlds/a/map.webp", WEBP, "image/webp")
    world.add_file("worlds/a/blob", b"\x00\x01", "")
    world.add_file("worlds/a/empty.png", b"", "image/png")
    async with relay, aiohttp.ClientSession() as session:
        yield relay, session


async def test_the_relay_client_returns_bytes_and_content_type(download_relay):
    relay, session = download_relay
    client = RelayClient(session, relay.base_url, SecretStr("k"))

    found = await client.download_file("worlds/a/map.webp", client_id="client-a")
    untyped = await client.download_file("/worlds/a/blob", client_id="client-a")
    empty = await client.download_file("worlds/a/empty.png", client_id="client-a")

    assert (found.data, found.content_type, found.filename) == (WEBP, "image/webp", "map.webp")
    assert (untyped.data, untyped.content_type) == (b"\x00\x01", "application/octet-stream")
    assert (empty.data, empty.content_type) == (b"", "image/png")  # the relay's JSON fallback for an empty file


async def test_the_relay_client_names_each_download_failure(download_relay):
    relay, session = download_relay
    client = RelayClient(session, relay.base_url, SecretStr("k"))

    with pytest.raises(FileMissing) as missing:
        await client.download_file("worlds/a/nope.png", client_id="client-a")
    with pytest.raises(FileTooLarge):
        await client.download_file("worlds/a/map.webp", client_id="client-a", max_bytes=4)
    with pytest.raises(RelayScopeError) as scope:
        await RelayClient(session, relay.base_url, SecretStr("no-files")).download_file("worlds/a/map.webp")

    assert "worlds/a/nope.png" in missing.value.message
    assert scope.value.scope == "file:read"


async def test_a_download_answered_with_another_files_bytes_is_refused():
    """The relay matches replies by ``download-file_<ms>`` alone; the file name in the reply is all there is to check."""

    async def crossed(request):
        headers = {"Content-Type": "image/webp", "Content-Disposition": 'attachment; filename="gm.webp"'}
        return web.Response(body=b"secret", headers=headers)

    app = web.Application()
    app.router.add_get("/download", crossed)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            client = RelayClient(session, str(server.make_url("")).rstrip("/"), SecretStr("k"))
            with pytest.raises(CrossedReply):
                await client.download_file("worlds/a/map.webp")
    finally:
        await server.close()


async def test_the_stand_in_serves_the_base64_form_and_the_relays_error_texts(download_relay):
    relay, session = download_relay
    headers = {"x-api-key": "k"}
    url = relay.base_url + "/download"

    async with session.get(url, params={"path": "worlds/a/map.webp", "format": "base64"}, headers=headers) as resp:
        body = await resp.json()
    async with session.get(url, params={"path": "worlds/a/nope.png"}, headers=headers) as resp:
        missing = (resp.status, await resp.json())

    assert body["fileData"] == "data:image/webp;base64," + base64.b64encode(WEBP).decode()
    assert (body["filename"], body["mimeType"], body["type"]) == ("map.webp", "image/webp", "download-file-result")
    assert missing[0] == 400 and missing[1]["error"] == "Failed to download file: 404 Not Found"


async def test_lookups_wanting_one_picture_at_the_same_time_share_one_download(download_relay):
    relay, session = download_relay
    relay.add_latency("/download", 0.2)  # all of them ask while the first download is still running
    images = ImageService(RelayClient(session, relay.base_url, SecretStr("k")))

    got = await asyncio.gather(*(images.prepare("client-a", ImageRef(path="worlds/a/map.webp")) for _ in range(5)))

    assert all(g is not None and g.data == WEBP for g in got)
    assert len(relay.requests("/download")) == 1


def test_only_picture_files_on_foundrys_server_are_ever_fetched():
    assert foundry_path("/worlds/a/map.webp") == "worlds/a/map.webp"
    assert foundry_path("worlds/a/Map.JPEG") == "worlds/a/Map.JPEG"
    for unsafe in (
        "https://evil.example/x.png",
        "//evil/x",
        "data:image/png;base64,AA",
        "worlds/../../etc/passwd",
        "",
        "worlds/a/data/journal.db",
        "worlds/a/world.json",
        "worlds/a/map.png.js",
        "worlds/a/map",
    ):
        assert foundry_path(unsafe) is None


def test_a_still_picture_is_scaled_below_the_limit_and_a_fitting_one_is_untouched():
    picture = noise_png(300, 300)
    limit = len(picture) // 3

    scaled = fit_for_discord(picture, "big map.png", limit)
    kept = fit_for_discord(picture, "big map.png", len(picture))

    assert scaled.size <= limit and scaled.filename == "big_map.jpg" and "scaled down" in scaled.note
    assert kept.data == picture and kept.filename == "big_map.png" and kept.note is None


def test_a_transparent_picture_keeps_its_transparency_when_scaled():
    out = io.BytesIO()
    Image.frombytes("RGBA", (300, 300), os.urandom(300 * 300 * 4)).save(out, "PNG")
    limit = out.tell() // 3

    scaled = fit_for_discord(out.getvalue(), "token.png", limit)

    assert scaled.size <= limit and scaled.filename == "token.webp"
    assert Image.open(io.BytesIO(scaled.data)).mode == "RGBA"


def test_the_cache_is_bounded_by_bytes_and_forgets_after_its_time():
    now = [0.0]
    cache = ImageCache(ttl=60, max_bytes=100, clock=lambda: now[0])
    cache.put(("w", "a", 1), PreparedImage(data=b"a" * 60))
    cache.put(("w", "b", 1), PreparedImage(data=b"b" * 30))
    cache.put(("w", "c", 1), PreparedImage(data=b"c" * 30))  # over 100 bytes: the oldest goes

    assert cache.get(("w", "a", 1)) == (False, None)
    assert cache.get(("w", "b", 1))[0] and cache.bytes == 60
    cache.put(("w", "huge", 1), PreparedImage(data=b"h" * 101))  # larger than the whole cache: not kept
    assert cache.get(("w", "huge", 1))[0] is False
    now[0] = 61
    assert cache.get(("w", "b", 1)) == (False, None) and len(cache) == 1
