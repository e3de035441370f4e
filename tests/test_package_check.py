"""The package Foundry will install, checked before Foundry is called: the zip behind the manifest's `download`,
read with Range requests (its end and its one manifest), through /release dry-run and publish and the command line.
"""

from __future__ import annotations

import io
import json
import random
import zipfile

import pytest

from tests.stand_ins.package_zips import build_zip, not_a_zip
from tests.test_release_cli import cli  # noqa: F401 - the command-line fixture
from tests.test_release_commands import dry_run, field_map, lines, manifest_doc, posts

PATH = "manifests/my-module/v1.2.0/module.json"
NOISE = random.Random(7).randbytes(300_000)  # a file that does not compress away


def serve_with_zip(foundry, served, doc=None, path=PATH) -> tuple[str, object]:
    """The release's manifest, whose download is `served` (a ServedZip)."""
    doc = manifest_doc() if doc is None else doc
    download = foundry.serve_zip(f"downloads/{len(foundry.zips)}/my-module.zip", served)
    return foundry.serve_manifest(path, {**doc, "download": download}), served


def problems(result) -> list[str]:
    return [line.removeprefix("• ") for line in lines(result) if line.startswith("• ")]


async def test_the_right_zip_passes_reading_only_its_end_and_its_manifest(gm_env):
    url, served = serve_with_zip(gm_env.foundry, build_zip(manifest_doc(), extra={"big.db": NOISE}))

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert result.response.embeds[0].title == "Dry run passed — my-module 1.2.0"
    checked = field_map(result.response.embeds[0])["Checked"]
    assert "The manifest describes this release (id, version and compatibility)." in checked
    assert "The zip holds module.json with this release's id, version and compatibility" in checked
    assert "read with Range requests" in checked
    assert all(answer.startswith("206 ") for answer in served.served), served.served
    assert served.bytes_sent < served.size  # not the whole zip
    assert len(posts(gm_env.foundry)) == 1


async def test_a_huge_zip_is_checked_through_two_small_ranges(gm_env):
    # 3 GB between the files and the list of files: only the end and the manifest are read.
    url, served = serve_with_zip(gm_env.foundry, build_zip(manifest_doc(), gap=3 * 1024**3))

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert "Dry run passed" in result.text, result.text
    assert "of its 3.0 GB read with Range requests" in field_map(result.response.embeds[0])["Checked"]
    assert served.bytes_sent < 200_000
    assert len(served.served) <= 3


@pytest.mark.parametrize(
    ("zip_doc", "expected"),
    [
        (
            manifest_doc(package="their-module"),
            ["module.json inside the zip says id their-module; the release is for my-module."],
        ),
        (manifest_doc(version="1.1.9"), ["module.json inside the zip says version 1.1.9; the release is 1.2.0."]),
        (
            manifest_doc(verified="12", maximum="14"),
            [
                "module.json inside the zip says compatibility.verified 12; the release says 13.",
                "module.json inside the zip says compatibility.maximum 14; the release has none.",
            ],
        ),
        (
            {**manifest_doc(version="1.1.9", package="their-module"), "compatibility": {}},
            [
                "module.json inside the zip says id their-module; the release is for my-module.",
                "module.json inside the zip says version 1.1.9; the release is 1.2.0.",
                "module.json inside the zip has no compatibility.minimum; the release says 12.",
                "module.json inside the zip has no compatibility.verified; the release says 13.",
            ],
        ),
    ],
    ids=["wrong-id", "wrong-version", "wrong-compatibility", "everything-wrong"],
)
async def test_each_way_the_zip_differs_is_its_own_line_and_nothing_is_sent(gm_env, zip_doc, expected):
    url, _ = serve_with_zip(gm_env.foundry, build_zip(zip_doc))

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert problems(result) == expected
    assert lines(result)[0] == (
        f"Version 1.2.0 of my-module is not ready to release ({len(expected)} problem{'s' if len(expected) > 1 else ''})."
    )
    assert not posts(gm_env.foundry)


async def test_a_manifest_in_one_top_folder_is_what_foundry_installs(gm_env):
    url, _ = serve_with_zip(gm_env.foundry, build_zip(manifest_doc(), folder="my-module"))
    result = await dry_run(gm_env, package="my-module", manifest=url)
    assert "The zip holds my-module/module.json with this release's id" in result.text, result.text


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        (
            build_zip(manifest_doc(), folder="dist/my-module"),
            "holds dist/my-module/module.json, too deep for Foundry's installer",
        ),
        (build_zip(None), "holds no module.json (at its root or in one top folder): Foundry could not install it."),
        (build_zip(manifest_doc(), name="system.json"), "holds system.json but no module.json."),
        (not_a_zip(), "is not a zip."),
        (build_zip("{ not json"), "module.json inside the zip is not JSON"),
    ],
    ids=["two-folders-down", "no-manifest", "other-type", "not-a-zip", "broken-json"],
)
async def test_a_zip_foundry_could_not_install_is_refused(gm_env, served, expected):
    url, _ = serve_with_zip(gm_env.foundry, served)

    result = await dry_run(gm_env, package="my-module", manifest=url)

    [problem] = problems(result)
    assert expected in problem, problem
    assert not posts(gm_env.foundry)


async def test_a_server_without_range_support_is_streamed_and_said(gm_env):
    served = build_zip(manifest_doc(), extra={"pack.db": NOISE})
    served.ranges = False
    url, _ = serve_with_zip(gm_env.foundry, served)

    result = await dry_run(gm_env, package="my-module", manifest=url)

    checked = field_map(result.response.embeds[0])["Checked"]
    assert "The download's server ignores Range requests: the whole zip (" in checked
    assert "The zip holds module.json with this release's id, version and compatibility (the whole" in checked
    assert served.served == ["200"]


@pytest.mark.parametrize("content_length", [True, False], ids=["declared-size", "chunked"])
async def test_a_huge_zip_without_range_support_is_read_up_to_the_cap_only(gm_env, content_length):
    gm_env.app.releases.package.stream_max = 1_000_000  # 100 MB in production (release/package.py)
    served = build_zip(manifest_doc(), gap=5_000_000)
    served.ranges = False
    served.content_length = content_length
    url, _ = serve_with_zip(gm_env.foundry, served)

    result = await dry_run(gm_env, package="my-module", manifest=url)

    [problem] = problems(result)
    assert "is served without Range support and is larger than 977 KB, more than the bot reads" in problem
    assert "(GitHub release assets do)" in problem
    assert not posts(gm_env.foundry)


async def test_a_download_that_redirects_like_githubs_is_followed(gm_env):
    foundry = gm_env.foundry
    served = build_zip(manifest_doc())
    storage = foundry.serve_zip("storage/signed/abc123.zip", served)
    download = foundry.serve_redirect("owner/my-module/releases/download/v1.2.0/module.zip", storage)
    url = foundry.serve_manifest(PATH, {**manifest_doc(), "download": download})

    result = await dry_run(gm_env, package="my-module", manifest=url)

    assert "Dry run passed" in result.text, result.text
    assert all(answer.startswith("206 ") for answer in served.served)


async def test_a_missing_download_a_latest_download_and_a_404_are_each_named(gm_env):
    foundry = gm_env.foundry
    bare = foundry.serve_manifest("bare/v1.2.0/module.json", manifest_doc(), package=False)
    latest = foundry.serve_manifest(
        "pinned/v1.2.0/module.json",
        {
            **manifest_doc(),
            "download": foundry.serve_zip("o/r/releases/latest/download/m.zip", build_zip(manifest_doc())),
        },
    )
    gone = foundry.serve_manifest(
        "gone/v1.2.0/module.json", {**manifest_doc(), "download": foundry.base_url + "/no.zip"}
    )

    assert problems(await dry_run(gm_env, package="my-module", manifest=bare)) == [
        "The manifest has no download URL, so Foundry has no zip to install: add it (a package without a zip is "
        "released with package_check: False, or --skip-package-check)."
    ]
    assert problems(await dry_run(gm_env, package="my-module", manifest=latest)) == [
        "The manifest's download URL points at the latest release (a /latest/ URL); it must point at this version's "
        "zip, or users on older Foundry versions install the newest build."
    ]
    assert problems(await dry_run(gm_env, package="my-module", manifest=gone)) == [
        f"The package zip at {foundry.base_url}/no.zip answered HTTP 404 (text/html)."
    ]
    assert not posts(foundry)


async def test_package_check_false_skips_the_zip_and_says_so(gm_env):
    url = gm_env.foundry.serve_manifest("nozip/v1.2.0/module.json", manifest_doc(), package=False)

    result = await dry_run(gm_env, package="my-module", manifest=url, package_check=False)

    checked = field_map(result.response.embeds[0])["Checked"]
    assert checked.splitlines() == [
        "The manifest describes this release (id, version and compatibility).",
        "Package check skipped (package_check: False, or --skip-package-check): the zip Foundry installs was not "
        "checked.",
    ]
    assert len(posts(gm_env.foundry)) == 1


async def test_publish_checks_the_zip_before_anything_is_released(gm_env):
    url, _ = serve_with_zip(gm_env.foundry, build_zip(manifest_doc(version="1.1.9")))

    result = await gm_env.h.slash(
        gm_env.maintainer, gm_env.channel, "release publish", package="my-module", manifest=url
    )

    assert "module.json inside the zip says version 1.1.9; the release is 1.2.0." in result.text
    assert not any(m.buttons for m in result.messages)
    assert not posts(gm_env.foundry)  # not even the dry run


@pytest.mark.parametrize(
    ("compatibility", "expected"),
    [
        ({"minimum": "13", "verified": "12"}, "compatibility.verified (12) is below compatibility.minimum (13)"),
        (
            {"minimum": "12", "verified": "13", "maximum": "12"},
            "compatibility.verified (13) is beyond compatibility.maximum (12)",
        ),
        (
            {"minimum": "12", "verified": "12.5", "maximum": "12.4"},
            "compatibility.verified (12.5) is beyond compatibility.maximum (12.4)",
        ),
    ],
    ids=["verified-below-minimum", "verified-beyond-maximum-generation", "verified-beyond-maximum-build"],
)
async def test_a_compatibility_range_that_contradicts_itself_is_refused(gm_env, compatibility, expected):
    doc = {**manifest_doc(), "compatibility": compatibility}
    url = gm_env.foundry.serve_manifest("range/v1.2.0/module.json", doc)
    result = await dry_run(gm_env, package="my-module", manifest=url)
    [problem] = problems(result)
    assert problem.startswith(expected), problem
    assert not posts(gm_env.foundry)


async def test_a_generation_maximum_covers_its_builds(gm_env):
    # "maximum": "12" is every 12.x build, as Foundry reads it: verified 12.331 is within it.
    doc = {**manifest_doc(), "compatibility": {"minimum": "12", "verified": "12.331", "maximum": "12"}}
    url = gm_env.foundry.serve_manifest("gen/v1.2.0/module.json", doc)
    assert "Dry run passed" in (await dry_run(gm_env, package="my-module", manifest=url)).text


async def test_values_read_from_the_zip_are_echoed_inert(gm_env):
    url, _ = serve_with_zip(gm_env.foundry, build_zip(manifest_doc(version="**1.2.0** @everyone [x](https://evil)")))

    result = await dry_run(gm_env, package="my-module", manifest=url)

    [problem] = problems(result)
    assert "@everyone" not in problem and "@\u200beveryone" in problem
    assert "\\*\\*1.2.0\\*\\*" in problem and "\\[x\\]" in problem


def test_the_stand_in_zips_are_real_zips():
    served = build_zip(manifest_doc(), folder="my-module")
    with zipfile.ZipFile(io.BytesIO(served.slice(0, served.size))) as zf:
        assert json.loads(zf.read("my-module/module.json"))["version"] == "1.2.0"


# --- The command line -----------------------------------------------------------------------------


async def test_the_command_line_names_each_mismatch_and_exits_1(cli, foundry):  # noqa: F811
    url, _ = serve_with_zip(foundry, build_zip(manifest_doc(version="1.1.9", package="their-module")))

    run = await cli("release", "dry-run", "--package", "my-module", "--manifest", url)

    assert run.code == 1
    assert run.err.splitlines() == [
        "Version 1.2.0 of my-module is not ready to release (2 problems).",
        "module.json inside the zip says id their-module; the release is for my-module.",
        "module.json inside the zip says version 1.1.9; the release is 1.2.0.",
    ]
    assert not posts(foundry)


async def test_the_command_line_skips_the_package_check_only_when_asked_and_says_so(cli, foundry):  # noqa: F811
    url = foundry.serve_manifest("nozip/v1.2.0/module.json", manifest_doc(), package=False)

    checked = await cli("release", "dry-run", "--manifest", url)
    skipped = await cli("release", "dry-run", "--manifest", url, "--skip-package-check", "--json")

    assert checked.code == 1 and "The manifest has no download URL" in checked.err
    assert skipped.code == 0, skipped.out
    data = json.loads(skipped.out)
    assert data["data"]["package_check"] == "skipped"
    assert any(f["name"] == "Checked" and "Package check skipped" in f["value"] for f in data["fields"])
    assert data["data"]["package"] == "my-module"  # read from the manifest: no --package given
