#!/usr/bin/env bash
# The action's release step (action.yml): the inputs arrive as INPUT_* variables, the tokens as the bot's own
# settings. Runs `python bot.py release ... --json` and hands its answer to report.py, which writes the step's
# outputs, the job summary and the error annotations, and exits with the command's code.
set -uo pipefail

case "$INPUT_DRY_RUN" in
  true) args=(release dry-run) ;;
  false) args=(release publish --yes) ;;
  *) echo "::error title=Foundry release::dry-run must be true or false"; exit 2 ;;
esac
case "$INPUT_PACKAGE_CHECK" in
  true) ;;
  false) args+=(--skip-package-check) ;;
  *) echo "::error title=Foundry release::package-check must be true or false"; exit 2 ;;
esac
args+=(--manifest "$INPUT_MANIFEST" --json)
[ -n "$INPUT_PACKAGE_ID" ] && args+=(--package "$INPUT_PACKAGE_ID")
[ -n "$INPUT_VERSION" ] && args+=(--version "$INPUT_VERSION")
[ -n "$INPUT_MINIMUM" ] && args+=(--minimum "$INPUT_MINIMUM")
[ -n "$INPUT_VERIFIED" ] && args+=(--verified "$INPUT_VERIFIED")
[ -n "$INPUT_MAXIMUM" ] && args+=(--maximum "$INPUT_MAXIMUM")
[ -n "$INPUT_NOTES" ] && args+=(--notes "$INPUT_NOTES")

# A repository's own .env must not configure the bot: run it from the runner's temporary folder.
cd "$RUNNER_TEMP" || exit 2
export DATABASE_PATH="$RUNNER_TEMP/foundry-release.sqlite3"
result="$RUNNER_TEMP/foundry-release.json"
code=0
"$PYTHON" "$GITHUB_ACTION_PATH/bot.py" "${args[@]}" > "$result" || code=$?
exec "$PYTHON" "$GITHUB_ACTION_PATH/action/report.py" "$result" "$code"
