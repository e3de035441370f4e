"""The maintainers' release commands as plain async services, shared by the cog and the command line."""
