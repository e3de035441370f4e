"""/release dry-run and /release publish through discord.py's real command tree, against the stand-in
Foundry release API (and the manifests it serves) on 127.0.0.1."""

from __future__ import annotations

import json
import re
import socket
import time

import discord
import pytest

import cogs.utils.confirm as confirm
from bot import create_bot
from cogs.utils.errors import is_expected
from tests.conftest import OTHER_TOKEN, RELEASE_TOKEN, SCANNER, SECRETS, assert_nothing_secret_sent
from tests.harness import DiscordHarness
from tests.harness.driver import HarnessError
from tests.helpers import run_until_button

PAGE = "https://foundryvtt.com/packages/my-module/edit/"
PUBLIC_PAGE = "https://foundryvtt.com/packages/my-module"  # what announcements link


def manifest_doc(package="my-module", version="1.2.0", **compatibility) -> dict:
    compat = {"minimum": "12", "verified": "13", **compatibility}
    return {
        "id": package,
        "title": "My Module",
        "version": version,
        "compatibility": {k: v for k, v in compat.items() if v is not None},
    }


def serve(foundry, doc=None, path="manifests/my-module/v1.2.0/module.json") -> str:
    return foundry.serve_manifest(path, manifest_doc() if doc is None else doc)


def posts(foundry):
    """The calls that reached the release endpoint (manifest fetches are GETs)."""
    return [r for r in foundry.requests if r.method == "POST"]


def manifest_gets(foundry, url):
    return [r for r in foundry.requests if r.method == "GET" and url.endswith(r.path)]


def closed_port_url(path: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def lines(result) -> list[str]:
    return [line for line in result.text.splitlines() if line.strip()]


async def dry_run(env, who=None, **options):
    return await env.h.slash(who or env.maintainer, env.channel, "release dry-run", **options)


def assert_only_expected_errors(result) -> None:
    """Errors a person is told about are fine; anything else would be a bug shown as "went wrong"."""
    assert all(is_expected(error) for error in result.errors), result.errors


def field_map(embed: discord.Embed) -> dict[str, str]:
    return {f.name: f.value for f in embed.fields}


# --- Dry run ------------------------------------------------------------------------------------


async def test_dry_run_with_only_package_and_manifest_reads_the_rest_from_the_manifest(gm_env):
    url = serve(gm_env.foundry)

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert result.ephemeral
    assert_only_expected_errors(result)
    [embed] = result.response.embeds
    assert embed.title == "Dry run passed — my-module 1.2.0"
    assert embed.url == PAGE
    fields = field_map(embed)
    assert fields["Version"] == "1.2.0"
    assert fields["Compatibility"] == "minimum 12, verified 13"
    assert fields["Package page"] == PAGE
    [call] = posts(gm_env.foundry)
    assert call.auth == "token-of:my-module"
    assert call.body == {
        "id": "my-module",
        "dry-run": True,
        "release": {"version": "1.2.0", "manifest": url, "compatibility": {"minimum": "12", "verified": "13"}},
    }
    assert gm_env.foundry.published["my-module"] == ["1.0.0"]  # a dry run saves nothing
    # Read once to fill in the release, not again for the checks.
    assert len(manifest_gets(gm_env.foundry, url)) == 1


async def test_dry_run_with_every_option_sends_them_all(gm_env):
    url = serve(gm_env.foundry, manifest_doc(maximum="14"))

    result = await dry_run(
        gm_env,
        package="my-module",
        manifest=url,
        version="1.2.0",
        minimum="12",
        verified="13",
        maximum="14",
        notes="https://example.org/my-module/changes/v1.2.0",
    )

    fields = field_map(result.response.embeds[0])
    assert fields["Compatibility"] == "minimum 12, verified 13, maximum 14"
    assert fields["Notes"] == "https://example.org/my-module/changes/v1.2.0"
    assert fields["Package page"] == PAGE
    [call] = posts(gm_env.foundry)
    assert call.body["release"] == {
        "version": "1.2.0",
        "manifest": url,
        "notes": "https://example.org/my-module/changes/v1.2.0",
        "compatibility": {"minimum": "12", "verified": "13", "maximum": "14"},
    }
    assert call.body["dry-run"] is True
    assert len(manifest_gets(gm_env.foundry, url)) == 1


async def test_a_manifest_that_lacks_the_version_asks_for_it(gm_env):
    doc = manifest_doc()
    del doc["version"]
    url = serve(gm_env.foundry, doc)

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert "Give version explicitly: the manifest has none." in lines(result)[1]
    assert not posts(gm_env.foundry)


# --- Preflight ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "doc", "options", "expected"),
    [
        (
            "owner/my-module/releases/latest/download/module.json",
            manifest_doc(),
            {},
            "points at the latest release (a /latest/ URL)",
        ),
        (
            "v1.2.0/module.json",
            manifest_doc(version="1.1.0"),
            {"version": "1.2.0", "minimum": "12", "verified": "13"},
            "The manifest says version 1.1.0, but this release is 1.2.0",
        ),
        (
            "v1.2.0/module.json",
            manifest_doc(package="their-module"),
            {},
            "The manifest is for their-module, not my-module.",
        ),
        (
            "v1.2.0/module.json",
            manifest_doc(verified=None),
            {"version": "1.2.0", "minimum": "12", "verified": "13"},
            "The manifest has no compatibility.verified.",
        ),
        ("v1.2.0/module.json", "<html>not json</html>", {}, "is not JSON"),
    ],
    ids=["latest-url", "version-mismatch", "id-mismatch", "missing-compatibility", "not-json"],
)
async def test_a_failed_preflight_says_why_and_sends_nothing(gm_env, path, doc, options, expected):
    # The manifest's own checks, without its zip (tests/test_package_check.py checks the zip).
    url = gm_env.foundry.serve_manifest(path, doc, package=False)

    result = await dry_run(gm_env, package="my-module", manifest=url, package_check=False, **options)

    assert result.ephemeral
    assert_only_expected_errors(result)
    [problem] = [line for line in lines(result) if line.startswith("• ")]
    assert expected in problem, result.text
    assert not posts(gm_env.foundry)


async def test_an_unreachable_manifest_is_a_clear_error(gm_env):
    url = closed_port_url("/v1.2.0/module.json")
    result = await dry_run(gm_env, package="my-module", manifest=url)
    assert f"• The manifest at {url} could not be reached" in result.text
    assert "Traceback" not in result.text
    assert not posts(gm_env.foundry)


async def test_a_missing_manifest_is_a_clear_error_without_the_proxy_page(gm_env):
    url = gm_env.foundry.base_url + "/nowhere/module.json"
    result = await dry_run(gm_env, package="my-module", manifest=url, version="1.2.0", minimum="12", verified="13")
    # The page's type and size, never its text (it may be anyone's page).
    assert re.search(rf"The manifest at {re.escape(url)} answered HTTP 404 \(text/html, \d+ bytes\)", result.text)
    assert "<" not in result.text and "Not Found" not in result.text
    assert not posts(gm_env.foundry)


async def test_every_failed_check_is_its_own_line(gm_env):
    url = gm_env.foundry.serve_manifest(
        "releases/latest/module.json", manifest_doc(package="their-module", version="0.9"), package=False
    )

    result = await dry_run(
        gm_env, package="my-module", manifest=url, version="1.2.0", minimum="11", verified="13", package_check=False
    )

    problems = [line for line in lines(result) if line.startswith("• ")]
    assert len(problems) == 4, result.text
    assert "/latest/" in problems[0] and "version 1.2.0's own manifest" in problems[0]
    assert "their-module" in problems[1]
    assert "0.9" in problems[2]
    assert "compatibility.minimum is 11 for this release but 12 in the manifest" in problems[3]
    assert "(4 problems)" in lines(result)[0]
    assert not posts(gm_env.foundry)


async def test_a_latest_url_that_is_unreachable_reports_both_problems(gm_env):
    url = closed_port_url("/owner/repo/releases/latest/download/module.json")
    result = await dry_run(gm_env, package="my-module", manifest=url)
    problems = [line for line in lines(result) if line.startswith("• ")]
    assert len(problems) == 2
    assert "this version's own manifest" in problems[0] and "could not be reached" in problems[1]


# --- Foundry's answers --------------------------------------------------------------------------


def errors_body(errors: dict) -> str:
    return json.dumps({"status": "error", "errors": errors})


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        (
            {"minimum": [{"message": "This field is required.", "code": "required"}]},
            ["minimum: This field is required."],
        ),
        ({"manifest": [{"message": "Enter a valid URL.", "code": "invalid"}]}, ["manifest: Enter a valid URL."]),
        (
            {"__all__": [{"message": "Releases of this package are frozen.", "code": "frozen"}]},
            ["Releases of this package are frozen."],
        ),
        (
            {
                "manifest": [{"message": "Enter a valid URL.", "code": "invalid"}],
                "notes": [{"message": "Enter a valid URL.", "code": "invalid"}],
            },
            ["manifest: Enter a valid URL.", "notes: Enter a valid URL."],
        ),
    ],
    ids=["required", "invalid-url", "all", "two-fields"],
)
async def test_a_400_lists_each_error_on_its_own_line(gm_env, errors, expected):
    url = serve(gm_env.foundry)
    gm_env.foundry.fail_next(400, errors_body(errors), content_type="application/json")

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert lines(result)[0] == "Foundry rejected version 1.2.0 of my-module."
    assert lines(result)[1:] == [f"• {line}" for line in expected]


async def test_an_invalid_notes_url_is_refused_by_foundry_field_by_field(gm_env):
    url = serve(gm_env.foundry)
    result = await dry_run(gm_env, package="my-module", manifest=url, notes="see the changelog")
    assert "• notes: Enter a valid URL." in lines(result)


async def test_a_version_already_published_is_said_plainly(gm_env):
    url = serve(gm_env.foundry, manifest_doc(version="1.0.0"), path="v1.0.0/module.json")

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert "• Version 1.0.0 of my-module is already published." in lines(result)
    assert "unique_together" not in result.text and "already exists" not in result.text


@pytest.mark.parametrize("settings_overrides", [{"release_tokens": {"my-module": OTHER_TOKEN}}])
async def test_a_403_says_the_token_is_not_this_packages(gm_env):
    url = serve(gm_env.foundry)
    result = await dry_run(gm_env, package="my-module", manifest=url)
    assert "does not belong to my-module" in result.text and "RELEASE_TOKENS" in result.text
    assert OTHER_TOKEN not in result.text


async def test_a_429_gives_the_wait_remembers_it_and_answers_at_once_until_it_has_passed(gm_env):
    url = serve(gm_env.foundry)
    gm_env.foundry.fail_next(429, "Too Many Requests", content_type="text/plain", headers={"Retry-After": "42"})
    before = time.time()

    result = await dry_run(gm_env, package="my-module", manifest=url)

    after = time.time()
    match = re.search(r"Foundry allows one release per package per minute; try again <t:(\d+):R>\.", result.text)
    assert match, result.text
    # The wait shown and the wait remembered are Retry-After counted from when Foundry answered.
    shown = int(match.group(1))
    assert before + 42 <= shown <= after + 43
    until = await gm_env.app.releases.store.cooldown_until("my-module")
    assert until is not None and before + 42 <= until <= after + 42

    calls = len(gm_env.foundry.requests)
    again = await dry_run(gm_env, package="my-module", manifest=url)
    assert f"try again <t:{match.group(1)}:R>" in again.text
    assert len(gm_env.foundry.requests) == calls  # neither Foundry nor the manifest host was asked

    # Another package is not held back.
    other = serve(gm_env.foundry, manifest_doc(package="other-module"), path="other/v1.2.0/module.json")
    assert "Dry run passed — other-module 1.2.0" in (await dry_run(gm_env, package="other-module", manifest=other)).text


async def test_the_cooldown_survives_a_restart(gm_env, tmp_path):
    url = serve(gm_env.foundry)
    gm_env.foundry.fail_next(429, "", content_type="text/plain", headers={"Retry-After": "120"})
    await dry_run(gm_env, package="my-module", manifest=url)
    calls = len(gm_env.foundry.requests)

    # A new bot process on the same database file.
    settings = gm_env.bot.settings.model_copy(update={"discord_guild_id": None})
    bot = create_bot(settings)
    async with DiscordHarness(bot) as h:
        guild = h.guild("Campaign", roles=["Maintainer"])
        channel = h.channel(guild, "table")
        dev = h.member(guild, "dev", roles=["Maintainer"])
        bot.settings.discord_guild_id = guild.id
        await bot.sync_commands()
        result = await h.slash(dev, channel, "release dry-run", package="my-module", manifest=url)
        assert re.search(r"try again <t:\d+:R>", result.text), result.text
        sent = [str(r.json) for r in h.fake.requests if r.json is not None]
    assert len(gm_env.foundry.requests) == calls
    assert bot.settings.database_path == gm_env.bot.settings.database_path
    assert not any(secret in text for text in sent for secret in SECRETS)


@pytest.mark.parametrize(
    ("status", "reason"), [(500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable")]
)
async def test_a_proxy_error_page_becomes_status_and_a_short_cause(gm_env, status, reason):
    url = serve(gm_env.foundry)
    gm_env.foundry.fail_next_with_proxy_page(status, reason)

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert result.text == f"Foundry's release API answered {status}: foundryvtt.com | {status}: {reason}."
    assert "<" not in result.text and "gateway error" not in result.text
    assert_only_expected_errors(result)


async def test_an_empty_or_unexpected_answer_is_reported_not_crashed_on(gm_env):
    url = serve(gm_env.foundry)
    gm_env.foundry.fail_next(
        401,
        json.dumps({"status": "error", "message": "Invalid or missing package release token."}),
        content_type="application/json",
    )
    gm_env.foundry.fail_next(502, "")
    first = await dry_run(gm_env, package="my-module", manifest=url)
    second = await dry_run(gm_env, package="my-module", manifest=url)
    assert first.text == "Foundry's release API answered 401: Invalid or missing package release token."
    assert second.text == "Foundry's release API answered 502: empty answer."


async def test_a_slow_answer_times_out_with_a_message(gm_env):
    gm_env.app.releases.client.timeout = 0.3  # 30 s in production
    url = serve(gm_env.foundry)
    gm_env.foundry.delay_next(3)

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert result.text == "Foundry's release API did not answer within 0.3 s."
    assert_only_expected_errors(result)


async def test_an_unreachable_release_api_is_a_clear_error(gm_env):
    url = serve(gm_env.foundry)
    gm_env.app.releases.client.url = closed_port_url("/_api/packages/release_version/")
    result = await dry_run(gm_env, package="my-module", manifest=url)
    assert result.text.startswith("Could not reach Foundry's release API at 127.0.0.1:")
    assert "Traceback" not in result.text
    assert_only_expected_errors(result)


async def test_a_package_without_a_token_is_named_and_nothing_is_fetched(gm_env):
    result = await dry_run(gm_env, package="unknown-module", manifest="https://example.org/v1/module.json")
    assert "No release token is configured for unknown-module" in result.text
    assert "my-module, other-module" in result.text
    assert not gm_env.foundry.requests


# --- Publish --------------------------------------------------------------------------------------


async def start_publish(env, who=None, **options):
    url = serve(env.foundry, manifest_doc(maximum="14"))
    options = {"package": "my-module", "manifest": url, **options}
    return await run_until_button(env.h, who or env.maintainer, env.channel, "release publish", **options)


async def test_publish_dry_runs_then_on_confirm_releases_and_announces(gm_env):
    h = gm_env.h
    task, preview_id = await start_publish(gm_env, notes="https://example.org/my-module/releases/v1.2.0")

    preview = h.fake.messages[preview_id]
    assert "Release my-module 1.2.0?" in json.dumps(preview.payload["embeds"])
    [dry] = posts(gm_env.foundry)
    assert dry.body["dry-run"] is True
    assert gm_env.foundry.published["my-module"] == ["1.0.0"]  # nothing released before Confirm
    assert not h.messages_in(gm_env.announce)

    await h.click(gm_env.maintainer, preview_id, label="Confirm")
    result = await task

    assert gm_env.foundry.published["my-module"] == ["1.0.0", "1.2.0"]
    real = posts(gm_env.foundry)[1]
    assert "dry-run" not in real.body and real.auth == "token-of:my-module"
    [embed] = result.response.embeds
    assert embed.title == "Released my-module 1.2.0" and embed.url == PAGE
    assert field_map(embed)["Package page"] == PAGE
    assert h.fake.messages[preview_id].payload.get("components") in (None, [])  # buttons gone

    [post] = h.messages_in(gm_env.announce)
    assert not post.ephemeral
    [announcement] = post.embeds
    assert announcement.title == "my-module 1.2.0 released" and announcement.url == PUBLIC_PAGE
    fields = field_map(announcement)
    assert fields["Package"] == "my-module"
    assert fields["Version"] == "1.2.0"
    assert fields["Compatibility"] == "minimum 12, verified 13, maximum 14"
    assert fields["Release notes"] == "https://example.org/my-module/releases/v1.2.0"
    assert fields["Released by"] == f"dev ({gm_env.maintainer.mention})"
    assert post.allowed_mentions == {"parse": []}


async def test_the_announcement_names_the_releaser_by_display_name_and_cannot_ping(gm_env):
    h = gm_env.h
    sneaky = h.member(gm_env.guild, "sneaky", roles=["Maintainer"], nick="@everyone <@&1>")
    task, preview_id = await start_publish(gm_env, who=sneaky)
    await h.click(sneaky, preview_id, label="Confirm")
    await task

    [post] = h.messages_in(gm_env.announce)
    released_by = field_map(post.embeds[0])["Released by"]
    assert "@everyone" not in released_by  # "@\u200beveryone": shown, never a mention
    assert "everyone" in released_by and sneaky.mention in released_by
    assert post.allowed_mentions == {"parse": []}
    assert not post.content


async def test_cancel_releases_nothing(gm_env):
    h = gm_env.h
    task, preview_id = await start_publish(gm_env)
    await h.click(gm_env.maintainer, preview_id, label="Cancel")
    result = await task
    assert "Cancelled; nothing was released." in result.text
    assert len(posts(gm_env.foundry)) == 1  # the dry run only
    assert gm_env.foundry.published["my-module"] == ["1.0.0"]
    assert not h.messages_in(gm_env.announce)


async def test_only_the_invoking_maintainer_can_confirm(gm_env):
    h = gm_env.h
    other = h.member(gm_env.guild, "codev", roles=["Maintainer"])
    task, preview_id = await start_publish(gm_env)

    with pytest.raises(HarnessError, match="ephemeral"):  # Discord shows the preview to nobody else
        await h.click(other, preview_id, label="Confirm")
    # Pressed anyway (as if the message were public): refused, nothing released.
    h.fake.messages[preview_id].payload["flags"] = 0
    refused = await h.click(other, preview_id, label="Confirm")
    assert "Only the person who ran this command can answer it." in refused.text and refused.ephemeral
    assert gm_env.foundry.published["my-module"] == ["1.0.0"]
    assert len(posts(gm_env.foundry)) == 1

    await h.click(gm_env.maintainer, preview_id, label="Cancel")
    await task
    assert gm_env.foundry.published["my-module"] == ["1.0.0"]


async def test_an_expired_confirmation_releases_nothing(gm_env, monkeypatch):
    monkeypatch.setattr(confirm, "CONFIRM_TIMEOUT", 0.2)
    url = serve(gm_env.foundry)
    result = await gm_env.h.slash(
        gm_env.maintainer, gm_env.channel, "release publish", package="my-module", manifest=url
    )
    assert "The confirmation expired; nothing was released." in result.text
    assert len(posts(gm_env.foundry)) == 1
    assert gm_env.foundry.published["my-module"] == ["1.0.0"]
    assert not gm_env.h.messages_in(gm_env.announce)


async def test_a_failing_dry_run_shows_no_buttons_and_releases_nothing(gm_env):
    url = serve(gm_env.foundry, manifest_doc(version="1.0.0"), path="v1.0.0/module.json")
    result = await gm_env.h.slash(
        gm_env.maintainer, gm_env.channel, "release publish", package="my-module", manifest=url
    )
    assert "Version 1.0.0 of my-module is already published." in result.text
    assert not any(m.buttons for m in result.messages)
    assert len(posts(gm_env.foundry)) == 1


async def test_a_rate_limited_release_after_confirm_is_reported_and_remembered(gm_env):
    h = gm_env.h
    task, preview_id = await start_publish(gm_env)
    gm_env.foundry.fail_next(429, "Too Many Requests", content_type="text/plain", headers={"Retry-After": "30"})
    await h.click(gm_env.maintainer, preview_id, label="Confirm")
    result = await task
    assert re.search(r"try again <t:\d+:R>", result.text), result.text
    assert gm_env.foundry.published["my-module"] == ["1.0.0"]
    assert not h.messages_in(gm_env.announce)
    assert await gm_env.app.releases.store.cooldown_until("my-module") is not None


@pytest.mark.parametrize("settings_overrides", [{"announce_channel_id": None}])
async def test_without_an_announce_channel_the_release_is_not_announced(gm_env):
    h = gm_env.h
    task, preview_id = await start_publish(gm_env)
    await h.click(gm_env.maintainer, preview_id, label="Confirm")
    result = await task
    assert "Released my-module 1.2.0" in result.text
    assert not [r for r in h.fake.requests if r.route.startswith("POST /channels/")]
    assert len(result.messages) == 1  # no warning either


@pytest.mark.parametrize("settings_overrides", [{"announce_channel_id": 1234567890123}])
async def test_an_unknown_announce_channel_is_told_to_the_maintainer(gm_env):
    h = gm_env.h
    task, preview_id = await start_publish(gm_env)
    await h.click(gm_env.maintainer, preview_id, label="Confirm")
    result = await task

    assert gm_env.foundry.published["my-module"] == ["1.0.0", "1.2.0"]
    [reply] = result.messages
    assert reply.ephemeral and "Released my-module 1.2.0" in reply.text
    assert field_map(reply.embeds[0])["Warning"] == (
        "The bot could not post the announcement in <#1234567890123>: "
        "Discord does not know that channel (check ANNOUNCE_CHANNEL_ID)"
    )


async def test_an_announce_channel_without_permission_is_told_to_the_maintainer(gm_env):
    h = gm_env.h
    announce_id = gm_env.announce.id
    real_routes = list(h.fake._routes)

    async def missing_permissions(rec, channel_id):
        if int(channel_id) == announce_id:
            return h.fake._error(403, 50013, "Missing Permissions")
        return await dict((p.pattern, f) for _, p, f in real_routes)[route.pattern](rec, channel_id=channel_id)

    route = next(p for m, p, _ in real_routes if m == "POST" and p.match("/channels/1/messages"))
    h.fake._routes.insert(0, ("POST", route, missing_permissions))

    task, preview_id = await start_publish(gm_env)
    await h.click(gm_env.maintainer, preview_id, label="Confirm")
    result = await task

    assert gm_env.foundry.published["my-module"] == ["1.0.0", "1.2.0"]
    [reply] = result.messages
    assert reply.ephemeral and "Released my-module 1.2.0" in reply.text
    assert f"could not post the announcement in <#{announce_id}>: the bot lacks permission there" in reply.text


# --- Who may release ------------------------------------------------------------------------------


async def test_a_member_without_the_maintainer_role_is_refused(gm_env):
    url = serve(gm_env.foundry)
    for command in ("release dry-run", "release publish"):
        result = await gm_env.h.slash(gm_env.player, gm_env.channel, command, package="my-module", manifest=url)
        assert result.text == "Only members with the Maintainer role can release my-module."
        assert result.ephemeral
    assert not gm_env.foundry.requests


async def test_in_a_dm_the_command_is_refused(gm_env):
    await gm_env.h.sync()  # also offer the commands globally, as --sync-global does (so in DMs too)
    url = serve(gm_env.foundry)
    result = await gm_env.h.slash(
        gm_env.maintainer, gm_env.h.dm(gm_env.maintainer), "release dry-run", package="my-module", manifest=url
    )
    assert "only in the campaign's server" in result.text
    assert not gm_env.foundry.requests


@pytest.mark.parametrize("settings_overrides", [{"maintainer_role": '{"*": "Maintainer", "other-module": "GM"}'}])
async def test_the_maintainer_role_can_differ_per_package(gm_env):
    mine = serve(gm_env.foundry)
    other = serve(gm_env.foundry, manifest_doc(package="other-module"), path="other/v1.2.0/module.json")

    assert "Dry run passed" in (await dry_run(gm_env, package="my-module", manifest=mine)).text
    refused = await dry_run(gm_env, package="other-module", manifest=other)
    assert refused.text == "Only members with the GM role can release other-module."
    assert (
        "Dry run passed — other-module"
        in (await dry_run(gm_env, who=gm_env.gm, package="other-module", manifest=other)).text
    )
    refused = await dry_run(gm_env, who=gm_env.gm, package="my-module", manifest=mine)
    assert refused.text == "Only members with the Maintainer role can release my-module."
    assert [r.body["id"] for r in posts(gm_env.foundry)] == ["my-module", "other-module"]


@pytest.mark.parametrize(
    "settings_overrides",
    [{"release_tokens": {"my-module": RELEASE_TOKEN, "other-module": OTHER_TOKEN, "my-system": RELEASE_TOKEN}}],
)
async def test_package_autocomplete_lists_only_packages_with_tokens(gm_env):
    choices = await gm_env.h.autocomplete(gm_env.maintainer, gm_env.channel, "release dry-run", "package", "")
    assert [c["value"] for c in choices] == ["my-module", "my-system", "other-module"]
    choices = await gm_env.h.autocomplete(gm_env.maintainer, gm_env.channel, "release publish", "package", "oth")
    assert [c["value"] for c in choices] == ["other-module"]
    assert await gm_env.h.autocomplete(gm_env.maintainer, gm_env.channel, "release dry-run", "package", "zzz") == []


# --- What is kept ---------------------------------------------------------------------------------


async def test_every_attempt_is_logged_with_who_options_status_and_answer_and_no_token(gm_env):
    h = gm_env.h
    url = serve(gm_env.foundry)
    await dry_run(gm_env, package="my-module", manifest=url)
    await dry_run(gm_env, package="my-module", manifest=gm_env.foundry.base_url + "/releases/latest/module.json")
    gm_env.foundry.fail_next_with_proxy_page(502, "Bad Gateway")
    await dry_run(gm_env, package="my-module", manifest=url)
    task, preview_id = await start_publish(gm_env)
    await h.click(gm_env.maintainer, preview_id, label="Confirm")
    await task
    gm_env.foundry.fail_next(429, "", content_type="text/plain", headers={"Retry-After": "60"})
    await dry_run(gm_env, package="my-module", manifest=url)
    await dry_run(gm_env, package="my-module", manifest=url)

    history = list(reversed(await gm_env.app.releases.store.history("my-module")))

    actor = f"dev ({gm_env.maintainer.id})"
    assert all(row["actor"] == actor for row in history)
    assert [(row["status"], row["http_status"], bool(row["dry_run"])) for row in history] == [
        ("success", 200, True),
        ("preflight-failed", None, True),
        ("failed", 502, True),
        ("success", 200, True),  # publish: its dry run
        ("success", 200, False),  # publish: the release
        ("rate-limited", 429, True),
        ("cooldown", None, True),
    ]
    first = json.loads(history[0]["options"])
    assert first == {
        "package_id": "my-module",
        "version": "1.2.0",
        "manifest": url,
        "minimum": "12",
        "verified": "13",
        "maximum": None,
        "notes": None,
    }
    assert history[0]["answer"].startswith("Dry run completed successfully")
    assert "/releases/latest/" in history[1]["answer"]
    assert history[2]["answer"] == "Foundry's release API answered 502: foundryvtt.com | 502: Bad Gateway."
    assert history[4]["version"] == "1.2.0" and history[4]["answer"] == PAGE

    database = gm_env.bot.settings.database_path.read_bytes()
    for secret in (RELEASE_TOKEN, OTHER_TOKEN):
        assert secret.encode() not in database and secret[6:].encode() not in database


async def test_no_token_reaches_discord_or_the_logs_even_when_foundry_echoes_it(gm_env, caplog):
    h = gm_env.h
    hits_before = len(SCANNER.hits)
    url = serve(gm_env.foundry)
    # A debug page that echoes the request headers, token included.
    gm_env.foundry.fail_next(500, f"<html><body>Authorization: {RELEASE_TOKEN}</body></html>")
    gm_env.foundry.fail_next(
        400,
        errors_body({"__all__": [{"message": f"bad token {RELEASE_TOKEN}", "code": "x"}]}),
        content_type="application/json",
    )
    echoed = await dry_run(gm_env, package="my-module", manifest=url)
    rejected = await dry_run(gm_env, package="my-module", manifest=url)
    task, preview_id = await start_publish(gm_env)
    await h.click(gm_env.maintainer, preview_id, label="Confirm")
    await task

    assert "[token]" in echoed.text and "[token]" in rejected.text
    sent = [json.dumps(r.json) for r in h.fake.requests if r.json is not None]
    logged = [record.getMessage() for record in caplog.records]
    assert len(sent) > 5 and logged
    for text in sent + logged:
        assert RELEASE_TOKEN not in text and RELEASE_TOKEN[6:] not in text
    history = await gm_env.app.releases.store.history()
    assert RELEASE_TOKEN not in json.dumps(history)
    assert SCANNER.hits[hits_before:] == []
    assert_nothing_secret_sent(gm_env)
