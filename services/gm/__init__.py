"""The GM's commands as plain async services: the Discord cogs and the command-line twin both call these."""
