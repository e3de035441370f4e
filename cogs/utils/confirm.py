"""Confirm / Cancel buttons that only the person who asked can press, that expire, and that never outlive
their meaning.

A preview's buttons carry this process's id in their custom ids (``preview:<process>:<preview>:<button>``).
A press on buttons this process does not know (sent before a restart, or expired) is answered by
``answer_stale_press`` from ``on_interaction``: the buttons go and the person is told to run the command
again, instead of Discord's "This interaction failed". Every preview that expires loses its buttons, and a
stop ends every waiting one (``Previews.expire_all``).
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict

import discord

from cogs.utils.respond import send_reply
from core.replies import Confirm, Decision, Reply

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT = 120.0
PREFIX = "preview"
EXPIRED_BY_RESTART = "This preview expired when the bot restarted; run the command again."
EXPIRED = "This preview has expired; run the command again."
_ANSWERED_KEPT = 256  # previews whose deciding press is remembered (to tell it from a later one)


class Previews:
    """The previews this process shows: who may still answer, and which presses are stale."""

    def __init__(self) -> None:
        self.process = secrets.token_hex(4)
        self._live: dict[str, ConfirmView] = {}
        self._answered: OrderedDict[str, int] = OrderedDict()  # preview -> the interaction that decided it

    def custom_id(self, preview: str, button: str) -> str:
        return f"{PREFIX}:{self.process}:{preview}:{button}"

    def opened(self, preview: str, view: ConfirmView) -> None:
        self._live[preview] = view

    def answered(self, preview: str, interaction_id: int) -> None:
        self._answered[preview] = interaction_id
        while len(self._answered) > _ANSWERED_KEPT:
            self._answered.popitem(last=False)

    def closed(self, preview: str) -> None:
        self._live.pop(preview, None)

    def handled(self, process: str, preview: str, interaction_id: int) -> bool:
        """Whether a live view of this process answers (or answered) this press."""
        return process == self.process and (preview in self._live or self._answered.get(preview) == interaction_id)

    def expire_all(self) -> None:
        """Every waiting preview ends as STOPPED (the bot is stopping): its command removes the buttons and
        says that nothing was sent."""
        for view in list(self._live.values()):
            view.end(Decision.STOPPED)


class ConfirmView(discord.ui.View):
    def __init__(self, owner_id: int, previews: Previews, *, timeout: float):
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.previews = previews
        self.decision = Decision.EXPIRED
        self.message: discord.Message | None = None
        self.preview_id = secrets.token_hex(6)
        self.confirm.custom_id = previews.custom_id(self.preview_id, "confirm")
        self.cancel.custom_id = previews.custom_id(self.preview_id, "cancel")
        previews.opened(self.preview_id, self)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "Only the person who ran this command can answer it.", ephemeral=True
            )
            return False
        return True

    def end(self, decision: Decision) -> None:
        self.decision = decision
        self.previews.closed(self.preview_id)
        self.stop()

    async def _decide(self, interaction: discord.Interaction, decision: Decision) -> None:
        self.previews.answered(self.preview_id, interaction.id)
        self.end(decision)
        # The buttons go at once; the command then edits the message into its outcome.
        await interaction.response.edit_message(view=None)

    async def retire(self) -> None:
        """Remove the buttons from the preview's message (an expired preview, a stop)."""
        if self.message is None:
            return
        try:
            await self.message.edit(view=None)
        except discord.HTTPException as error:
            log.info("Could not remove the buttons of an expired preview (HTTP %s)", error.status)

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
        view = ConfirmView(interaction.user.id, interaction.client.previews, timeout=timeout)
        preview.footer = "\n".join(filter(None, [preview.footer, f"Buttons expire in {int(timeout)} s."]))
        try:
            view.message = await send_reply(interaction, preview, ephemeral=ephemeral, view=view)
            await view.wait()
        finally:
            view.end(view.decision)  # a cancelled command leaves no live preview behind
        if view.decision in (Decision.EXPIRED, Decision.STOPPED):
            await view.retire()  # every expired preview loses its buttons, not only the command's first message
        return view.decision

    return ask


def _parse(custom_id: str) -> tuple[str, str] | None:
    parts = custom_id.split(":")
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    return parts[1], parts[2]


async def answer_stale_press(interaction: discord.Interaction, previews: Previews) -> None:
    """A press on preview buttons no live view answers: remove them and say what to do."""
    if interaction.type is not discord.InteractionType.component:
        return
    parsed = _parse(str((interaction.data or {}).get("custom_id", "")))
    if parsed is None or previews.handled(*parsed, interaction.id):
        return
    process, _ = parsed
    text = EXPIRED_BY_RESTART if process != previews.process else EXPIRED
    try:
        await interaction.response.edit_message(view=None)
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as error:
        log.info("Could not answer a press on an expired preview (HTTP %s)", error.status)
