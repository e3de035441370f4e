"""The action's report: turns the command-line twin's JSON answer into what GitHub shows.

    python action/report.py RESULT.json EXIT_CODE

- step outputs (`$GITHUB_OUTPUT`): status (success, error, unknown), page, message, released (true, false, unknown);
- a job summary (`$GITHUB_STEP_SUMMARY`): the checks passed, the release, the announcement;
- workflow commands on stdout: one `::error::` per line of a failure (one per Foundry field error), a
  `::warning::` per warning (an announcement that could not be posted).
Exits with EXIT_CODE, so a failed check or release fails the step. Standard library only.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import sys
from pathlib import Path

TITLE = "Foundry release"


def command_text(text: str) -> str:
    """A workflow command's message, escaped as GitHub's runner reads it (so no text can start another command)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def markdown_text(text: str) -> str:
    """Plain text as inert Markdown for the summary (no HTML, no links, no table breaks)."""
    text = html.escape(text, quote=False)
    for ch in "\\`*_[]|#<>!":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", "<br>")


def write_outputs(path: str | None, values: dict[str, str]) -> None:
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for name, value in values.items():
            delimiter = f"EOF_{secrets.token_hex(8)}"  # a value can never end the block early
            out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def read_result(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def report(result: dict, code: int) -> tuple[dict[str, str], list[str], list[str]]:
    """(outputs, summary lines, workflow commands)."""
    if not result:
        error = f"The release tool printed no answer (exit code {code}); its error is in the step's log."
        return (
            {"status": "error", "page": "", "message": error, "released": "false"},
            [f"## {TITLE}: failed", "", markdown_text(error)],
            [f"::error title={TITLE}::{command_text(error)}"],
        )
    if not result.get("ok"):
        lines = [result.get("error") or "The release failed.", *result.get("details", [])]
        summary = [f"## {TITLE}: failed", ""] + [f"- {markdown_text(line)}" for line in lines]
        commands = [f"::error title={TITLE}::{command_text(line)}" for line in lines]
        return {"status": "error", "page": "", "message": "\n".join(lines), "released": "false"}, summary, commands
    data = result.get("data") or {}
    released = result.get("released")
    fields = [(f.get("name", ""), f.get("value", "")) for f in result.get("fields", [])]
    warnings = list(data.get("warnings") or [])
    title = result.get("title") or "Foundry release"
    summary = [f"## {markdown_text(title)}", ""]
    if result.get("description"):
        summary += [markdown_text(result["description"]), ""]
    if fields:
        summary += ["| | |", "|---|---|"]
        summary += [f"| {markdown_text(name)} | {markdown_text(value)} |" for name, value in fields]
        summary.append("")
    if "announced" in result:
        summary.append(
            "Announced on Discord."
            if result["announced"]
            else f"Not announced: {markdown_text(warnings[-1] if warnings else '')}"
        )
    commands = [f"::warning title={TITLE}::{command_text(w)}" for w in warnings]
    if released is None and data.get("uncertain"):
        message = result.get("description") or ""
        commands.append(f"::error title={TITLE}::{command_text(message)}")
        return (
            {"status": "unknown", "page": result.get("url") or "", "message": message, "released": "unknown"},
            summary,
            commands,
        )
    outputs = {
        "status": "success",
        "page": data.get("page") or result.get("url") or "",
        "message": data.get("message") or title,
        "released": "true" if released else "false",
    }
    return outputs, summary, commands


def main(argv: list[str]) -> int:
    result_path, code = Path(argv[1]), int(argv[2])
    outputs, summary, commands = report(read_result(result_path), code)
    write_outputs(os.environ.get("GITHUB_OUTPUT"), outputs)
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as out:
            out.write("\n".join(summary) + "\n")
    for command in commands:
        print(command)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
