"""/status: is everything the bot depends on in working order, in one reply."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from core.errors import UserFacingError
from core.replies import Reply, Tone
from core.textsafe import echo
from release import release_api_url_problem
from services.relay_budget import month_spent


def release_endpoint_warning(settings) -> str | None:
    """The start-up warning (and /status line) when releases would go elsewhere than Foundry's endpoint."""
    if not (settings.release_tokens or settings.foundry_release_token):
        return None
    return release_api_url_problem(settings.release_api_url)


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s ago"
    if seconds < 5400:
        return f"{int(seconds // 60)} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{int(seconds // 86400)} days ago"


def _until(seconds: float) -> str:
    return "now" if seconds < 1 else "in " + _age(seconds).removesuffix(" ago")


def _span(seconds: float) -> str:
    return _age(seconds).removesuffix(" ago")


def background_line(refresher, client_id: str) -> str:
    """The background refresh of one world: when it last worked, its last error, when it runs next."""
    if not refresher.enabled:
        return "off (REFRESH_INTERVAL=0)"
    state = refresher.status(client_id)
    every = f"every {_span(refresher.every)}"
    if refresher.every > refresher.interval:
        every += (
            f" (REFRESH_INTERVAL is {_span(refresher.interval)}: stretched so the background spends at most a third "
            f"of the {refresher.budget.limit:,} relay requests a month)"
        )
    if state is None:
        return f"{every}; not run yet"
    now = refresher.clock()
    parts = [every]
    if state.paused_until is not None and now < state.paused_until:
        resets = datetime.fromtimestamp(state.paused_until, UTC)
        parts.append(
            f"paused until {resets.day} {resets:%B} (UTC): the relay's requests for this month are used up; "
            "it is tried once a day in case the plan changed"
        )
    if state.offline:
        parts.append("paused: the world is offline")
    if state.last_success is not None:
        parts.append(f"last success {_age(now - state.last_success)}")
    if state.failing and state.last_error:
        parts.append(f"last error {_age(now - (state.last_error_at or now))}: {state.last_error}")
    parts.append(f"next {_until(state.next_run - now)}")
    return "; ".join(parts)


def _unknown(error: UserFacingError) -> str:
    if month_spent(error):  # said once, under "Relay requests"
        return "unknown: the relay refuses requests for the rest of the month (see Relay requests)"
    return f"unknown: {error.message}"


async def _servers_field(app, names: dict[int, str]) -> str:
    """Which listed server serves which world, and which serve releases only."""
    lines = []
    for server in await app.gm.worlds.servers():
        label = (
            f"{echo(names[server.guild_id], 60)} (`{server.guild_id}`)"
            if server.guild_id in names
            else f"`{server.guild_id}`"
        )
        lines.append(f"{label}: {server.world or 'releases only (no world)'}")
    return "\n".join(lines)[:1000] or "none listed (DISCORD_GUILD_ID)"


async def status_report(app, guild_id: int | None, server_names: dict[int, str] | None = None) -> Reply:
    """``server_names``: the listed servers' names the bot knows (the command line knows none)."""
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
                state = "complete" if info.complete else "some folders not provably complete (see /refresh)"
                reply.add_field(
                    "Name map", f"{info.total} entries, refreshed {_age(time.time() - info.refreshed_at)}, {state}"
                )
            # What members without a link see.
            try:
                setting = await app.gm.viewers.foundry_player(world.client_id)
                player, unset = setting.describe(), setting.user is None
            except UserFacingError as error:  # the relay refused: the rest of the report still holds
                player, unset = _unknown(error), True
            reply.add_field("FOUNDRY_PLAYER", player[:1000])
            if unset:
                reply.tone = Tone.WARNING
            try:
                images = await app.images.status(world.client_id, await app.gm.image_base(world))
            except UserFacingError as error:
                images = _unknown(error)
            reply.add_field("Entry images", images[:1000])
            await app.refresher.plan()  # the interval in force, even before the first background pass
            reply.add_field("Background refresh", background_line(app.refresher, world.client_id)[:1000])
        except UserFacingError as error:
            reply.tone = Tone.WARNING
            reply.add_field("World", (error.message if not month_spent(error) else _unknown(error))[:1000])
        reply.add_field("Servers", await _servers_field(app, server_names or {}))
        # Last: it includes a "monthly limit" refusal met by the checks above.
        requests, warns = app.budget.status()
        reply.add_field("Relay requests", requests[:1000])
        if warns:
            reply.tone = Tone.WARNING
    packages = app.releases.packages()
    reply.add_field("Release packages", ", ".join(packages)[:1000] if packages else "none configured")
    endpoint = release_endpoint_warning(app.settings)
    if endpoint:
        reply.tone = Tone.WARNING
        reply.add_field("Release endpoint", endpoint[:1000])
    cooldowns = await app.releases.store.active_cooldowns()
    if cooldowns:
        reply.add_field(
            "Release cooldowns",
            "\n".join(f"{echo(p, 60)}: until <t:{int(until + 0.999)}:T>" for p, until in sorted(cooldowns.items()))[
                :1000
            ],
        )
    return reply
