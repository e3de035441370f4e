"""Confirm / Cancel buttons that only the person who asked can press, and that expire."""

from __future__ import annotations

import discord

from cogs.utils.respond import send_reply
from core.replies import Confirm, Decision, Reply

CONFIRM_TIMEOUT = 120.0


class ConfirmView(discord.ui.View):
    def __init__(self, owner_id: int, *, timeout: float):
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.decision = Decision.EXPIRED

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "Only the person who ran this command can answer it.", ephemeral=True
            )
            return False
        return True

    async def _decide(self, interaction: discord.Interaction, decision: Decision) -> None:
        self.decision = decision
        self.stop()
        # The buttons go at once; the command then edits the message into its outcome.
        await interaction.response.edit_message(view=None)

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        await self._decide(interaction, Decision.CONFIRMED)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        await self._decide(interaction, Decision.CANCELLED)


def confirm_in_discord(interaction: discord.Interaction, *, ephemeral: bool) -> Confirm:
    """A `Confirm` for the services: posts the preview with buttons and waits for the invoker's answer."""

    async def ask(preview: Reply) -> Decision:
        timeout = CONFIRM_TIMEOUT  # read at call time so tests can shorten it
        view = ConfirmView(interaction.user.id, timeout=timeout)
        preview.footer = "\n".join(filter(None, [preview.footer, f"Buttons expire in {int(timeout)} s."]))
        await send_reply(interaction, preview, ephemeral=ephemeral, view=view)
        await view.wait()
        return view.decision

    return ask
