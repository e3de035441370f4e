"""`python bot.py release ...` as CI runs it: a subprocess with only the given environment, against the
stand-in Foundry API (and manifests) and, for the announcement, the harness's fake Discord REST API.

Exit codes: 0 success, 1 rejected (400/403/preflight), 2 usage or configuration, 75 temporary.
"""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from storage import ReleaseStore, open_database
from tests.cli_runner import run_bot
from tests.conftest import OTHER_TOKEN, RELEASE_TOKEN
from tests.harness.fake_discord import FakeDiscord

DISCORD_TOKEN = "discord-cli-token-7d1e9b3c5a"
PAGE = "https://foundryvtt.com/packages/my-module/edit/"
PUBLIC_PAGE = "https://foundryvtt.com/packages/my-module"  # what announcements link
SECRETS = (RELEASE_TOKEN, OTHER_TOKEN, DISCORD_TOKEN)


def manifest_doc(package="my-module", version="1.2.0", **compatibility) -> dict:
    compat = {"minimum": "12", "verified": "13", **compatibility}
    return {"id": package, "version": version, "compatibility": {k: v for k, v in compat.items() if v is not None}}


def posts(foundry):
    return [r for r in foundry.requests if r.method == "POST"]


def closed_port_url(path: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture
async def cli(tmp_path, foundry):
    """run(*args, **env) -> Run; the base environment has the stand-in's URL and one package's token."""
    base = {
        "RELEASE_API_URL": foundry.release_url,
        "RELEASE_TOKENS": json.dumps({"my-module": RELEASE_TOKEN}),
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        "GITHUB_ACTOR": "octocat",
        # The stand-ins listen on 127.0.0.1 (tests/test_release_network.py proves the refusal without this).
        "ALLOW_PRIVATE_MANIFEST_HOSTS": "true",
    }
    runs = []

    async def run(*args: str, seams: dict | None = None, **env: str | None):
        merged = {**base, **env}
        env = {k: v for k, v in merged.items() if v is not None}
        result = await run_bot(*args, env=env, cwd=tmp_path, seams=seams)
        runs.append(result)
        return result

    run.url = foundry.serve_manifest("manifests/my-module/v1.2.0/module.json", manifest_doc())
    run.database = tmp_path / "bot.sqlite3"
    yield run
    for result in runs:  # a token is never printed, whatever happened
        for secret in SECRETS:
            assert secret not in result.out + result.err and secret[6:] not in result.out + result.err


@pytest.fixture
async def discord_api():
    fake = FakeDiscord()
    await fake.start()
    fake.add_channel(
        {
            "id": "555000111",
            "type": 0,
            "guild_id": "777",
            "name": "releases",
            "position": 0,
            "permission_overwrites": [],
        }
    )
    yield fake
    await fake.close()


def discord_env(fake: FakeDiscord, channel: str = "555000111", *, api: str | None = None) -> dict:
    """The settings that turn announcing on, and the seam pointing the bot token at the fake Discord."""
    return {
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "ANNOUNCE_CHANNEL_ID": channel,
        "seams": {"discord_api": api or fake.api_base},
    }


async def history(database) -> list[dict]:
    db = await open_database(database)
    try:
        return list(reversed(await ReleaseStore(db).history()))
    finally:
        await db.close()


# --- dry-run --------------------------------------------------------------------------------------


async def test_dry_run_prints_what_the_bot_would_post_and_exits_0(cli, foundry):
    run = await cli("release", "dry-run", "--package", "my-module", "--manifest", cli.url)

    assert run.code == 0, run.err
    out = run.out.splitlines()
    assert out[0] == "Dry run passed — my-module 1.2.0"
    assert out[1] == PAGE
    assert "" not in out, "a terminal reply has no blank lines between its parts"
    assert "Foundry accepted this release without saving it. Run python bot.py release publish to release it." in out
    assert "Version: 1.2.0" in out and "Compatibility: minimum 12, verified 13" in out
    assert f"Package page: {PAGE}" in out
    [call] = posts(foundry)
    assert call.body["dry-run"] is True and call.auth == "token-of:my-module"
    assert foundry.published["my-module"] == ["1.0.0"]
    [row] = await history(cli.database)
    assert row["actor"] == "cli:octocat" and row["status"] == "success" and row["dry_run"] == 1


async def test_the_release_log_lists_who_checked_what_newest_first(cli, foundry):
    empty = await cli("release", "log", RELEASE_TOKENS=None)  # reading the log needs no token
    assert empty.code == 0 and "Nothing has been released or checked yet." in empty.out, empty.err
    assert (await cli("release", "dry-run", "--manifest", cli.url)).code == 0
    refused = await cli("release", "dry-run", "--manifest", cli.url, "--version", "9.9.9")
    assert refused.code != 0

    run = await cli("release", "log", "--package", "my-module")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "Release log — my-module"
    first, second = [line for line in lines if " UTC — my-module " in line][:2]
    assert "9.9.9" in first and "cli:octocat" in first  # newest first
    assert first.split(" UTC — ")[0] >= second.split(" UTC — ")[0]
    assert "my-module 1.2.0 (dry run): success — cli:octocat" in second
    data = json.loads((await cli("release", "log", "--json")).out)
    assert [e["version"] for e in data["data"]["entries"]][-1] == "1.2.0"
    assert all("token" not in json.dumps(e).casefold() for e in data["data"]["entries"])


async def test_dry_run_json_is_machine_readable(cli, foundry):
    url = foundry.serve_manifest("manifests/my-module/v1.2.0/max/module.json", manifest_doc(maximum="14"))
    run = await cli(
        "release",
        "dry-run",
        "--package",
        "my-module",
        "--manifest",
        url,
        "--version",
        "1.2.0",
        "--minimum",
        "12",
        "--verified",
        "13",
        "--maximum",
        "14",
        "--notes",
        "https://example.org/my-module/releases/v1.2.0",
        "--json",
    )

    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert data["title"] == "Dry run passed — my-module 1.2.0"
    assert data["url"] == PAGE and data["data"]["page"] == PAGE
    assert data["data"]["request"] == {
        "id": "my-module",
        "dry-run": True,
        "release": {
            "version": "1.2.0",
            "manifest": url,
            "notes": "https://example.org/my-module/releases/v1.2.0",
            "compatibility": {"minimum": "12", "verified": "13", "maximum": "14"},
        },
    }


async def test_a_single_foundry_release_token_is_enough(cli, foundry):
    # A CI secret pasted with a trailing newline is trimmed, as at start-up.
    run = await cli(
        "release",
        "dry-run",
        "--package",
        "my-module",
        "--manifest",
        cli.url,
        RELEASE_TOKENS=None,
        FOUNDRY_RELEASE_TOKEN=RELEASE_TOKEN + "\n",
    )
    assert run.code == 0, run.err
    assert posts(foundry)[0].auth == "token-of:my-module"


# --- refusals: exit 1 -----------------------------------------------------------------------------


async def test_a_version_already_published_exits_1_and_says_so(cli, foundry):
    url = foundry.serve_manifest("v1.0.0/module.json", manifest_doc(version="1.0.0"))
    run = await cli("release", "dry-run", "--package", "my-module", "--manifest", url)
    assert run.code == 1
    assert run.err.splitlines() == [
        "Foundry rejected version 1.0.0 of my-module.",
        "Version 1.0.0 of my-module is already published.",
    ]
    assert run.out == ""


async def test_a_400_in_json_lists_each_field(cli, foundry):
    foundry.fail_next(
        400,
        json.dumps({"status": "error", "errors": {"manifest": [{"message": "Enter a valid URL.", "code": "invalid"}]}}),
        content_type="application/json",
    )
    run = await cli("release", "dry-run", "--package", "my-module", "--manifest", cli.url, "--json")
    assert run.code == 1
    assert json.loads(run.out) == {
        "ok": False,
        "error": "Foundry rejected version 1.2.0 of my-module.",
        "details": ["manifest: Enter a valid URL."],
        "temporary": False,
        "exit_code": 1,
    }


async def test_a_token_of_another_package_exits_1(cli):
    run = await cli(
        "release",
        "dry-run",
        "--package",
        "my-module",
        "--manifest",
        cli.url,
        RELEASE_TOKENS=None,
        FOUNDRY_RELEASE_TOKEN=OTHER_TOKEN,
    )
    assert run.code == 1
    assert "does not belong to my-module" in run.err


async def test_a_failed_preflight_exits_1_and_sends_nothing(cli, foundry):
    url = foundry.serve_manifest(
        "owner/repo/releases/latest/download/module.json", manifest_doc(version="1.1.0"), package=False
    )
    run = await cli(
        "release",
        "dry-run",
        "--package",
        "my-module",
        "--manifest",
        url,
        "--version",
        "1.2.0",
        "--minimum",
        "12",
        "--verified",
        "13",
    )
    assert run.code == 1
    problems = [line for line in run.err.splitlines()[1:]]
    assert len(problems) == 3
    assert "/latest/" in problems[0] and "version 1.1.0" in problems[1]
    assert problems[2].startswith("The manifest has no download URL, so Foundry has no zip to install")
    assert not posts(foundry)


# --- temporary: exit 75 ---------------------------------------------------------------------------


async def test_a_429_exits_75_with_the_wait_and_the_next_run_does_not_call_foundry(cli, foundry):
    foundry.fail_next(429, "Too Many Requests", content_type="text/plain", headers={"Retry-After": "45"})
    before = time.time()

    first = await cli("release", "dry-run", "--package", "my-module", "--manifest", cli.url)

    assert first.code == 75
    match = re.fullmatch(
        r"Foundry allows one release per package per minute; try again in (\d+) s "
        r"\(at \d\d:\d\d:\d\d UTC\)\.\n",
        first.err,
    )
    assert match, first.err
    assert 40 <= int(match.group(1)) <= 46
    calls = len(foundry.requests)

    second = await cli("release", "publish", "--package", "my-module", "--manifest", cli.url, "--yes")

    assert second.code == 75
    assert "try again in" in second.err
    assert len(foundry.requests) == calls  # neither the release API nor the manifest was asked
    assert foundry.published["my-module"] == ["1.0.0"]
    rows = await history(cli.database)
    assert [r["status"] for r in rows] == ["rate-limited", "cooldown"]
    db = await open_database(cli.database)
    try:
        until = await ReleaseStore(db).cooldown_until("my-module")
    finally:
        await db.close()
    assert until is not None and abs(until - (before + 45)) < 5


async def test_a_cooldown_set_by_the_bot_is_honoured_by_the_command_line(cli, foundry):
    db = await open_database(cli.database)
    try:
        await ReleaseStore(db).set_cooldown("my-module", time.time() + 30)
    finally:
        await db.close()
    run = await cli("release", "dry-run", "--package", "my-module", "--manifest", cli.url, "--json")
    assert run.code == 75
    data = json.loads(run.out)
    assert data["temporary"] is True and "try again in" in data["error"] and "<t:" not in data["error"]
    assert not foundry.requests


async def test_a_proxy_error_page_exits_75_with_a_short_cause(cli, foundry):
    foundry.fail_next_with_proxy_page(503, "Service Unavailable")
    run = await cli("release", "dry-run", "--package", "my-module", "--manifest", cli.url)
    assert run.code == 75
    assert run.err == "Foundry's release API answered 503: foundryvtt.com | 503: Service Unavailable.\n"


async def test_an_unreachable_release_api_exits_75(cli):
    run = await cli(
        "release",
        "dry-run",
        "--package",
        "my-module",
        "--manifest",
        cli.url,
        RELEASE_API_URL=closed_port_url("/_api/packages/release_version/"),
    )
    assert run.code == 75
    assert run.err.startswith("Could not reach Foundry's release API at 127.0.0.1:")
    assert "Traceback" not in run.err


async def test_a_manifest_host_that_refuses_connections_is_temporary_75(cli, foundry):
    manifest = closed_port_url("/my-module/v1.2.0/module.json")
    run = await cli("release", "dry-run", "--package", "my-module", "--manifest", manifest, "--version", "1.2.0")
    assert run.code == 75
    assert run.err.splitlines() == [
        "This release of my-module is not ready (1 problem).",
        f"The manifest at {manifest} could not be reached.",
    ]
    assert posts(foundry) == []


# --- usage and configuration: exit 2 --------------------------------------------------------------


async def test_a_missing_option_is_a_usage_error(cli, foundry):
    run = await cli("release", "dry-run", "--package", "my-module")
    assert run.code == 2
    assert "--manifest" in run.err
    assert not foundry.requests


async def test_no_token_at_all_is_a_configuration_error(cli):
    run = await cli("release", "dry-run", "--package", "my-module", "--manifest", cli.url, RELEASE_TOKENS=None)
    assert run.code == 2
    assert run.err == (
        "Configuration error: No release token: set RELEASE_TOKENS, or FOUNDRY_RELEASE_TOKEN for one package.\n"
    )


async def test_a_package_without_a_token_is_a_configuration_error(cli, foundry):
    run = await cli("release", "dry-run", "--package", "other-module", "--manifest", cli.url)
    assert run.code == 2
    assert "No release token is configured for other-module" in run.err and "my-module" in run.err
    assert not foundry.requests


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (f'"{RELEASE_TOKEN}"', "is wrapped in quotes"),
        (f"Bearer {RELEASE_TOKEN}", 'starts with "Bearer"'),
        (f"fvttp_{RELEASE_TOKEN}", "has its fvttp_ prefix twice"),
        (RELEASE_TOKEN[:10] + " " + RELEASE_TOKEN[10:], "contains whitespace"),
    ],
    ids=["quotes", "bearer", "doubled-prefix", "whitespace"],
)
async def test_a_malformed_foundry_release_token_is_named_never_printed(cli, foundry, token, problem):
    run = await cli(
        "release",
        "dry-run",
        "--package",
        "my-module",
        "--manifest",
        cli.url,
        RELEASE_TOKENS=None,
        FOUNDRY_RELEASE_TOKEN=token,
    )
    assert run.code == 2
    assert run.err.startswith("Configuration error: The release token for FOUNDRY_RELEASE_TOKEN ")
    assert problem in run.err
    assert RELEASE_TOKEN[6:] not in run.out + run.err and RELEASE_TOKEN[-8:] not in run.out + run.err
    assert not foundry.requests


async def test_a_malformed_token_in_release_tokens_names_the_package(cli, foundry):
    run = await cli(
        "release",
        "dry-run",
        "--package",
        "my-module",
        "--manifest",
        cli.url,
        RELEASE_TOKENS=json.dumps({"my-module": f"Bearer {RELEASE_TOKEN}"}),
    )
    assert run.code == 2
    assert 'The release token for my-module starts with "Bearer"' in run.err
    assert not foundry.requests


# --- publish ------------------------------------------------------------------------------------


async def test_publish_without_yes_shows_the_preview_and_releases_nothing(cli, foundry, discord_api):
    run = await cli("release", "publish", "--package", "my-module", "--manifest", cli.url, **discord_env(discord_api))

    assert run.code == 0, run.err
    assert run.out.startswith("Release my-module 1.2.0?\n")
    assert run.out.rstrip().endswith("Dry run only; nothing was released. Run again with --yes to publish.")
    [dry] = posts(foundry)
    assert dry.body["dry-run"] is True
    assert foundry.published["my-module"] == ["1.0.0"]
    assert not discord_api.requests  # nothing announced, Discord not even contacted

    as_json = await cli("release", "publish", "--package", "my-module", "--manifest", cli.url, "--json")
    data = json.loads(as_json.out)  # one document
    assert data["released"] is False and data["title"] == "Release my-module 1.2.0?"


async def test_publish_with_yes_releases_and_announces_through_discord_rest(cli, foundry, discord_api):
    run = await cli(
        "release",
        "publish",
        "--package",
        "my-module",
        "--manifest",
        cli.url,
        "--yes",
        "--notes",
        "https://example.org/releases/v1.2.0",
        **discord_env(discord_api),
    )

    assert run.code == 0, run.err
    assert run.out.startswith(f"Released my-module 1.2.0\n{PAGE}\n")
    assert foundry.published["my-module"] == ["1.0.0", "1.2.0"]
    dry, real = posts(foundry)
    assert dry.body["dry-run"] is True and "dry-run" not in real.body

    # REST only: who am I, the application, the message. No gateway URL was asked for.
    routes = [r.route for r in discord_api.requests]
    assert routes == ["GET /users/@me", "GET /oauth2/applications/@me", "POST /channels/555000111/messages"]
    assert all(r.headers["Authorization"] == f"Bot {DISCORD_TOKEN}" for r in discord_api.requests)
    [message_id] = discord_api.channel_messages[555000111]
    message = discord_api.messages[message_id]
    assert message.allowed_mentions == {"parse": []}
    [embed] = message.payload["embeds"]
    assert embed["title"] == "my-module 1.2.0 released" and embed["url"] == PUBLIC_PAGE
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {
        "Package": "my-module",
        "Version": "1.2.0",
        "Compatibility": "minimum 12, verified 13",
        "Release notes": "https://example.org/releases/v1.2.0",
        "Package page": PUBLIC_PAGE,
        "Released by": "octocat (GitHub Actions)",
    }
    rows = await history(cli.database)
    assert [(r["status"], r["dry_run"]) for r in rows] == [("success", 1), ("success", 0)]
    assert not discord_api.violations


async def test_publish_json_reports_the_release_and_the_announcement(cli, discord_api):
    run = await cli(
        "release",
        "publish",
        "--package",
        "my-module",
        "--manifest",
        cli.url,
        "--yes",
        "--json",
        **discord_env(discord_api),
    )
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert data["released"] is True and data["announced"] is True
    assert data["title"] == "Released my-module 1.2.0" and data["url"] == PAGE


async def test_an_announcement_that_cannot_be_posted_is_said_but_the_release_stands(cli, foundry, discord_api):
    run = await cli(
        "release",
        "publish",
        "--package",
        "my-module",
        "--manifest",
        cli.url,
        "--yes",
        **discord_env(discord_api, channel="999000999"),
    )
    assert run.code == 0
    assert foundry.published["my-module"] == ["1.0.0", "1.2.0"]
    assert run.err.strip().splitlines() == [
        "The bot could not post the announcement in channel 999000999: "
        "Discord does not know that channel (check ANNOUNCE_CHANNEL_ID)"
    ]


async def test_an_unreachable_discord_is_said_but_the_release_stands(cli, foundry, discord_api):
    env = discord_env(discord_api, api=closed_port_url("/api/v10"))
    run = await cli("release", "publish", "--package", "my-module", "--manifest", cli.url, "--yes", **env)
    assert run.code == 0
    assert foundry.published["my-module"] == ["1.0.0", "1.2.0"]
    assert run.err.startswith("The bot could not post the announcement in channel 555000111: could not reach Discord")
    assert "Traceback" not in run.err


async def test_publish_without_discord_settings_releases_without_announcing(cli, foundry):
    run = await cli("release", "publish", "--package", "my-module", "--manifest", cli.url, "--yes")
    assert run.code == 0, run.err
    assert foundry.published["my-module"] == ["1.0.0", "1.2.0"]
    assert "announcement" not in run.out + run.err
