"""Entry images for /lookup: which picture a view shows, and fetching it through the relay when Discord can't.

Discord fetches an embed image itself, so a relative Foundry path works only with a public address
(FOUNDRY_PUBLIC_URL or the world's publicUrl): then the image is linked. Without one (the usual self-hosted
Foundry) the bot downloads the file through the relay (``GET /download``, scope ``file:read``) and uploads it
as an attachment.

Privacy: ``plan_image`` reads only the view a reader receives, after it was read and rendered; the fetch
happens later, in the cog, from the ``ImageRef`` that view's Reply carries. A GM's view never lends a player
its picture.

Campaign Codex's rules (campaign-codex.md, "Image"): the flag image; else, for npc/tag, the linked actor's
image; else the module's default ``modules/campaign-codex/ui/<type>.webp``. Defaults are linked when a public
address is known but never downloaded: a generic icon is not worth a trip through the GM's browser.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from core.replies import ImageRef, Reply
from relay import (
    FileMissing,
    FileTooLarge,
    NotPermitted,
    RelayClient,
    RelayError,
    RelayModuleError,
    RelayMonthlyLimit,
    RelayScopeError,
)
from services.codex.hiding import image_hidden_from_players
from services.codex.render import absolute_image_url

log = logging.getLogger(__name__)

# Discord's upload limit without server boosts (tier 2: 50 MiB, tier 3: 100 MiB; the cog passes the guild's).
DISCORD_UPLOAD_LIMIT = 10 * 1024 * 1024
# How long the text of a reply waits for its image; after that the text goes alone and the image is edited in.
IMAGE_WAIT = 2.0
# Files beyond this are not fetched at all; pictures beyond MAX_PIXELS are not decoded (memory).
MAX_DOWNLOAD = 64 * 1024 * 1024
MAX_PIXELS = 40_000_000
# The cache: per world and path, a few minutes, at most CACHE_BYTES of image data.
CACHE_TTL = 300.0
CACHE_BYTES = 48 * 1024 * 1024
CACHE_ITEMS = 1024
# After the relay said the key lacks file:read, downloads are not tried again for this long.
SCOPE_RECHECK = 300.0
SCOPE = "file:read"

CODEX_TYPES = ("region", "location", "shop", "npc", "tag", "group", "quest")
_ACTOR_TYPES = ("npc", "tag")
# What Discord shows inside an embed: the only pictures the bot uploads, once Pillow has decoded them.
EMBEDDABLE = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}
# The file names the bot fetches at all: an image path naming anything else (a database, a script) is ignored.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp")
NOT_A_PICTURE = "Image left out: the file is not a picture the bot can read."
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class PreparedImage:
    """What a reply shows: a link Discord fetches, or bytes to upload, and a short note when something was
    scaled down or left out."""

    url: str | None = None
    data: bytes | None = None
    filename: str | None = None
    note: str | None = None

    @property
    def size(self) -> int:
        return len(self.data or b"")


# ----------------------------------------------------------------------------------- which image
def _codex(flags: Any) -> dict:
    inner = flags.get("campaign-codex") if isinstance(flags, dict) else None
    return inner if isinstance(inner, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def foundry_path(path: Any) -> str | None:
    """``path`` when it is an image file on Foundry's server the relay may fetch; never a URL (the module would
    fetch any address from the GM's browser), a data: URI, a path that climbs out with ``..``, or a file whose
    name is not a picture's (``IMAGE_EXTENSIONS``: the module would fetch any file, worlds' databases too)."""
    path = _text(path)
    if path is None or any(ord(c) < 32 for c in path) or "\\" in path:
        return None
    if ":" in path.split("/", 1)[0] or path.startswith("//"):
        return None
    path = path.lstrip("/")
    if not path or ".." in path.split("/") or len(path) > 1000:
        return None
    name = path.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1].casefold()
    return path if name.endswith(IMAGE_EXTENSIONS) else None


def _is_web(path: str) -> bool:
    return path.lower().startswith(("http://", "https://"))


def plan_image(reply: Reply, flags: Any, *, image_base: str | None, gm: bool, user_ids: tuple[str, ...] = ()) -> None:
    """Decide the image of one rendered view, from that view's own flags: a link (``reply.image_url``) when
    Discord can fetch it, else an ``ImageRef`` for the cog to fetch and attach; nothing when the view shows
    no picture. ``user_ids``: the Foundry users a player view is for (a linked actor is read as each of them)."""
    reply.image_url = None
    reply.image = None
    codex = _codex(flags)
    ctype = codex.get("type") if isinstance(codex.get("type"), str) else None
    if not codex or (not gm and image_hidden_from_players(codex)):
        return
    data = codex.get("data") if isinstance(codex.get("data"), dict) else {}
    image = _text(codex.get("image"))
    default = (
        absolute_image_url(f"modules/campaign-codex/ui/{ctype}.webp", image_base) if ctype in CODEX_TYPES else None
    )
    if image is not None:
        url = absolute_image_url(image, image_base)
        if url is not None:
            reply.image_url = url
            return
        if not _is_web(image) and foundry_path(image):
            reply.image = ImageRef(path=foundry_path(image))
        return
    actor = _text(data.get("linkedActor")) if ctype in _ACTOR_TYPES else None
    if actor is not None:
        reply.image = ImageRef(actor_uuid=actor, base=image_base, fallback_url=default, user_ids=() if gm else user_ids)
    else:
        reply.image_url = default


# ----------------------------------------------------------------------------------- fitting Discord
def _safe_filename(name: str | None, extension: str | None = None) -> str:
    stem, dot, ext = (name or "image").rpartition(".")
    if not dot:
        stem, ext = ext, ""
    stem = _UNSAFE.sub("_", stem).strip("._")[:60] or "image"
    ext = extension or _UNSAFE.sub("", ext)[:10].lower() or "bin"
    return f"{stem}.{ext}"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def fit_for_discord(data: bytes, filename: str | None, limit: int) -> PreparedImage:
    """The bytes to upload (as they are when they fit; a still picture over ``limit`` scaled down), or a note
    saying why the picture is left out. Nothing is uploaded that Pillow has not decoded as a picture Discord
    shows (PNG, JPEG, GIF, WebP). CPU-bound: run it in a thread."""
    from PIL import Image, UnidentifiedImageError

    try:
        picture = Image.open(io.BytesIO(data))
        kind = picture.format
        frames = getattr(picture, "n_frames", 1)
        pixels = picture.width * picture.height
        if kind not in EMBEDDABLE:
            return PreparedImage(note=NOT_A_PICTURE)
        if pixels > MAX_PIXELS:
            return PreparedImage(note=f"Image left out: {picture.width}×{picture.height} is too large to show.")
        if len(data) <= limit:
            picture.load()  # sent as it is: its pixels must decode, not only its header
            return PreparedImage(data=data, filename=_safe_filename(filename, EMBEDDABLE[kind]))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return PreparedImage(note=NOT_A_PICTURE)
    # Too big: only a re-encoding of the decoded pixels is ever uploaded.
    too_big = f"Image left out: {_mib(len(data))}, over Discord's {_mib(limit)} upload limit"
    if frames > 1:
        return PreparedImage(note=f"{too_big} (animated pictures are not resized).")
    try:
        scaled = _scale_below(picture, limit)
    except (OSError, ValueError) as error:
        log.info("Could not resize an image: %s", error)
        scaled = None
    if scaled is None:
        return PreparedImage(note=f"{too_big} (it could not be resized).")
    return PreparedImage(
        data=scaled[0],
        filename=_safe_filename(filename, scaled[1]),
        note=f"Image scaled down to fit Discord's {_mib(limit)} upload limit.",
    )


def _scale_below(picture, limit: int) -> tuple[bytes, str] | None:
    """Re-encoded smaller until it fits: JPEG (about 30 times faster to encode than WebP) unless the picture
    has transparency, which only WebP keeps of what Discord shows."""
    from PIL import Image

    alpha = "A" in picture.getbands() or "transparency" in picture.info
    target = "RGBA" if alpha else "RGB"
    picture.draft(target, (4096, 4096))  # a JPEG decodes at a reduced scale: less memory, less time
    if picture.mode != target:
        picture = picture.convert(target)
    kind, extension, options = (
        ("WEBP", "webp", {"quality": 80, "method": 0}) if alpha else ("JPEG", "jpg", {"quality": 85})
    )
    width, height = picture.size
    side = min(max(width, height), 4096)  # Discord shows embed images far smaller than this
    for _ in range(8):
        scale = side / max(width, height)
        smaller = picture
        if scale < 1:  # a new, smaller image each time: the decoded original is never copied
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            smaller = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        smaller.save(out, kind, **options)
        if out.tell() <= limit:
            return out.getvalue(), extension
        side = int(side * 0.7)
        if side < 64:
            break
    return None


# ----------------------------------------------------------------------------------- cache
class ImageCache:
    """Prepared images by (world, path, upload limit): least recently used first out, entries expire after
    ``ttl`` seconds, the data held never exceeds ``max_bytes`` and the entries never ``max_items`` (answers
    that hold no bytes, "no such file", would otherwise pile up: they weigh nothing against ``max_bytes``)."""

    def __init__(
        self,
        *,
        ttl: float = CACHE_TTL,
        max_bytes: int = CACHE_BYTES,
        max_items: int = CACHE_ITEMS,
        clock=time.monotonic,
    ):
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._clock = clock
        self._items: OrderedDict[tuple, tuple[float, PreparedImage | None]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple) -> tuple[bool, PreparedImage | None]:
        item = self._items.get(key)
        if item is None:
            return False, None
        if item[0] <= self._clock():
            self._drop(key)
            return False, None
        self._items.move_to_end(key)
        return True, item[1]

    def put(self, key: tuple, value: PreparedImage | None) -> None:
        size = value.size if value else 0
        if key in self._items:
            self._drop(key)
        if size > self.max_bytes:
            return
        now = self._clock()
        self._items[key] = (now + self.ttl, value)
        self.bytes += size
        while self.bytes > self.max_bytes or len(self._items) > self.max_items:
            self._drop(next(iter(self._items)))
        # The least recently used come first: those expired go now, not when someone asks for them again.
        while self._items:
            oldest = next(iter(self._items))
            if self._items[oldest][0] > now:
                break
            self._drop(oldest)

    def _drop(self, key: tuple) -> None:
        _, value = self._items.pop(key)
        self.bytes -= value.size if value else 0


# ----------------------------------------------------------------------------------- fetching
class ImageService:
    """Fetches, fits and caches the images replies ask for. Never raises: an image that cannot be had is
    left out (with a note when the reader should know why)."""

    def __init__(self, relay: RelayClient | None, *, cache: ImageCache | None = None, wait: float = IMAGE_WAIT):
        self._relay = relay
        self.cache = cache if cache is not None else ImageCache()  # an empty cache is falsy (it has a length)
        self.wait = wait
        self.downloads = 0  # files actually requested from the relay (the cache's effect, for the bench)
        self._in_flight: dict[tuple, asyncio.Future] = {}
        self._actors: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._scope_missing_at: float | None = None

    @property
    def scope_missing(self) -> bool:
        """The relay said the key lacks ``file:read``, recently enough to not ask again yet."""
        at = self._scope_missing_at
        return at is not None and time.monotonic() - at < SCOPE_RECHECK

    async def prepare(self, world_id: str, ref: ImageRef, *, limit: int = DISCORD_UPLOAD_LIMIT) -> PreparedImage | None:
        try:
            return await self._prepare(world_id, ref, limit)
        except Exception:  # an image must never break a reply
            log.exception("Preparing an image failed")
            return None

    async def _prepare(self, world_id: str, ref: ImageRef, limit: int) -> PreparedImage | None:
        path = ref.path
        if path is None and ref.actor_uuid is not None:
            image = await self._actor_image(world_id, ref.actor_uuid, ref.user_ids)
            if image is not None:
                url = absolute_image_url(image, ref.base)
                if url is not None:
                    return PreparedImage(url=url)
                path = None if _is_web(image) else foundry_path(image)
        if path is None:
            return PreparedImage(url=ref.fallback_url) if ref.fallback_url else None
        if self._relay is None or self.scope_missing:
            return None
        key = (world_id, path, limit)
        hit, cached = self.cache.get(key)
        if hit:
            return cached
        running = self._in_flight.get(key)
        if running is None:  # one download per file at a time, however many lookups want it
            running = asyncio.ensure_future(self._fetch(world_id, path, limit, key))
            self._in_flight[key] = running
            running.add_done_callback(lambda _f: self._in_flight.pop(key, None))
        return await asyncio.shield(running)

    async def _fetch(self, world_id: str, path: str, limit: int, key: tuple) -> PreparedImage | None:
        self.downloads += 1
        try:
            found = await self._relay.download_file(path, client_id=world_id, max_bytes=MAX_DOWNLOAD)
        except RelayScopeError as error:
            if error.scope == SCOPE:
                self._scope_missing_at = time.monotonic()
            log.info("No image for %s: %s", path, error.message)
            return None
        except FileMissing:
            log.info("No image: Foundry has no file %s", path)
            self.cache.put(key, None)
            return None
        except FileTooLarge:
            prepared = PreparedImage(note=f"Image left out: over the {_mib(MAX_DOWNLOAD)} the bot fetches.")
            self.cache.put(key, prepared)
            return prepared
        except RelayError as error:  # slow, disconnected, rate-limited: try again next time
            log.info("No image for %s: %s", path, error.message)
            return None
        self._scope_missing_at = None
        name = found.filename or path.rsplit("/", 1)[-1]
        prepared = await asyncio.to_thread(fit_for_discord, found.data, name, limit)
        self.cache.put(key, prepared)
        return prepared

    async def _actor_image(self, world_id: str, actor_uuid: str, user_ids: tuple[str, ...]) -> str | None:
        """The linked actor's ``img``, read as each Foundry user the view is for (``()``: the GM's view, read with
        GM rights): an actor one of them may not see lends the view no picture. Remembered as long as an image."""
        key = (world_id, actor_uuid, user_ids)
        known = self._actors.get(key)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        if self._relay is None or not actor_uuid.startswith("Actor."):
            return None
        images: set[str | None] = set()
        for user_id in user_ids or (None,):
            try:  # one at a time; the relay client proves each reply is that user's view
                actor = await self._relay.get_entry(actor_uuid, client_id=world_id, user_id=user_id)
            except NotPermitted:
                images.add(None)
                break
            except RelayError as error:
                log.info("No actor image for %s: %s", actor_uuid, error.message)
                return None
            images.add(_text(actor.img))
        image = images.pop() if len(images) == 1 else None
        if image is not None and image.lower().endswith(".svg"):
            image = None  # Foundry's placeholder (icons/svg/mystery-man.svg): Discord shows no SVG in an embed
        if len(self._actors) > 512:
            self._actors.clear()
        self._actors[key] = (time.monotonic() + CACHE_TTL, image)
        return image

    async def status(self, world_id: str, image_base: str | None) -> str:
        """One line for /status: how entry images reach Discord, and the scope to add when they can't."""
        if image_base:
            return "linked from Foundry's public address"
        if self._relay is None:
            return "not shown: the relay is not configured"
        try:
            await self._relay.download_file("", client_id=world_id)
        except RelayScopeError as error:
            if error.scope == SCOPE:
                self._scope_missing_at = time.monotonic()
                return (
                    f"not shown: Foundry has no public address and the relay API key lacks the '{SCOPE}' scope; "
                    f"add '{SCOPE}' to the key to attach entry images"
                )
            return f"unknown: {error.message}"
        except RelayModuleError:  # the module's "Missing required parameter (path)": the scope is there
            self._scope_missing_at = None
            return f"fetched through the relay ('{SCOPE}') and attached: Foundry has no public address"
        except RelayMonthlyLimit:
            raise  # /status says it once, for every line it stops
        except RelayError as error:
            return f"unknown: {error.message}"
        return f"fetched through the relay ('{SCOPE}') and attached: Foundry has no public address"
