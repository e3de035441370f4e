"""The package Foundry will install: the zip behind the manifest's `download`, read as little as possible.

Foundry installs a package from the zip the manifest names, and reads the manifest inside it, not the one the
release points at. A zip built from the wrong commit ships another version, another id, or other compatibility
ranges, and Foundry accepts the release all the same. So the zip's own manifest is compared with the release.

Only what is needed is read, with HTTP Range requests (GitHub release assets support them): the end of the zip
(its central directory, which lists the files) and the one manifest file. A server that ignores Range requests
sends the whole zip: it is then streamed to a temporary file, at most `STREAM_MAX_BYTES`, and the answer says so.
The zip is parsed by the standard library's zipfile, reading from the fetched pieces.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field

from core.bodies import BodyTooLarge, chunks_within, read_at_most
from core.textsafe import echo
from release.models import ReleaseRequest
from release.network import Fetcher, FetchFailed
from release.urls import shown_url

MANIFEST_NAMES = ("module.json", "system.json", "world.json")
TAIL_BYTES = 65_536 + 22 + 20 + 56  # the longest zip comment, the end record, and the zip64 locator and record
PIECE_BYTES = 65_536  # each later Range request reads at least this much, so one usually covers a manifest
CENTRAL_DIRECTORY_MAX = 8 * 1024 * 1024  # some 80,000 file names
MANIFEST_MAX_BYTES = 1_000_000
RANGE_REQUESTS_MAX = 8
STREAM_MAX_BYTES = 100 * 1024 * 1024  # a server without Range support: the most of a zip the bot reads
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_COMPATIBILITY = ("minimum", "verified", "maximum")


@dataclass
class PackageCheck:
    """What was checked, for the reply; `problems` empty means the zip matches the release."""

    problems: list[str] = field(default_factory=list)
    passed: str | None = None  # one line saying what matched
    notes: list[str] = field(default_factory=list)


class _Missing(Exception):
    def __init__(self, start: int, length: int):
        self.start = start
        self.length = length


class _Pieces(io.RawIOBase):
    """A read-only file of `size` bytes of which only fetched pieces are known; reading elsewhere raises _Missing."""

    def __init__(self, size: int):
        self.size = size
        self.position = 0
        self.pieces: list[tuple[int, bytes]] = []

    def add(self, start: int, data: bytes) -> None:
        self.pieces.append((start, data))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.position, 2: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.position + size, self.size)
        if end <= self.position:
            return b""
        for start, data in self.pieces:
            if start <= self.position and end <= start + len(data):
                chunk = data[self.position - start : end - start]
                self.position = end
                return chunk
        raise _Missing(self.position, end - self.position)

    def close(self) -> None:  # zipfile closes its file on errors; the pieces stay for the next attempt
        pass


class _Unusable(Exception):
    """The zip cannot be checked; the message completes "The package zip at URL …"."""


def _depth_and_name(path: str) -> tuple[int, str]:
    parts = path.strip("/").split("/")
    return len(parts) - 1, parts[-1]


def _find_manifest(zf: zipfile.ZipFile, expected: str | None) -> zipfile.ZipInfo:
    """The manifest Foundry's installer would read: at the root, or in the one top folder."""
    entries = [i for i in zf.infolist() if not i.is_dir()]
    near = [
        i for i in entries if _depth_and_name(i.filename)[0] <= 1 and _depth_and_name(i.filename)[1] in MANIFEST_NAMES
    ]
    names = [expected] if expected else list(MANIFEST_NAMES)
    for name in names:
        found = [i for i in near if _depth_and_name(i.filename)[1] == name]
        at_root = [i for i in found if _depth_and_name(i.filename)[0] == 0]
        if at_root:
            return at_root[0]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            folders = ", ".join(sorted(echo(i.filename.split("/")[0], 40) + "/" for i in found)[:3])
            raise _Unusable(f"holds {name} in several top folders ({folders}): keep one")
    wanted = expected or "module.json, system.json or world.json"
    others = sorted({_depth_and_name(i.filename)[1] for i in near})
    if others:
        raise _Unusable(f"holds {', '.join(others)} but no {wanted}")
    deeper = [i.filename for i in entries if _depth_and_name(i.filename)[1] in names]
    if deeper:
        raise _Unusable(
            f"holds {echo(deeper[0], 120)}, too deep for Foundry's installer: "
            f"put {wanted} at the root of the zip or in one top folder"
        )
    raise _Unusable(f"holds no {wanted} (at its root or in one top folder): Foundry could not install it")


def _read_manifest(fileobj, expected: str | None) -> tuple[str, bytes]:
    """(path inside the zip, its bytes); _Missing when a piece must be fetched first."""
    try:
        zf = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile:
        raise _Unusable("is not a zip") from None
    except (zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _Unusable("is not a zip the bot can read") from None
    info = _find_manifest(zf, expected)
    if info.file_size > MANIFEST_MAX_BYTES or info.compress_size > MANIFEST_MAX_BYTES:
        raise _Unusable(f"holds a {echo(info.filename, 120)} larger than 1 MB: it is not a manifest")
    if info.flag_bits & 0x1:
        raise _Unusable(f"holds {echo(info.filename, 120)} encrypted: Foundry could not read it")
    try:
        with zf.open(info) as member:
            data = member.read(MANIFEST_MAX_BYTES + 1)
    except NotImplementedError:
        raise _Unusable(
            f"holds {echo(info.filename, 120)} compressed in a way the bot cannot read: use standard (deflate) compression"
        ) from None
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, zlib.error):
        raise _Unusable(f"is damaged: {echo(info.filename, 120)} cannot be read from it") from None
    return info.filename, data


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    if n < 1024**3:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{n / 1024**3:.1f} GB"


def _text(value) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value).strip() or None


def compare(request: ReleaseRequest, path: str, data: bytes) -> list[str]:
    """One line per way the manifest inside the zip differs from the release."""
    where = f"{echo(path, 120)} inside the zip"
    try:
        manifest = json.loads(data.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError):
        return [f"{where} is not JSON: Foundry could not install the package."]
    if not isinstance(manifest, dict):
        return [f"{where} is JSON but not an object: Foundry could not install the package."]
    problems = []
    zip_id = _text(manifest.get("id"))
    if zip_id != request.package_id:
        problems.append(
            f"{where} says id {echo(zip_id, 60)}; the release is for {echo(request.package_id, 60)}."
            if zip_id
            else f"{where} has no id; the release is for {echo(request.package_id, 60)}."
        )
    zip_version = _text(manifest.get("version"))
    if zip_version != request.version:
        problems.append(
            f"{where} says version {echo(zip_version, 40)}; the release is {echo(request.version, 40)}."
            if zip_version
            else f"{where} has no version; the release is {echo(request.version, 40)}."
        )
    compatibility = manifest.get("compatibility")
    compatibility = compatibility if isinstance(compatibility, dict) else {}
    for key in _COMPATIBILITY:
        in_zip = _text(compatibility.get(key))
        in_release = getattr(request, key) or None
        if in_zip == in_release:
            continue
        if in_zip is None:
            problems.append(f"{where} has no compatibility.{key}; the release says {echo(in_release, 40)}.")
        elif in_release is None:
            problems.append(f"{where} says compatibility.{key} {echo(in_zip, 40)}; the release has none.")
        else:
            problems.append(
                f"{where} says compatibility.{key} {echo(in_zip, 40)}; the release says {echo(in_release, 40)}."
            )
    return problems


class PackageChecker:
    def __init__(self, fetcher: Fetcher, *, timeout: float = 60.0, stream_max: int = STREAM_MAX_BYTES):
        self.fetcher = fetcher
        self.timeout = timeout
        self.stream_max = stream_max

    async def check(self, request: ReleaseRequest, download: str, *, expected: str | None) -> PackageCheck:
        """Compare the manifest inside the zip at `download` with the release.

        `expected`: the manifest's file name when the release's manifest URL names one (module.json…)."""
        result = PackageCheck()
        where = f"The package zip at {shown_url(download)}"
        try:
            path, data, how = await self._manifest_in_zip(download, expected, result)
        except FetchFailed as failed:
            result.problems.append(f"{where} {failed.reason}.")
            return result
        except _Unusable as unusable:
            result.problems.append(f"{where} {unusable}.")
            return result
        result.problems += compare(request, path, data)
        if not result.problems:
            result.passed = (
                f"The zip holds {echo(path, 120)} with this release's id, version and compatibility ({how})."
            )
        return result

    async def _manifest_in_zip(self, url: str, expected: str | None, result: PackageCheck) -> tuple[str, bytes, str]:
        headers = {"Range": f"bytes=-{TAIL_BYTES}", "Accept-Encoding": "identity"}
        async with self.fetcher.open(url, timeout=self.timeout, headers=headers) as response:
            final_url = str(response.url)
            if response.status == 206:
                match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
                if not match:
                    raise _Unusable("answered a Range request without a usable Content-Range")
                start, total = int(match.group(1)), int(match.group(3))
                tail, _ = await read_at_most(response, TAIL_BYTES)
                pieces = _Pieces(total)
                pieces.add(start, tail)
            elif response.status == 200:
                return await self._streamed(response, expected, result)
            elif response.status == 416:  # an empty file, or a server that refuses suffix ranges
                pieces = None
            else:
                kind = response.content_type or "no content type"
                raise _Unusable(f"answered HTTP {response.status} ({kind})")
        if pieces is None:
            async with self.fetcher.open(url, timeout=self.timeout, headers={"Accept-Encoding": "identity"}) as again:
                if again.status != 200:
                    raise _Unusable(f"answered HTTP {again.status} ({again.content_type or 'no content type'})")
                return await self._streamed(again, expected, result)
        fetched = len(tail)
        for _ in range(RANGE_REQUESTS_MAX):
            try:
                path, data = _read_manifest(pieces, expected)
            except _Missing as missing:
                if missing.length > CENTRAL_DIRECTORY_MAX:
                    raise _Unusable(f"lists more files than the bot reads ({_size(missing.length)} of names)") from None
                length = min(max(missing.length, PIECE_BYTES), pieces.size - missing.start)
                pieces.add(missing.start, await self._range(final_url, missing.start, length))
                fetched += length
                continue
            return path, data, f"{_size(fetched)} of its {_size(pieces.size)} read with Range requests"
        raise _Unusable("needed more Range requests than the bot makes")

    async def _range(self, url: str, start: int, length: int) -> bytes:
        headers = {"Range": f"bytes={start}-{start + length - 1}", "Accept-Encoding": "identity"}
        async with self.fetcher.open(url, timeout=self.timeout, headers=headers) as response:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if response.status != 206 or not match or int(match.group(1)) != start:
                raise _Unusable("stopped answering Range requests part of the way")
            data, _ = await read_at_most(response, length)
        if len(data) < length:
            raise _Unusable("ended before its declared size")
        return data

    async def _streamed(self, response, expected: str | None, result: PackageCheck) -> tuple[str, bytes, str]:
        """A server that ignores Range: the whole body to a temporary file, at most STREAM_MAX_BYTES."""
        spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)
        try:
            size = 0
            try:
                async for chunk in chunks_within(response, self.stream_max):
                    size += len(chunk)
                    spool.write(chunk)
            except BodyTooLarge:
                raise _Unusable(self._too_big()) from None
            result.notes.append(
                f"The download's server ignores Range requests: the whole zip ({_size(size)}) was read to check it."
            )
            spool.seek(0)
            path, data = await asyncio.to_thread(_read_manifest, spool, expected)
            return path, data, f"the whole {_size(size)} read"
        finally:
            spool.close()

    def _too_big(self) -> str:
        return (
            f"is served without Range support and is larger than {_size(self.stream_max)}, more than the bot reads: "
            "host it where Range requests work (GitHub release assets do), or skip the package check"
        )
