"""Campaign Codex entries: checking push files, diffing them against the live entry, rendering entries."""

from services.codex.diff import codex_diff, describe_changes
from services.codex.render import render_entry
from services.codex.schema import PushFileError, check_push_size, parse_push_file, validate_against_type

__all__ = [
    "PushFileError",
    "check_push_size",
    "codex_diff",
    "describe_changes",
    "parse_push_file",
    "render_entry",
    "validate_against_type",
]
