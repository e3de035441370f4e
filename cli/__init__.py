"""The command-line twin: `python bot.py <command>` runs the same services without a gateway."""
