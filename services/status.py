"""/status: is everything the bot depends on in working order, in one reply."""

from __future__ import annotations

import time

from core.errors import UserFacingError
from core.replies import Reply, Tone
from core.textsafe import echo


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s ago"
    if seconds < 5400:
        return f"{int(seconds // 60)} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{int(seconds // 86400)} days ago"


async def status_report(app, guild_id: int | None) -> Reply:
    reply = Reply(title="Bot status", tone=Tone.SUCCESS)
    if app.relay is None:
        reply.add_field("Relay", "not configured (RELAY_URL, RELAY_API_KEY)")
    else:
        try:
            status = await app.relay.status()
            reply.add_field("Relay", f"reachable, version {echo(status.version, 30)}", inline=True)
        except UserFacingError as error:
            reply.tone = Tone.WARNING
            reply.add_field("Relay", f"unreachable: {error.message}"[:1000])
        try:
            world = await app.gm.resolve_world(guild_id)
            reply.add_field("World", f"{echo(world.label)} (`{echo(world.client_id, 60)}`)", inline=True)
            info = await app.gm.maps.info(world.client_id)
            if info is None:
                reply.add_field("Name map", "empty: run /refresh")
            else:
                state = "complete" if info.complete else "may be incomplete"
                reply.add_field(
                    "Name map", f"{info.total} entries, refreshed {_age(time.time() - info.refreshed_at)}, {state}"
                )
            # What members without a link see (issue 8).
            player = await app.gm.viewers.foundry_player(world.client_id)
            reply.add_field("FOUNDRY_PLAYER", player.describe()[:1000])
            if player.user is None:
                reply.tone = Tone.WARNING
            try:
                images = await app.images.status(world.client_id, await app.gm.image_base(world))
            except UserFacingError as error:
                images = f"unknown: {error.message}"
            reply.add_field("Entry images", images[:1000])
        except UserFacingError as error:
            reply.tone = Tone.WARNING
            reply.add_field("World", error.message[:1000])
    packages = app.releases.packages()
    reply.add_field("Release packages", ", ".join(packages)[:1000] if packages else "none configured")
    cooldowns = await app.releases.store.active_cooldowns()
    if cooldowns:
        reply.add_field(
            "Release cooldowns",
            "\n".join(f"{echo(p, 60)}: until <t:{int(until + 0.999)}:T>" for p, until in sorted(cooldowns.items()))[
                :1000
            ],
        )
    return reply
