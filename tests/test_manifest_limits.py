"""The manifest fetch reads at most 1 MB and never echoes a body back: its type and size instead."""

from __future__ import annotations

import re

OPTIONS = {"package": "my-module", "version": "1.2.0", "minimum": "12", "verified": "13"}


async def dry_run(env, manifest: str):
    return await env.h.slash(env.maintainer, env.channel, "release dry-run", manifest=manifest, **OPTIONS)


async def test_a_body_over_one_megabyte_is_refused_unread(gm_env):
    url = gm_env.foundry.serve_manifest("big/module.json", '{"id": "my-module", "x": "' + "A" * 1_200_000 + '"}')
    result = await dry_run(gm_env, url)
    assert "is larger than 1 MB" in result.text and "AAAA" not in result.text
    assert not [r for r in gm_env.foundry.requests if r.path.endswith("/release")]


async def test_a_non_json_body_is_described_by_type_and_size_never_echoed(gm_env):
    page = "<html><title>Login</title><body>session=abc123 welcome back, alice</body></html>"
    url = gm_env.foundry.serve_manifest("page/module.json", page, content_type="text/html")
    result = await dry_run(gm_env, url)
    assert re.search(r"is not JSON \(it is text/html, \d+ bytes\)", result.text), result.text
    assert "alice" not in result.text and "Login" not in result.text and "abc123" not in result.text
