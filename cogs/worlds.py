"""/world: list the relay's online worlds and choose this server's."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.checks import gm_only
from cogs.utils.respond import edit_reply, send_reply
from cogs.utils.servers import server_of
from core.replies import Reply, Tone
from core.textsafe import echo
from relay import World

PICK_TIMEOUT = 120.0


class WorldPicker(discord.ui.View):
    def __init__(self, owner_id: int, worlds: list[World], current: str | None):
        super().__init__(timeout=PICK_TIMEOUT)
        self.owner_id = owner_id
        self.worlds = {w.client_id: w for w in worlds}
        self.chosen: World | None = None
        self.select.options = [
            discord.SelectOption(
                label=echo(w.label, 100),
                value=w.client_id[:100],
                description=echo(f"{w.system_title or '?'} · Foundry {w.foundry_version or '?'}", 100),
                default=w.client_id == current,
            )
            for w in worlds[:25]
        ]

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("Only the person who ran /world can choose.", ephemeral=True)
            return False
        return True

    @discord.ui.select(placeholder="Choose this server's world", min_values=1, max_values=1)
    async def select(self, interaction: discord.Interaction, menu: discord.ui.Select) -> None:
        self.chosen = self.worlds.get(menu.values[0])
        self.stop()
        await interaction.response.edit_message(view=None)


class WorldCommands(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    @app_commands.command(
        name="world", description="List the Foundry worlds online on the relay and choose this server's"
    )
    @gm_only()
    async def world(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        service = server_of(interaction).gm
        reply, online, current = await service.worlds.menu(interaction.guild_id)
        if not online:
            await send_reply(interaction, reply, ephemeral=True)
            return
        picker = WorldPicker(interaction.user.id, online, current)
        await send_reply(interaction, reply, ephemeral=True, view=picker)
        await picker.wait()
        if picker.chosen is None:
            await edit_reply(interaction, Reply(description="No world was chosen; nothing changed.", tone=Tone.INFO))
            return
        await edit_reply(
            interaction, await service.choose_world(interaction.guild_id, picker.chosen, interaction.user.id)
        )


async def setup(bot) -> None:
    await bot.add_cog(WorldCommands(bot))
