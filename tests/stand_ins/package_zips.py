"""Package zips as a release host serves them, for the stand-in Foundry API's manifest host.

`build_zip` makes a real zip (the standard library writes it) holding a manifest where a test wants it; a
"huge" zip is the same zip with a gap of `gap` bytes before its central directory (only ever generated on
the fly, never held in memory), so Range requests can be shown to read only its end and its manifest.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from dataclasses import dataclass, field

_EOCD = b"PK\x05\x06"


@dataclass
class ServedZip:
    head: bytes  # the local entries
    gap: int  # zero bytes between the entries and the central directory
    tail: bytes  # the central directory and its end record, offsets moved past the gap
    ranges: bool = True  # answers Range requests with 206; False: always the whole body (200)
    content_length: bool = True  # False: chunked, so the client learns the size only by reading
    served: list[str] = field(default_factory=list)  # each answer: "206 a-b" or "200"
    bytes_sent: int = 0

    @property
    def size(self) -> int:
        return len(self.head) + self.gap + len(self.tail)

    def slice(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the virtual file (the gap only for small slices: the tests' ranges are small)."""
        out = bytearray()
        head_end, gap_end = len(self.head), len(self.head) + self.gap
        if start < head_end:
            out += self.head[start : min(end, head_end)]
        if end > head_end and start < gap_end:
            out += bytes(min(end, gap_end) - max(start, head_end))
        if end > gap_end:
            out += self.tail[max(start, gap_end) - gap_end : end - gap_end]
        return bytes(out)

    def chunks(self, size: int = 256 * 1024):
        position = 0
        while position < self.size:
            yield self.slice(position, min(position + size, self.size))
            position += size


def build_zip(
    manifest: dict | str | None,
    *,
    name: str = "module.json",
    folder: str | None = None,
    extra: dict[str, bytes] | None = None,
    gap: int = 0,
    compression: int = zipfile.ZIP_DEFLATED,
) -> ServedZip:
    """A zip with `manifest` at `folder/name` (the root when folder is None), plus `extra` files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        if folder:
            zf.writestr(folder.rstrip("/") + "/", b"")
        for path, data in (extra or {}).items():
            zf.writestr(path, data)
        if manifest is not None:
            body = manifest if isinstance(manifest, str) else json.dumps(manifest, indent=2)
            zf.writestr(f"{folder.rstrip('/')}/{name}" if folder else name, body)
        zf.writestr("scripts/main.js", b"console.log('hello');\n" * 50)
    data = buffer.getvalue()
    end = data.rindex(_EOCD)
    cd_size, cd_offset = struct.unpack("<II", data[end + 12 : end + 20])
    head, tail = data[:cd_offset], bytearray(data[cd_offset:])
    struct.pack_into("<I", tail, end - cd_offset + 16, cd_offset + gap)
    return ServedZip(head=head, gap=gap, tail=bytes(tail))


def not_a_zip() -> ServedZip:
    page = b"<!DOCTYPE html><html><body>Release asset not found</body></html>"
    return ServedZip(head=page, gap=0, tail=b"")
