"""/lookup, /push and /refresh: parse options, check roles, defer, call the GM service, render."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from cogs.utils.attachments import finish_images, send_with_image
from cogs.utils.checks import gm_only, guild_member, has_role
from cogs.utils.confirm import confirm_in_discord
from cogs.utils.respond import ProgressEdits, edit_reply
from cogs.utils.servers import server_of
from core.errors import UserFacingError
from core.replies import Reply, Tone
from services.codex import check_push_size
from services.players.viewers import GM_VIEWER, NoPlayerLookups
from services.writes.outcome import WriteInterrupted

log = logging.getLogger(__name__)


class GMCommands(commands.Cog):
    def __init__(self, bot):
        self.bot = bot

    def is_gm(self, interaction: discord.Interaction) -> bool:
        settings = server_of(interaction).settings
        return has_role(interaction.user, settings.gm_role, settings.guild_ids)

    async def name_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        # Answered from the local map only: autocomplete cannot defer and must answer within 3 s.
        # A player is offered only the names their Foundry user may see.
        try:
            service = server_of(interaction).gm
            world_id = await service.local_world_id(interaction.guild_id)
            if world_id is None:
                return []
            viewer = await service.viewers.for_member(
                interaction.guild_id, world_id, interaction.user.id, is_gm=self.is_gm(interaction), local=True
            )
            choices = await service.suggestions(world_id, current[:100], viewer)
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
        if not self.is_gm(interaction):
            await self.lookup_as_player(interaction, name, private)
            return
        # A GM's answer starts private: the full view (secrets, notes, unshared entries) is theirs alone;
        # the channel then gets only what every player there may see, as a second message (none if hidden).
        await interaction.response.defer(ephemeral=True, thinking=True)
        server = server_of(interaction)
        world = await server.gm.resolve_world(interaction.guild_id)
        found = await server.gm.lookup(world, name, viewer=GM_VIEWER, guild_id=interaction.guild_id)
        full = found.own or found.player
        if found.player is not None and found.own is not None:
            full.title = f"GM view — {full.title or ''}"
        if found.player is None and not private:
            _note(full, "Not every player here may see this entry: nothing was posted to the channel.")
        images = server.images
        pending = [await send_with_image(interaction, full, images, world.client_id, ephemeral=True)]
        if found.player is not None and not private:
            pending.append(await send_with_image(interaction, found.player, images, world.client_id, ephemeral=False))
        await finish_images(pending)

    async def lookup_as_player(self, interaction: discord.Interaction, name: str, private: bool) -> None:
        server = server_of(interaction)
        viewers = server.gm.viewers
        if not server.settings.foundry_player and not await viewers.links.has_any(
            interaction.guild_id, interaction.user.id
        ):
            raise NoPlayerLookups()  # before deferring: the one line stays private
        await interaction.response.defer(ephemeral=private, thinking=True)
        world = await server.gm.resolve_world(interaction.guild_id)
        viewer = await viewers.for_member(interaction.guild_id, world.client_id, interaction.user.id, is_gm=False)
        found = await server.gm.lookup(world, name, viewer=viewer, guild_id=interaction.guild_id)
        images = server.images
        # The image is fetched only now, from the view each message carries.
        if private or found.own is None:
            await finish_images(
                [
                    await send_with_image(
                        interaction, found.own or found.player, images, world.client_id, ephemeral=private
                    )
                ]
            )
            return
        # This member's own view shows more than every player here may see: it goes to them alone. The channel
        # gets the common view, or nothing (the public "thinking…" message is removed).
        if found.player is not None:
            pending = [await send_with_image(interaction, found.player, images, world.client_id, ephemeral=False)]
            _note(
                found.own,
                "You see more of this entry than every player here may: the channel got the shared part; this is for you alone.",
            )
        else:
            try:
                await interaction.delete_original_response()
            except discord.HTTPException as error:  # late (token gone): the private answer still goes, by DM
                log.info("Could not remove the public placeholder of /lookup: %s", error)
            pending = []
            _note(
                found.own,
                "Not every player here may see this entry, so nothing was posted to the channel; this is for you alone.",
            )
        pending.append(await send_with_image(interaction, found.own, images, world.client_id, ephemeral=True))
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
        service = server_of(interaction).gm
        world = await service.resolve_world(interaction.guild_id)
        try:
            reply = await service.push(
                world, name, raw, rename=rename, confirm=confirm_in_discord(interaction, ephemeral=True)
            )
        except WriteInterrupted as stopped:  # the bot is stopping: what may have been written, then the stop
            await edit_reply(interaction, stopped.reply)
            raise asyncio.CancelledError from None
        await edit_reply(interaction, reply)

    @app_commands.command(name="refresh", description="Rebuild the bot's name map from the live Foundry world")
    @gm_only()
    async def refresh(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        service = server_of(interaction).gm
        world = await service.resolve_world(interaction.guild_id)
        edits = ProgressEdits(interaction)

        async def progress(text: str) -> None:
            await edits.show(Reply(title="Refreshing the name map…", description=text, tone=Tone.INFO))

        try:
            reply = await service.refresh(world, progress)
        finally:
            await edits.finish()
        await edit_reply(interaction, reply)


def _note(reply: Reply, note: str) -> None:
    reply.footer = f"{reply.footer}\n{note}" if reply.footer else note


async def setup(bot) -> None:
    await bot.add_cog(GMCommands(bot))
