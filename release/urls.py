"""URLs in a release: which ones are "latest" links, and how one is shown back safely."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

# Characters kept as they are when a URL is shown; the rest (Markdown, spaces, controls) are percent-encoded.
_SAFE = ":/?#@!$&'+,;=%-._~"


def points_at_latest(url: str) -> bool:
    """A URL that always serves the newest release (GitHub's /releases/latest/, a /latest/ folder)."""
    path = urlsplit(url).path.lower()
    return "/latest/" in path or path.endswith("/latest")


def shown_url(url: str, limit: int = 300) -> str:
    """`url` as it can be echoed into a message: no user name or password, no Markdown, no mention, clipped."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return quote(url, safe=_SAFE).replace("@", "%40")[:limit]
    host = f"[{host}]" if ":" in host else quote(host, safe="-._~")
    netloc = host + (f":{port}" if port else "")
    rest = urlunsplit(("", "", parts.path, parts.query, parts.fragment))
    text = f"{quote(parts.scheme, safe='')}://{netloc}" + quote(rest, safe=_SAFE).replace("@", "%40")
    return text if len(text) <= limit else text[: limit - 1] + "…"
