"""The changelog in the announcement: a GitHub release's body (through the stand-in of GitHub's REST API) or the
version's section of a CHANGELOG.md, clipped to Discord's limits on a line boundary, mentions disabled; a failure
only leaves it out, with a note, and never blocks the release."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from release import ChangelogReader, clip_markdown, section_for
from release.network import Answer
from tests.helpers import run_until_button
from tests.stand_ins.github_api import StandInGitHub
from tests.test_release_cli import cli, discord_api, discord_env  # noqa: F401 - fixtures
from tests.test_release_commands import field_map, serve

GITHUB_TOKEN = "ghp_4a7c1e9b3d5f7a9c1e3b5d7f9a1c3e5b7d9f"
PUBLIC_PAGE = "https://foundryvtt.com/packages/my-module"
BODY = "## Fixed\n- The compendium opens again (#41)\n- Thanks @everyone who reported it\n\n<!-- hidden note -->"


@pytest.fixture
async def github():
    async with StandInGitHub(token=GITHUB_TOKEN) as stand_in:
        yield stand_in


async def publish(env, notes: str):
    task, preview = await run_until_button(
        env.h,
        env.maintainer,
        env.channel,
        "release publish",
        package="my-module",
        manifest=serve(env.foundry),
        notes=notes,
    )
    shown = env.h.fake.messages[preview]
    await env.h.click(env.maintainer, preview, label="Confirm")
    result = await task
    [post] = env.h.messages_in(env.announce)
    return result, shown, post


@pytest.fixture
def reads_github(gm_env, github):
    gm_env.app.releases.changelog.api_base = github.base_url  # api.github.com in production
    return github


async def test_a_github_release_body_is_the_announcement(gm_env, reads_github):
    notes = reads_github.add_release("owner", "my-module", "v1.2.0", body=BODY)

    result, preview, post = await publish(gm_env, notes)

    [embed] = post.embeds
    assert embed.description == (
        "## Fixed\n- The compendium opens again (#41)\n- Thanks @\u200beveryone who reported it"
    )
    assert post.allowed_mentions == {"parse": []}
    fields = field_map(embed)
    assert fields["Package page"] == PUBLIC_PAGE and fields["Release notes"] == notes
    assert "From the GitHub release v1.2.0; it goes in the announcement." in json.dumps(preview.payload)
    [request] = reads_github.requests
    assert request.path == "/repos/owner/my-module/releases/tags/v1.2.0"
    assert request.auth == "missing"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert "Released my-module 1.2.0" in result.text


@pytest.mark.parametrize("settings_overrides", [{"github_token": GITHUB_TOKEN}])
async def test_github_token_is_sent_to_github_only(gm_env, reads_github, caplog):
    notes = reads_github.add_release("owner", "my-module", "v1.2.0", body=BODY)
    reads_github.anonymous_budget = 0  # anonymous requests would be refused

    result, _, post = await publish(gm_env, notes)

    assert post.embeds[0].description.startswith("## Fixed")
    assert [r.auth for r in reads_github.requests] == ["token"]
    assert not [
        r for r in gm_env.foundry.requests if "Authorization" in r.headers or r.auth != "missing" and r.method == "GET"
    ]
    sent = json.dumps([r.json for r in gm_env.h.fake.requests if r.json is not None])
    assert GITHUB_TOKEN not in sent and GITHUB_TOKEN[4:20] not in sent
    assert GITHUB_TOKEN[4:20] not in caplog.text


@pytest.mark.parametrize(
    ("setup", "note"),
    [
        (lambda gh: None, "GitHub has no published release v1.2.0 in owner/my-module"),
        (
            lambda gh: setattr(gh, "anonymous_budget", 0),
            "GitHub's API rate limit is used up (set GITHUB_TOKEN for a higher limit)",
        ),
        (
            lambda gh: gh.add_release("owner", "my-module", "v1.2.0", body=None),
            "the GitHub release v1.2.0 has no description",
        ),
    ],
    ids=["missing", "rate-limited", "empty"],
)
async def test_a_changelog_that_cannot_be_read_is_left_out_with_a_note(gm_env, reads_github, setup, note):
    setup(reads_github)
    notes = "https://github.com/owner/my-module/releases/tag/v1.2.0"

    result, preview, post = await publish(gm_env, notes)

    expected = f"The changelog was left out of the announcement: {note}."
    assert expected in json.dumps(preview.payload, ensure_ascii=False)
    assert field_map(result.response.embeds[0])["Changelog"] == expected
    assert gm_env.foundry.published["my-module"] == ["1.0.0", "1.2.0"]  # released all the same
    assert not post.embeds[0].description
    assert field_map(post.embeds[0])["Release notes"] == notes


async def test_an_over_long_changelog_is_clipped_on_a_line_with_a_link_to_the_full_notes(gm_env, reads_github):
    body_lines = [f"- Change number {n}: " + " ".join(["detail"] * 12) for n in range(400)]
    notes = reads_github.add_release("owner", "my-module", "v1.2.0", body="\n".join(body_lines))

    _, _, post = await publish(gm_env, notes)

    description = post.embeds[0].description
    assert len(description) <= 4096
    *kept, link = description.split("\n")
    assert link == f"… [full notes]({notes})"
    assert kept == body_lines[: len(kept)] and 10 < len(kept) < 400
    assert len(json.dumps(post.embeds[0].to_dict())) < 6000 + 1000  # within the message total (JSON overhead aside)


async def test_a_changelog_file_gives_the_section_of_the_version(gm_env):
    changelog = (
        "# Changelog\n\n## [1.2.1] - unreleased\n- Not yet\n\n## [1.2.0] - 2026-12-01\n### Added\n- Dark mode\n\n"
        "### Fixed\n- Tokens\n\n## [1.1.0]\n- Old things\n"
    )
    notes = gm_env.foundry.serve_manifest("owner/my-module/main/CHANGELOG.md", changelog, content_type="text/markdown")

    result, _, post = await publish(gm_env, notes)

    assert post.embeds[0].description == "### Added\n- Dark mode\n\n### Fixed\n- Tokens"
    assert (
        field_map(result.response.embeds[0])["Changelog"]
        == "From CHANGELOG.md, section 1.2.0; it goes in the announcement."
    )


async def test_a_changelog_file_without_the_version_is_left_out(gm_env):
    notes = gm_env.foundry.serve_manifest("o/CHANGELOG.md", "# Changelog\n## 1.1.0\n- old\n## 11.2.0\n- other\n")
    result, _, post = await publish(gm_env, notes)
    assert not post.embeds[0].description
    assert field_map(result.response.embeds[0])["Changelog"] == (
        "The changelog was left out of the announcement: CHANGELOG.md has no section whose heading names version 1.2.0."
    )


async def test_the_command_line_announces_the_changelog(cli, github, discord_api):  # noqa: F811
    notes = github.add_release("owner", "my-module", "v1.2.0", body=BODY)
    env = discord_env(discord_api)
    env["seams"] = {**env["seams"], "github_api": github.base_url}

    run = await cli(
        "release", "publish", "--package", "my-module", "--manifest", cli.url, "--yes", "--notes", notes, **env
    )

    assert run.code == 0, run.err
    [message_id] = discord_api.channel_messages[555000111]
    [embed] = discord_api.messages[message_id].payload["embeds"]
    assert embed["description"].startswith("## Fixed\n- The compendium opens again (#41)")
    assert discord_api.messages[message_id].allowed_mentions == {"parse": []}


@pytest.mark.parametrize(
    ("markdown", "version", "expected"),
    [
        ("## v1.2.0\n- a\n## v1.1.0\n- b", "1.2.0", "- a"),
        ("# 1.2.0 (2026)\n- a\n## detail\n- c\n# 1.1.0\n- b", "1.2.0", "- a\n## detail\n- c"),
        ("## 1.2.0-beta\n- beta\n## 1.2.0\n- final", "1.2.0", "- final"),
        ("## 11.2.0\n- no\n## 1.2.0.1\n- no", "1.2.0", None),
        ("## Version 1.2.0\r\n- windows\r\n", "1.2.0", "- windows"),
        ("no headings at all 1.2.0", "1.2.0", None),
    ],
)
def test_section_for(markdown, version, expected):
    assert section_for(markdown, version) == expected


def test_clipping_inside_a_code_block_closes_it():
    text = "intro\n```\n" + "\n".join(f"line {n}" for n in range(500)) + "\n```"
    clipped = clip_markdown(text, 300, "https://example.org/notes")
    assert len(clipped) <= 300
    body, link = clipped.rsplit("\n", 1)
    assert link == "… [full notes](https://example.org/notes)"
    assert body.count("```") == 2


class RecordingFetcher:
    """Stands in for release/network.py's Fetcher: records the URL asked for, answers with a CHANGELOG.md."""

    def __init__(self):
        self.urls: list[str] = []

    async def get(self, url, *, limit, timeout, headers=None):
        self.urls.append(url)
        body = b"# Changes\n## 1.2.0\n- From the blob\n"
        return Answer(200, url, CIMultiDictProxy(CIMultiDict()), "text/plain", body, False)


async def test_a_changelog_blob_page_on_github_is_read_raw():
    fetcher = RecordingFetcher()
    reader = ChangelogReader(fetcher)

    changelog = await reader.read("https://github.com/owner/my-module/blob/main/CHANGELOG.md", "1.2.0")

    assert fetcher.urls == ["https://raw.githubusercontent.com/owner/my-module/main/CHANGELOG.md"]
    assert changelog.text == "- From the blob"


async def test_notes_that_are_neither_a_release_nor_markdown_are_not_fetched():
    fetcher = RecordingFetcher()
    changelog = await ChangelogReader(fetcher).read("https://example.org/my-module/releases/v1.2.0", "1.2.0")
    assert fetcher.urls == [] and changelog.text is None and changelog.missing is None
