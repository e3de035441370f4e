"""The composite GitHub Action (action.yml), its steps run as GitHub's runner runs them (tests/action_runner.py):
the runner's environment, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, against the stand-in Foundry API, the
stand-in of GitHub's REST API and the fake Discord. actionlint checks the README's workflows and the action's steps.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.action_runner import ROOT, read_action, run_action
from tests.cli_runner import SEAMED
from tests.conftest import RELEASE_TOKEN
from tests.stand_ins.foundry_api import DRY_RUN_MESSAGE
from tests.stand_ins.github_api import StandInGitHub
from tests.stand_ins.package_zips import build_zip
from tests.test_release_cli import DISCORD_TOKEN, discord_api, manifest_doc  # noqa: F401 - fixture

JOB_TOKEN = "ghs_jobtoken7c1d9e3f5a7b9c1d3e5f7a9b1c"
EDIT_PAGE = "https://foundryvtt.com/packages/my-module/edit/"
PUBLIC_PAGE = "https://foundryvtt.com/packages/my-module"


def python_shim(folder: Path, seams: dict) -> Path:
    """What setup-python's python-path points at here: this venv's python, with the test seams set inside any
    script it runs (tests/seamed_bot.py), since no network may be reached."""
    shim = folder / "python"
    shim.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f"  *.py) exec {sys.executable} {SEAMED} '{json.dumps(seams)}' \"$@\" ;;\n"
        f'  *) exec {sys.executable} "$@" ;;\n'
        "esac\n"
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return shim


@pytest.fixture
async def github():
    async with StandInGitHub(token=JOB_TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
def action(tmp_path, foundry, github, discord_api):  # noqa: F811
    """run(**inputs) -> ActionRun, the job's environment pointing the bot at the stand-ins."""
    used: list[tuple[str, dict]] = []
    shim = python_shim(tmp_path, {"discord_api": discord_api.api_base, "github_api": github.base_url})

    def uses(name: str, with_: dict, context) -> dict:
        used.append((name, with_))
        assert name.startswith("actions/setup-python@"), name
        assert with_["update-environment"] == "false"  # the user's own Python is left alone
        return {"python-path": str(shim), "python-version": "3.11"}

    async def run(**inputs):
        job_env = {
            # Set by the workflow's `env:` here; a real workflow leaves it to the default, Foundry's endpoint.
            "RELEASE_API_URL": foundry.release_url,
            "ALLOW_PRIVATE_MANIFEST_HOSTS": "true",
            # No network here: pip resolves the hashed requirements against the installed packages only.
            "PIP_NO_INDEX": "1",
            "PIP_DRY_RUN": "1",
        }
        result = await run_action(
            {"release-token": RELEASE_TOKEN, **inputs},
            workdir=tmp_path / f"job{len(used)}",
            uses=uses,
            env=job_env,
            github_token=JOB_TOKEN,
        )
        everything = result.summary + json.dumps(result.outputs)
        everything += "".join(s.stdout + s.stderr for s in result.steps)
        for secret in (RELEASE_TOKEN, DISCORD_TOKEN, JOB_TOKEN):
            assert secret not in everything and secret[6:20] not in everything
        return result

    run.used = used
    return run


def serve(foundry, doc=None, path="manifests/my-module/v1.2.0/module.json") -> str:
    return foundry.serve_manifest(path, manifest_doc() if doc is None else doc)


def posts(foundry):
    return [r for r in foundry.requests if r.method == "POST"]


def errors(run) -> list[str]:
    return [line.split("::", 2)[2] for line in run.annotations if line.startswith("::error")]


async def test_a_dry_run_by_default_with_outputs_and_a_summary(action, foundry):
    run = await action(manifest=serve(foundry))

    assert run.code == 0, [s.stderr for s in run.steps]
    assert run.outputs == {"status": "success", "page": EDIT_PAGE, "message": DRY_RUN_MESSAGE, "released": "false"}
    assert "## Dry run passed — my-module 1.2.0" in run.summary
    assert "The zip holds module.json with this release's id, version and compatibility" in run.summary
    [call] = posts(foundry)
    assert call.body["dry-run"] is True and call.auth == "token-of:my-module"
    assert foundry.published["my-module"] == ["1.0.0"]
    assert run.annotations == []


async def test_a_release_with_its_changelog_announced(action, foundry, github, discord_api):  # noqa: F811
    notes = github.add_release("octocat", "my-module", "v1.2.0", body="### Fixed\n- Everything")

    run = await action(
        manifest=serve(foundry),
        notes=notes,
        **{"dry-run": "false", "discord-token": DISCORD_TOKEN, "announce-channel": "555000111"},
    )

    assert run.code == 0, [s.stderr for s in run.steps]
    assert run.outputs["released"] == "true" and run.outputs["status"] == "success"
    assert run.outputs["page"] == EDIT_PAGE
    assert foundry.published["my-module"] == ["1.0.0", "1.2.0"]
    assert "Announced on Discord." in run.summary
    [message_id] = discord_api.channel_messages[555000111]
    [embed] = discord_api.messages[message_id].payload["embeds"]
    assert embed["description"] == "### Fixed\n- Everything" and embed["url"] == PUBLIC_PAGE
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Released by"] == "octocat (GitHub Actions)"
    assert [r.auth for r in github.requests] == ["token"]  # the job's token, for GitHub's rate limit


async def test_each_foundry_field_error_is_its_own_annotation(action, foundry):
    body = {
        "status": "error",
        "errors": {
            "manifest": [{"message": "Enter a valid URL.", "code": "invalid"}],
            "notes": [{"message": "Enter a valid URL.", "code": "invalid"}],
        },
    }
    foundry.fail_next(400, json.dumps(body), content_type="application/json")

    run = await action(manifest=serve(foundry))

    assert run.code == 1
    assert errors(run) == [
        "Foundry rejected version 1.2.0 of my-module.",
        "manifest: Enter a valid URL.",
        "notes: Enter a valid URL.",
    ]
    assert all(line.startswith("::error title=Foundry release::") for line in run.annotations)
    assert run.outputs["status"] == "error" and run.outputs["released"] == "false"
    assert "manifest: Enter a valid URL." in run.outputs["message"]


async def test_a_zip_that_differs_fails_with_one_annotation_per_mismatch(action, foundry):
    download = foundry.serve_zip("bad.zip", build_zip(manifest_doc(version="1.1.9", verified="12")))
    url = serve(foundry, {**manifest_doc(), "download": download})

    run = await action(manifest=url)

    assert run.code == 1
    assert errors(run)[1:] == [
        "module.json inside the zip says version 1.1.9; the release is 1.2.0.",
        "module.json inside the zip says compatibility.verified 12; the release says 13.",
    ]
    assert not posts(foundry)


async def test_package_check_false_is_said_in_the_summary(action, foundry):
    url = foundry.serve_manifest("nozip/v1.2.0/module.json", manifest_doc(), package=False)
    run = await action(manifest=url, **{"package-check": "false"})
    assert run.code == 0
    assert "Package check skipped" in run.summary


async def test_a_release_that_may_have_been_saved_is_unknown(action, foundry):
    foundry.delay_next(0)
    foundry.save_then_fail_next(None, drop=True)

    run = await action(manifest=serve(foundry), **{"dry-run": "false"})

    assert run.code == 3
    assert run.outputs["status"] == "unknown" and run.outputs["released"] == "unknown"
    assert run.outputs["page"] == PUBLIC_PAGE
    [error] = errors(run)
    assert error.startswith("Version 1.2.0 of my-module may have been released: check the package page")


async def test_the_package_id_defaults_to_the_manifests(action, foundry):
    run = await action(manifest=serve(foundry))
    assert posts(foundry)[0].body["id"] == "my-module" and run.code == 0


async def test_a_wrong_dry_run_value_is_refused_before_anything_is_sent(action, foundry):
    run = await action(manifest=serve(foundry), **{"dry-run": "yes"})
    assert run.code == 2
    assert errors(run) == ["dry-run must be true or false"]
    assert not foundry.requests


async def test_the_users_repository_env_file_is_not_read(action, foundry, tmp_path):
    url = serve(foundry)
    (tmp_path / "job0" / "workspace").mkdir(parents=True)
    (tmp_path / "job0" / "workspace" / ".env").write_text("RELEASE_API_URL=http://127.0.0.1:9/nowhere/\n")
    run = await action(manifest=url)
    assert run.code == 0 and len(posts(foundry)) == 1


def test_the_action_installs_its_own_hashed_requirements():
    action = read_action()
    [install] = [s for s in action["runs"]["steps"] if "pip install" in (s.get("run") or "")]
    assert '--require-hashes -r "$GITHUB_ACTION_PATH/requirements.txt"' in install["run"]
    requirements = (ROOT / "requirements.txt").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==\S+ \\$", requirements, re.M)
    assert "discord-py" in pins or "discord.py" in pins
    for block in re.split(r"\n(?=[A-Za-z])", requirements.split("\n", 6)[-1]):
        if block.strip() and not block.startswith("#"):
            assert "--hash=sha256:" in block, block[:80]


def test_the_action_has_the_inputs_and_outputs_maintainers_use():
    action = read_action()
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {
        "manifest",
        "package-id",
        "version",
        "minimum",
        "verified",
        "maximum",
        "notes",
        "dry-run",
        "release-token",
        "discord-token",
        "announce-channel",
        "package-check",
    }
    assert action["inputs"]["dry-run"]["default"] == "true"
    assert action["inputs"]["release-token"]["required"] == "true"
    assert set(action["outputs"]) == {"status", "page", "message", "released"}
    for step in action["runs"]["steps"]:  # inputs reach scripts through env, never inside a script
        assert "${{" not in (step.get("run") or "")


def test_actionlint_accepts_the_readme_workflows_and_the_actions_steps():
    run = subprocess.run([sys.executable, str(ROOT / "action" / "lint.py")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_actionlint_would_catch_an_input_pasted_into_a_script(tmp_path):
    workflow = tmp_path / "bad.yml"
    workflow.write_text(
        "on: [pull_request]\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    run = subprocess.run(["actionlint", "-no-color", str(workflow)], capture_output=True, text=True)
    assert run.returncode == 1 and "potentially untrusted" in run.stdout
