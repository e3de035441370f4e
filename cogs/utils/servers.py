"""The server an interaction acts for: resolved once, by the command tree, before any check or command runs."""

from __future__ import annotations

import discord

from services.servers import Server


def server_of(interaction: discord.Interaction) -> Server:
    """This server's settings and clients (services/servers.py). Only commands of a set-up server get here:
    the tree answers the others itself."""
    return interaction.extras["server"]
