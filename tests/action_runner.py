"""Running action.yml's steps as GitHub's runner runs a composite action, on this machine.

`read_action` reads the action file with a small reader for the YAML it uses (mappings, lists of mappings,
`|` block scalars, quoted and plain scalars, comments); anything else is an error, so the file cannot drift
into YAML this reader would misread. `run_action` then runs each step: `${{ ... }}` expressions in `env`
evaluated from the inputs (their defaults filled in), `github`, `runner` and earlier steps' outputs; each `run`
script through `bash --noprofile --norc -eo pipefail FILE`, as the runner does for `shell: bash`; with the
runner's variables (GITHUB_ACTION_PATH, RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_ACTOR, ...);
a step's outputs read back from its GITHUB_OUTPUT file. A `uses:` step is given to `uses`, which stands in for
that action (setup-python: its `python-path` output).
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_KEY = re.compile(r"^([A-Za-z0-9_.-]+):(?:\s+(.*))?$")


class ActionFileError(Exception):
    pass


def _scalar(text: str):
    text = text.strip()
    if text.startswith('"'):
        if not text.endswith('"') or len(text) < 2:
            raise ActionFileError(f"unterminated string: {text}")
        return text[1:-1].replace('\\"', '"')
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text.startswith(("{", "[", "&", "*", "!", ">")):
        raise ActionFileError(f"YAML this reader does not read: {text}")
    return text


def read_yaml(text: str):
    lines = [
        (len(line) - len(line.lstrip(" ")), line.strip(), line)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    value, end = _block(lines, 0, 0)
    if end != len(lines):
        raise ActionFileError(f"unexpected line: {lines[end][2]}")
    return value


def _block(lines, start: int, indent: int):
    if start < len(lines) and lines[start][1].startswith("- "):
        return _list(lines, start, indent)
    return _mapping(lines, start, indent)


def _mapping(lines, start: int, indent: int):
    out: dict = {}
    i = start
    while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
        match = _KEY.match(lines[i][1])
        if not match:
            raise ActionFileError(f"not a key: {lines[i][2]}")
        key, rest = match.group(1), match.group(2)
        if rest in (None, ""):
            if i + 1 < len(lines) and lines[i + 1][0] > indent:
                out[key], i = _block(lines, i + 1, lines[i + 1][0])
            elif i + 1 < len(lines) and lines[i + 1][0] == indent and lines[i + 1][1].startswith("- "):
                out[key], i = _list(lines, i + 1, indent)
            else:
                out[key], i = None, i + 1
        elif rest == "|":
            body, i = _literal(lines, i + 1, indent)
            out[key] = body
        else:
            out[key], i = _scalar(rest), i + 1
    if i < len(lines) and lines[i][0] > indent:
        raise ActionFileError(f"unexpected indentation: {lines[i][2]}")
    return out, i


def _list(lines, start: int, indent: int):
    items = []
    i = start
    while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
        first = lines[i][2]
        inner = indent + 2
        rewritten = (inner, first[inner:].strip(), " " * inner + first[inner:])
        sub = [rewritten, *lines[i + 1 :]]
        item, used = _mapping(sub, 0, inner)
        items.append(item)
        i += used
    return items, i


def _literal(lines, start: int, indent: int):
    body = []
    i = start
    while i < len(lines) and lines[i][0] > indent:
        body.append(lines[i][2])
        i += 1
    if not body:
        return "", i
    margin = min(len(line) - len(line.lstrip(" ")) for line in body)
    return "\n".join(line[margin:] for line in body) + "\n", i


def read_action(path: Path = ROOT / "action.yml") -> dict:
    return read_yaml(path.read_text(encoding="utf-8"))


@dataclass
class StepRun:
    name: str
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionRun:
    steps: list[StepRun]
    outputs: dict[str, str]
    summary: str

    @property
    def code(self) -> int:
        return next((s.code for s in self.steps if s.code), 0)

    @property
    def annotations(self) -> list[str]:
        return [line for s in self.steps for line in s.stdout.splitlines() if line.startswith("::")]


def read_outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT's two forms: name=value, and name<<DELIMITER ... DELIMITER."""
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, _, value = line.partition("=")
            outputs[name] = value
            i += 1
    return outputs


class Context:
    def __init__(self, inputs: dict[str, str], github: dict[str, str], runner: dict[str, str]):
        self.inputs = inputs
        self.github = github
        self.runner = runner
        self.steps: dict[str, dict[str, str]] = {}

    def evaluate(self, text: str) -> str:
        def one(match: re.Match) -> str:
            expression = match.group(1)
            parts = expression.split(".")
            if parts[0] == "inputs" and len(parts) == 2:
                return self.inputs.get(parts[1], "")
            if parts[0] == "github" and len(parts) == 2:
                return self.github[parts[1]]
            if parts[0] == "runner" and len(parts) == 2:
                return self.runner[parts[1]]
            if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
                return self.steps.get(parts[1], {}).get(parts[3], "")
            raise ActionFileError(f"an expression this runner does not evaluate: {expression}")

        return _EXPRESSION.sub(one, text)


async def run_action(
    inputs: dict[str, str],
    *,
    workdir: Path,
    uses,
    env: dict[str, str] | None = None,
    github_token: str = "ghs_testjobtoken0000000000000000000000",
) -> ActionRun:
    """Run action.yml with `inputs` (as `with:` gives them). `uses(action, with_, context)` returns a step's outputs."""
    action = read_action()
    given = dict(inputs)
    for name, spec in action["inputs"].items():
        if spec.get("required") == "true" and name not in given:
            raise ActionFileError(f"input {name} is required")
        given.setdefault(name, spec.get("default") or "")
    temp = workdir / "runner-temp"
    workspace = workdir / "workspace"
    temp.mkdir(parents=True, exist_ok=True)
    workspace.mkdir(parents=True, exist_ok=True)
    summary = workdir / "step-summary.md"
    summary.touch()
    context = Context(given, {"token": github_token, "action_path": str(ROOT)}, {"temp": str(temp)})
    runner_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_WORKSPACE": str(workspace),
        "RUNNER_TEMP": str(temp),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ACTOR": "octocat",
        "GITHUB_REPOSITORY": "octocat/my-module",
        **(env or {}),
    }
    runs: list[StepRun] = []
    for index, step in enumerate(action["runs"]["steps"]):
        name = step.get("name", f"step {index}")
        if "uses" in step:
            outputs = uses(step["uses"], step.get("with") or {}, context)
            runs.append(StepRun(name, 0, "", "", outputs))
        else:
            if step.get("shell") != "bash":
                raise ActionFileError(f"{name}: composite run steps must say shell: bash")
            output_file = temp / f"output-{index}"
            output_file.touch()
            script = temp / f"step-{index}.sh"
            script.write_text(step["run"], encoding="utf-8")
            step_env = {k: context.evaluate(v or "") for k, v in (step.get("env") or {}).items()}
            process = await asyncio.create_subprocess_exec(
                "bash",
                "--noprofile",
                "--norc",
                "-eo",
                "pipefail",
                str(script),
                cwd=workspace,
                env={**runner_env, **step_env, "GITHUB_OUTPUT": str(output_file)},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
            )
            out, err = await asyncio.wait_for(process.communicate(), 120)
            outputs = read_outputs(output_file)
            runs.append(StepRun(name, process.returncode, out.decode(), err.decode(), outputs))
        if "id" in step:
            context.steps[step["id"]] = runs[-1].outputs
        if runs[-1].code:
            break  # a failed step ends the job (no step here runs `if: always()`)
    outputs = {name: context.evaluate(spec["value"]) for name, spec in action["outputs"].items()}
    return ActionRun(runs, outputs, summary.read_text(encoding="utf-8"))
