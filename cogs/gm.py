"""/lookup, /push and /refresh: parse options, check roles, defer, call the GM service, render."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.attachments import finish_images, send_with_image
from cogs.utils.checks import gm_only, guild_member, has_role
from cogs.utils.confirm import confirm_in_discord
from cogs.utils.respond import edit_reply
from core.errors import UserFacingError
from core.replies import Reply, Tone
from services.codex import check_push_size

log = logging.getLogger(__name__)


class GMCommands(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    @property
    def service(self):
        return self.bot.app.gm

    async def name_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        # Answered from the local map only: autocomplete cannot defer and must answer within 3 s.
        try:
            world_id = await self.service.local_world_id(interaction.guild_id)
            if world_id is None:
                return []
            choices = await self.service.suggestions(world_id, current[:100])
        except Exception:
            log.exception("Autocomplete failed")
            return []
        return [app_commands.Choice(name=label, value=value) for label, value in choices]

    @app_commands.command(name="lookup", description="Show a journal entry from the campaign's Foundry world")
    @app_commands.describe(
        name="The entry's name (suggestions come from the bot's name map)", private="Show the answer only to you"
    )
    @app_commands.autocomplete(name=name_autocomplete)
    @guild_member()
    async def lookup(
        self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 200], private: bool = False
    ) -> None:
        is_gm = has_role(interaction.user, self.bot.settings.gm_role)
        await interaction.response.defer(ephemeral=private, thinking=True)
        world = await self.service.resolve_world(interaction.guild_id)
        found = await self.service.lookup(world, name, gm=is_gm)
        images = self.bot.app.images  # each view's own image, fetched only now that the view is rendered
        if private and found.gm is not None:
            await finish_images([await send_with_image(interaction, found.gm, images, world.client_id, ephemeral=True)])
            return
        pending = [await send_with_image(interaction, found.player, images, world.client_id, ephemeral=private)]
        if found.gm is not None:
            # Secrets and notes never go to the channel: a second, ephemeral message for the GM alone.
            found.gm.title = f"GM view — {found.gm.title or ''}"
            pending.append(await send_with_image(interaction, found.gm, images, world.client_id, ephemeral=True))
        await finish_images(pending)

    @app_commands.command(name="push", description="Write Campaign Codex data from a JSON file into a journal entry")
    @app_commands.describe(
        name="The entry to update (or to create, if no entry has this name)",
        data="A .json file holding a flags.campaign-codex object ({type?, image?, data?})",
        rename="Also rename the entry",
    )
    @app_commands.autocomplete(name=name_autocomplete)
    @gm_only()
    async def push(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 200],
        data: discord.Attachment,
        rename: app_commands.Range[str, 1, 255] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        check_push_size(data.size)  # before downloading anything
        try:
            raw = await data.read()
        except discord.HTTPException:
            raise UserFacingError(
                "Could not download the push file from Discord; attach it again. Nothing was sent."
            ) from None
        world = await self.service.resolve_world(interaction.guild_id)
        reply = await self.service.push(
            world, name, raw, rename=rename, confirm=confirm_in_discord(interaction, ephemeral=True)
        )
        await edit_reply(interaction, reply)

    @app_commands.command(name="refresh", description="Rebuild the bot's name map from the live Foundry world")
    @gm_only()
    async def refresh(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        world = await self.service.resolve_world(interaction.guild_id)

        async def progress(text: str) -> None:
            await edit_reply(interaction, Reply(title="Refreshing the name map…", description=text, tone=Tone.INFO))

        reply = await self.service.refresh(world, progress)
        await edit_reply(interaction, reply)


async def setup(bot) -> None:
    await bot.add_cog(GMCommands(bot))
