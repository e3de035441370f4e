"""A release is told as it happened: once the request may have reached Foundry, never "could not reach".

Faults are injected through the stand-in Foundry API (a dropped connection after the release was saved, a
proxy's 5xx after it, no answer in time, a refused connection before anything was sent, a redirect); each test
asserts what the maintainer is told (Discord and the command line) and what the stand-in received. A stop during
a release lets it finish and be reported.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket

import pytest

from tests.cli_runner import SETTINGS, seamed_command
from tests.helpers import run_until_button
from tests.test_release_cli import cli  # noqa: F401 - the command-line fixture
from tests.test_release_commands import PAGE, field_map, manifest_doc, posts, serve

PUBLIC_PAGE = "https://foundryvtt.com/packages/my-module"
MAY_HAVE = f"Version 1.2.0 of my-module may have been released: check the package page ({PUBLIC_PAGE})."


def closed_port_url(path: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


async def confirm_release(env, *, before_confirm=None):
    """/release publish up to its preview, `before_confirm()` (a fault for the real call), then Confirm."""
    task, preview = await run_until_button(
        env.h, env.maintainer, env.channel, "release publish", package="my-module", manifest=serve(env.foundry)
    )
    if before_confirm is not None:
        before_confirm()
    await env.h.click(env.maintainer, preview, label="Confirm")
    return await task


async def history(env) -> list[tuple[str, bool]]:
    return [(r["status"], bool(r["dry_run"])) for r in reversed(await env.app.releases.store.history("my-module"))]


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (
            lambda f: f.save_then_fail_next(None, drop=True),
            "Foundry's release API dropped the connection after the request was sent.",
        ),
        (
            lambda f: f.save_then_fail_next(502, "<title>foundryvtt.com | 502: Bad Gateway</title>"),
            "Foundry's release API answered 502: foundryvtt.com | 502: Bad Gateway.",
        ),
    ],
    ids=["dropped-after-saving", "5xx-after-saving"],
)
async def test_a_release_foundry_received_is_may_have_been_released(gm_env, fault, cause):
    result = await confirm_release(gm_env, before_confirm=lambda: fault(gm_env.foundry))

    [embed] = result.response.embeds
    assert embed.title == "my-module 1.2.0 may have been released"
    assert embed.url == PUBLIC_PAGE
    assert embed.description.splitlines() == [
        MAY_HAVE,
        cause,
        "If the version is listed there, it is released; if it is not, release it again.",
    ]
    assert "could not reach" not in result.text.lower() and "try again" not in result.text.lower()
    assert gm_env.foundry.published["my-module"] == ["1.0.0", "1.2.0"]  # Foundry did save it
    assert not gm_env.h.messages_in(gm_env.announce)  # an uncertain release is not announced
    assert await history(gm_env) == [("success", True), ("uncertain", False)]


async def test_a_real_release_without_an_answer_in_time_may_have_been_released(gm_env):
    gm_env.app.releases.client.timeout = 0.5

    result = await confirm_release(gm_env, before_confirm=lambda: gm_env.foundry.delay_next(5))

    assert MAY_HAVE in result.text
    assert "did not answer within 0.5 s" in result.text
    assert len(posts(gm_env.foundry)) == 2


async def test_a_connection_refused_before_sending_is_could_not_reach(gm_env):
    def unreachable():
        gm_env.app.releases.client.url = closed_port_url("/_api/packages/release_version/")

    result = await confirm_release(gm_env, before_confirm=unreachable)

    assert result.text.splitlines()[-1].startswith("Could not reach Foundry's release API at 127.0.0.1:")
    assert "may have been" not in result.text
    assert gm_env.foundry.published["my-module"] == ["1.0.0"]
    assert await history(gm_env) == [("success", True), ("failed", False)]


async def test_a_redirect_from_the_release_api_is_never_followed(gm_env):
    target = gm_env.foundry.release_url.replace("/_api/", "/elsewhere/_api/")
    gm_env.foundry.fail_next(301, "", headers={"Location": "https://foundryvtt.com/_api/packages/release_version/"})
    gm_env.foundry.fail_next(302, "", headers={"Location": target})

    first = await gm_env.h.slash(
        gm_env.maintainer, gm_env.channel, "release dry-run", package="my-module", manifest=serve(gm_env.foundry)
    )
    second = await gm_env.h.slash(
        gm_env.maintainer, gm_env.channel, "release dry-run", package="my-module", manifest=serve(gm_env.foundry)
    )

    assert first.text == (
        "RELEASE_API_URL answered with a redirect to foundryvtt.com; set it to the address in Foundry's article "
        "(https://api.foundryvtt.com/_api/packages/release_version/). Nothing was released."
    )
    assert "redirect to 127.0.0.1" in second.text
    assert [r.path for r in posts(gm_env.foundry)] == ["/_api/packages/release_version/"] * 2  # no second hop


async def test_a_stop_during_a_release_lets_it_finish_and_be_reported(gm_env, caplog):
    h = gm_env.h
    task, preview = await run_until_button(
        h, gm_env.maintainer, gm_env.channel, "release publish", package="my-module", manifest=serve(gm_env.foundry)
    )
    answer = gm_env.foundry.hold_next()  # Foundry answers the real release only once the stop has begun
    await h.click(gm_env.maintainer, preview, label="Confirm")
    await h.wait_for(lambda: len(posts(gm_env.foundry)) == 2, what="the real release request")

    closing = asyncio.create_task(gm_env.bot.close())  # what SIGTERM does (bot.py _run)
    await h.wait_for(
        lambda: any("running command" in r.getMessage() for r in caplog.records), what="the stop waiting for commands"
    )
    answer.set()
    await closing
    result = await task

    assert gm_env.foundry.published["my-module"] == ["1.0.0", "1.2.0"]
    assert "Released my-module 1.2.0" in result.text
    assert field_map(result.response.embeds[0])["Package page"] == PAGE
    assert len(h.messages_in(gm_env.announce)) == 1


# --- The command line -----------------------------------------------------------------------------


async def test_the_command_line_exits_3_and_never_advises_a_blind_retry(cli, foundry):  # noqa: F811
    foundry.delay_next(0)  # the dry run is answered as usual
    foundry.save_then_fail_next(None, drop=True)

    run = await cli("release", "publish", "--package", "my-module", "--manifest", cli.url, "--yes")

    assert run.code == 3, run.err
    out = run.out.splitlines()
    assert out[:2] == ["my-module 1.2.0 may have been released", PUBLIC_PAGE]
    assert MAY_HAVE in out
    assert "try again" not in run.out + run.err and "could not reach" not in (run.out + run.err).lower()
    assert foundry.published["my-module"] == ["1.0.0", "1.2.0"]


async def test_the_command_line_json_says_released_null(cli, foundry):  # noqa: F811
    foundry.delay_next(0)
    foundry.save_then_fail_next(503, "upstream timeout")

    run = await cli("release", "publish", "--package", "my-module", "--manifest", cli.url, "--yes", "--json")

    assert run.code == 3
    data = json.loads(run.out)
    assert data["released"] is None and data["data"]["uncertain"] is True
    assert data["url"] == PUBLIC_PAGE and data["tone"] == "warning"


async def test_a_redirecting_release_api_is_a_configuration_error_on_the_command_line(cli, foundry):  # noqa: F811
    foundry.fail_next(302, "", headers={"Location": "https://foundryvtt.com/_api/packages/release_version/"})
    run = await cli("release", "dry-run", "--package", "my-module", "--manifest", cli.url)
    assert run.code == 2
    assert run.err.startswith("Configuration error: RELEASE_API_URL answered with a redirect to foundryvtt.com;")


async def test_sigterm_during_a_command_line_release_lets_it_finish(tmp_path, foundry):
    url = foundry.serve_manifest("manifests/my-module/v1.2.0/module.json", manifest_doc())
    foundry.delay_next(0)
    answer = foundry.hold_next()  # the real release is answered only once the command has taken the signal
    env = {
        **{k: v for k, v in os.environ.items() if k not in SETTINGS},
        "RELEASE_API_URL": foundry.release_url,
        "RELEASE_TOKENS": json.dumps({"my-module": "fvttp_9c2e4a6b8d0f1e3a5c7b9d1f"}),
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        "ALLOW_PRIVATE_MANIFEST_HOSTS": "true",
    }
    process = await asyncio.create_subprocess_exec(
        *seamed_command(None), "release", "publish", "--package", "my-module", "--manifest", url, "--yes",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        while len(posts(foundry)) < 2:
            assert process.returncode is None, "the command ended before sending the release"
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        said = await asyncio.wait_for(process.stderr.readline(), 60)
        answer.set()
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()

    assert said.decode() == "Stopping once the release in progress is reported.\n"
    assert process.returncode == 0, err
    assert out.decode().startswith("Released my-module 1.2.0\n")
    assert foundry.published["my-module"] == ["1.0.0", "1.2.0"]
