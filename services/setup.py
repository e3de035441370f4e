"""/setup and /release token: a hosted server sets itself up from Discord, without Discord.

Every setting is stored for that server only (storage/guild_settings.py; secrets sealed in storage/secrets.py) and
takes effect at once: the server's clients are built again from what is stored (``Servers.reload``). A relay is
checked before anything is saved (relay/key_check.py: the URL answers as the relay, the key opens it, which scopes
it lacks); a secret is never shown again, only who set it and when.
"""

from __future__ import annotations

import re

from pydantic import SecretStr
from yarl import URL

from core.errors import ConfigurationError, UserFacingError
from core.release_tokens import check_token
from core.replies import Confirm, Decision, Reply, Tone
from core.secretlike import looks_secret
from core.textsafe import echo
from relay import RelayAuthError, RelayClient, RelayError, World
from relay.guard import RefusedAddress
from relay.key_check import check_key
from relay.pacing import Pacer
from services.servers import Server, Servers
from storage.guild_settings import SetBy
from storage.scoped import ServerWorldChoices
from storage.secrets import RELAY_KEY, RELEASE_TOKEN, SecretInfo

NOTHING_SAVED = "Nothing was saved."
# Foundry package ids: letters, digits, hyphens and underscores (module.json "id").
_PACKAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


class SetupRefused(UserFacingError):
    pass


def _when(at: float) -> str:
    return f"<t:{int(at)}:D>"  # a date in each reader's own format


def _by(set_by: SetBy | SecretInfo) -> str:
    """ "set on DATE by MEMBER" (a mention, which never pings: replies go out with mentions off)."""
    who, at = (set_by.member_id, set_by.at) if isinstance(set_by, SetBy) else (set_by.set_by, set_by.set_at)
    return f"set on {_when(at)} by <@{who}>" if who else f"set on {_when(at)}"


def shown_url(url: str) -> str:
    """A relay URL as it may be shown: no credentials, escaped."""
    return echo(str(URL(url).with_user(None)), 200)


class ServerSetup:
    def __init__(self, servers: Servers):
        self.servers = servers
        self.shared = servers.shared
        self.settings = servers.settings

    def _hosted(self) -> None:
        if not self.settings.hosted:
            raise SetupRefused(
                "This bot is set up by its operator in its .env file (HOSTED is off), so /setup changes nothing here."
            )

    async def _reloaded(self, guild_id: int) -> Server | None:
        return await self.servers.reload(guild_id)

    # --- the relay ------------------------------------------------------------------------------

    def _relay_url(self, typed: str) -> str:
        url = typed.strip().rstrip("/")
        if not url.startswith(("http://", "https://")) or not URL(url).host:
            raise SetupRefused(f"The relay URL must start with https:// (or http://). {NOTHING_SAVED}")
        if url.endswith("/api"):
            raise SetupRefused(f"Give the relay's base URL, without /api at the end. {NOTHING_SAVED}")
        if not self.shared.policy.allow_private:
            try:
                self.shared.policy.check_url(url)
            except RefusedAddress:
                raise SetupRefused(
                    f"That relay URL is an internal address, which this bot does not connect to: give the relay's "
                    f"public address. {NOTHING_SAVED}"
                ) from None
        return url

    async def relay(self, guild_id: int, url: str, key: SecretStr, *, member_id: int) -> Reply:
        """Check the relay and key at once; save them when the relay accepts the key (missing scopes are named)."""
        self._hosted()
        url = self._relay_url(url)
        key = SecretStr(key.get_secret_value().strip())
        if not key.get_secret_value() or any(c.isspace() for c in key.get_secret_value()):
            raise SetupRefused(f"The API key must be one piece of text without spaces. {NOTHING_SAVED}")
        session = self.shared.session if self.shared.policy.allow_private else self.shared.guarded_session
        # Its own pacer: the check is seven requests, and a refused key must not join anyone's bucket.
        client = RelayClient(session, url, key, timeout=self.settings.relay_timeout, pacer=Pacer())
        try:
            check = await check_key(client)
        except RelayAuthError as error:
            raise SetupRefused(
                f"The relay refused this API key (HTTP {error.status}): check the scoped key on the relay's "
                f"dashboard and run /setup relay again. {NOTHING_SAVED}"
            ) from None
        except RelayError as error:
            raise SetupRefused(f"{error.message} {NOTHING_SAVED}") from None
        await self.servers.secrets.put(guild_id, RELAY_KEY, "", key, set_by=member_id)
        await self.servers.store.update(guild_id, {"relay_url": url}, set_by=member_id)
        await self._reloaded(guild_id)
        return self._relay_reply(url, check.worlds, check.works, check.broken)

    @staticmethod
    def _relay_reply(url: str, worlds: list[World], works: list[str], broken: list[str]) -> Reply:
        reply = Reply(
            title="Relay set" if not broken else "Relay set, with scopes missing",
            description=f"The relay at {shown_url(url)} accepted the key. The key is stored sealed and is never "
            "shown again.",
            tone=Tone.SUCCESS if not broken else Tone.WARNING,
        )
        online = [w for w in worlds if w.online]
        if online:
            lines = [f"**{echo(w.label, 80)}** (`{echo(w.client_id, 60)}`)" for w in online[:10]]
            reply.add_field("Worlds online", "\n".join(lines)[:1000])
        else:
            reply.add_field("Worlds online", "none: open your world in Foundry with the REST API module enabled")
        reply.add_field("What works", "\n".join(f"• {line}" for line in works)[:1000] or "nothing yet")
        if broken:
            reply.add_field(
                "Missing scopes (add them to the key on the relay, then run /setup relay again)",
                "\n".join(f"• {line}" for line in broken)[:1000],
            )
        next_step = (
            "Next: /setup world to choose this server's world."
            if len(online) != 1
            else ("This server uses the only online world until you choose one with /setup world.")
        )
        reply.footer = next_step
        return reply

    # --- the rest of the settings ---------------------------------------------------------------

    async def _server(self, guild_id: int) -> Server:
        server = await self.servers.get(guild_id)
        if server is None or server.relay is None:
            raise SetupRefused("Set the relay first: /setup relay.")
        return server

    async def worlds(self, guild_id: int) -> list[World]:
        """The worlds the server's relay knows (for /setup world's autocomplete)."""
        return await (await self._server(guild_id)).gm.relay.list_worlds()

    async def world(self, guild_id: int, client_id: str | None, *, member_id: int) -> Reply:
        self._hosted()
        server = await self._server(guild_id)
        worlds = await server.gm.relay.list_worlds()
        online = [w for w in worlds if w.online]
        if client_id is None:
            if len(online) != 1:
                listing = ", ".join(f"{echo(w.label, 60)} (`{echo(w.client_id, 60)}`)" for w in online[:10])
                raise SetupRefused(
                    f"Choose the world with the world option ({len(online)} online"
                    + (f": {listing}" if listing else "")
                    + ")."
                )
            chosen = online[0]
        else:
            chosen = next((w for w in worlds if w.client_id == client_id), None)
            if chosen is None:
                raise SetupRefused(
                    f"The relay knows no world `{echo(client_id, 60)}`: pick one from the list. {NOTHING_SAVED}"
                )
        return await server.gm.choose_world(guild_id, chosen, member_id)

    async def roles(
        self, guild_id: int, *, gm_role_id: int | None, maintainer_role_id: int | None, member_id: int
    ) -> Reply:
        self._hosted()
        changes = {
            name: value
            for name, value in (("gm_role_id", gm_role_id), ("maintainer_role_id", maintainer_role_id))
            if value is not None
        }
        if not changes:
            raise SetupRefused("Give the GM role, the maintainer role, or both.")
        await self.servers.store.update(guild_id, changes, set_by=member_id)
        await self._reloaded(guild_id)
        reply = Reply(title="Roles set", tone=Tone.SUCCESS)
        if gm_role_id is not None:
            reply.add_field("GM role", f"<@&{gm_role_id}>: /lookup's full view, /push, /refresh, /world, /players")
        if maintainer_role_id is not None:
            reply.add_field("Maintainer role", f"<@&{maintainer_role_id}>: /release and /release token")
        return reply

    async def player(self, guild_id: int, user: str, *, member_id: int) -> Reply:
        self._hosted()
        user = user.strip()
        if looks_secret(user, ()):
            raise SetupRefused(f"That looks like a key or token, not a Foundry user name. {NOTHING_SAVED}")
        await self.servers.store.update(guild_id, {"foundry_player": user}, set_by=member_id)
        server = await self._reloaded(guild_id)
        reply = Reply(
            title="Player view set",
            description=f"Members without a link see what the Foundry user **{echo(user, 80)}** sees.",
            tone=Tone.SUCCESS,
        )
        world = await server.gm.local_world_id(guild_id) if server is not None else None
        if world is not None and server.relay is not None:
            try:
                setting = await server.gm.viewers.foundry_player(world, fresh=True)
            except UserFacingError as error:
                reply.footer = f"Could not check the user now: {error.message}"
            else:
                if setting.user is None:
                    reply.title = "Player view saved, but it serves no one yet"
                    reply.tone = Tone.WARNING
                    reply.add_field("In this world", setting.describe())
        reply.footer = "\n".join(filter(None, [reply.footer, "Players' names are learnt at the next /refresh."]))
        return reply

    async def announce(self, guild_id: int, channel_id: int, *, member_id: int) -> Reply:
        self._hosted()
        await self.servers.store.update(guild_id, {"announce_channel_id": channel_id}, set_by=member_id)
        await self._reloaded(guild_id)
        return Reply(
            title="Announcements", description=f"Releases are announced in <#{channel_id}>.", tone=Tone.SUCCESS
        )

    async def show(self, guild_id: int) -> Reply:
        self._hosted()
        saved = await self.servers.store.get(guild_id)
        secrets = await self.servers.secrets.list(guild_id)
        keys = [s for s in secrets if s.kind == RELAY_KEY]
        tokens = [s for s in secrets if s.kind == RELEASE_TOKEN]
        server = await self.servers.get(guild_id)
        reply = Reply(title="This server's setup")
        if saved.relay_url:
            reply.add_field("Relay", f"{shown_url(saved.relay_url)} ({_by(saved.set_by['relay_url'])})")
        else:
            reply.add_field("Relay", "not set: /setup relay")
        reply.add_field("Relay key", f"sealed, {_by(keys[0])}" if keys else "not set")
        chosen = await server.world_choices.get(guild_id) if server is not None else None
        reply.add_field(
            "World",
            f"{echo(chosen.label or chosen.client_id, 80)} (`{echo(chosen.client_id, 60)}`)"
            if chosen
            else "not chosen (the only online world is used)",
        )
        for name, label in (("gm_role_id", "GM role"), ("maintainer_role_id", "Maintainer role")):
            value = getattr(saved, name)
            reply.add_field(label, f"<@&{value}> ({_by(saved.set_by[name])})" if value else "not set", inline=True)
        player = saved.foundry_player
        reply.add_field(
            "Player view", f"{echo(player, 80)} ({_by(saved.set_by['foundry_player'])})" if player else "not set"
        )
        channel = saved.announce_channel_id
        reply.add_field("Announcements", f"<#{channel}>" if channel else "not set", inline=True)
        reply.add_field(
            "Release tokens",
            f"{len(tokens)} package(s): /release token list" if tokens else "none: /release token set",
            inline=True,
        )
        return reply

    async def clear(self, guild_id: int, *, confirm: Confirm) -> Reply:
        self._hosted()
        preview = Reply(
            title="Clear this server's setup?",
            description="The relay and its key, the world, the roles, the player view, the announcement channel and "
            "every release token stored here are forgotten. Name maps are read again after a new /setup.",
            tone=Tone.WARNING,
        )
        decision = await confirm(preview)
        if decision is not Decision.CONFIRMED:
            return Reply(description="Nothing was cleared.", tone=Tone.INFO)
        settings = await self.servers.store.clear(guild_id)
        secrets = await self.servers.secrets.clear(guild_id)
        world = await ServerWorldChoices(self.shared.db, guild_id).clear()
        await self._reloaded(guild_id)
        return Reply(
            title="Setup cleared",
            description=f"{settings} setting(s), {secrets} secret(s){' and the world choice' if world else ''} "
            "forgotten. Run /setup relay to start again.",
            tone=Tone.SUCCESS,
        )

    # --- release tokens -------------------------------------------------------------------------

    @staticmethod
    def _package(package: str) -> str:
        package = package.strip()
        if looks_secret(package, ()) or package.startswith("fvttp_"):
            raise SetupRefused(
                f"That looks like a token, not a package id: the token goes in the form. {NOTHING_SAVED}"
            )
        if not _PACKAGE_ID.match(package):
            raise SetupRefused(
                f"A package id is letters, digits, hyphens and underscores (the manifest's id). {NOTHING_SAVED}"
            )
        return package

    async def _token_record(self, guild_id: int, package: str) -> SecretInfo | None:
        found = await self.servers.secrets.list(guild_id, RELEASE_TOKEN)
        return next((info for info in found if info.name == package), None)

    async def set_token(
        self, guild_id: int, package: str, token: str, *, member_id: int, role_id: int | None, may_replace: bool
    ) -> Reply:
        """Store a package's token for this server, bound to its setter and the maintainer role (``role_id``)
        of now. ``may_replace``: the member may replace a token someone else set (Manage Server)."""
        self._hosted()
        package = self._package(package)
        try:
            secret = check_token(package, token)
        except ConfigurationError as error:
            raise SetupRefused(f"{error.message} {NOTHING_SAVED}") from None
        existing = await self._token_record(guild_id, package)
        if existing is not None and existing.set_by != member_id and not may_replace:
            raise SetupRefused(
                f"<@{existing.set_by}> stored {echo(package)}'s token: only they, or a member with Manage Server, "
                f"may replace it. {NOTHING_SAVED}"
            )
        await self.servers.secrets.put(guild_id, RELEASE_TOKEN, package, secret, set_by=member_id, role_id=role_id)
        await self._reloaded(guild_id)
        bound = f" Releases of it need <@&{role_id}>." if role_id else ""
        return Reply(
            title="Release token stored",
            description=f"{echo(package)}'s token is stored sealed for this server and is never shown again.{bound}",
            tone=Tone.SUCCESS,
        )

    async def stored_packages(self, guild_id: int) -> list[str]:
        return [info.name for info in await self.servers.secrets.list(guild_id, RELEASE_TOKEN)]

    async def list_tokens(self, guild_id: int) -> Reply:
        self._hosted()
        found = await self.servers.secrets.list(guild_id, RELEASE_TOKEN)
        if not found:
            return Reply(description="No release token is stored in this server: /release token set.", tone=Tone.INFO)
        lines = [
            f"**{echo(info.name, 100)}**: {_by(info)}" + (f", releases need <@&{info.role_id}>" if info.role_id else "")
            for info in found
        ]
        return Reply(title="Release tokens", description="\n".join(lines)[:4000])

    async def remove_token(self, guild_id: int, package: str, *, member_id: int, may_remove_any: bool) -> Reply:
        self._hosted()
        existing = await self._token_record(guild_id, package.strip())
        if existing is None:
            raise SetupRefused(f"No token for {echo(package.strip(), 100)} is stored in this server.")
        if existing.set_by != member_id and not may_remove_any:
            raise SetupRefused(
                f"<@{existing.set_by}> stored this token: only they, or a member with Manage Server, may remove it."
            )
        await self.servers.secrets.remove(guild_id, RELEASE_TOKEN, existing.name)
        await self._reloaded(guild_id)
        return Reply(
            title="Release token removed",
            description=f"{echo(existing.name)} can no longer be released from this server.",
            tone=Tone.SUCCESS,
        )
