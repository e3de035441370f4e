"""actionlint over the workflows that matter to the action (run by .ci/run, and by tests/test_action.py):

- every ```yaml workflow in the README (the "Releasing from GitHub Actions" examples);
- action.yml's own steps: actionlint reads workflows, not action metadata, so they are copied into a generated
  workflow whose workflow_dispatch inputs are the action's inputs (the same `${{ inputs.* }}` expressions).

    python action/lint.py [ACTIONLINT]    # exit code: actionlint's
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def readme_workflows(readme: str) -> list[str]:
    return [block for block in _FENCE.findall(readme) if re.search(r"^jobs:", block, re.M)]


def action_workflow(action: str) -> str:
    lines = action.splitlines()
    top = [i for i, line in enumerate(lines) if re.match(r"^[a-z]", line)]
    start = lines.index("inputs:")
    end = next(i for i in top if i > start)
    names = [m.group(1) for line in lines[start:end] if (m := re.match(r"^  ([a-z0-9-]+):$", line))]
    steps = lines.index("  steps:")
    body = [("  " + line) if line.strip() else line for line in lines[steps + 1 :]]
    inputs = [f"      {name}:\n        type: string" for name in names]
    return "\n".join(
        [
            "name: action.yml's steps (generated for actionlint)",
            "on:",
            "  workflow_dispatch:",
            "    inputs:",
            *inputs,
            "jobs:",
            "  action:",
            "    runs-on: ubuntu-latest",
            "    steps:",
            *body,
            "",
        ]
    )


def main(argv: list[str]) -> int:
    actionlint = argv[1] if len(argv) > 1 else "actionlint"
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index, workflow in enumerate(readme_workflows((ROOT / "README.md").read_text(encoding="utf-8"))):
            path = Path(folder) / f"readme-{index}.yml"
            path.write_text(workflow, encoding="utf-8")
            files.append(path)
        path = Path(folder) / "action-steps.yml"
        path.write_text(action_workflow((ROOT / "action.yml").read_text(encoding="utf-8")), encoding="utf-8")
        files.append(path)
        if len(files) < 2:
            print("README.md has no workflow to lint", file=sys.stderr)
            return 1
        return subprocess.run([actionlint, "-no-color", *map(str, files)], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
