"""What can go wrong talking to the Foundry REST relay, one class per case a person acts on differently.

Every message is one sentence saying what happened and what to do. None of them may carry the API
key: the client scrubs any relay text before it lands here.
"""

from __future__ import annotations

from datetime import datetime

from core.errors import ConfigurationError, UserFacingError


class RelayError(UserFacingError):
    """Base of every relay failure; ``status`` is the HTTP status when the relay answered at all."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        details: list[str] | None = None,
        temporary: bool | None = None,
    ):
        super().__init__(message, details=details, temporary=temporary)
        self.status = status


class RelayAuthError(RelayError):
    def __init__(self, reason: str, *, status: int = 401):
        super().__init__(f"The relay rejected the API key ({reason}); check RELAY_API_KEY.", status=status)
        self.reason = reason


class RelayScopeError(RelayError):
    def __init__(self, scope: str):
        super().__init__(
            f"The relay API key lacks the '{scope}' scope; add that scope to the key on the relay.", status=403
        )
        self.scope = scope


class NoWorldConnected(RelayError):
    temporary = True

    def __init__(self):
        super().__init__(
            "No Foundry world is connected to the relay; open the world in Foundry with the REST API module enabled.",
            status=404,
        )


class UnknownWorld(RelayError):
    def __init__(self, client_id: str | None):
        super().__init__(
            f"The chosen world ({client_id}) isn't connected to the relay; pick a connected world with /world.",
            status=404,
        )
        self.client_id = client_id


class SeveralWorlds(RelayError):
    def __init__(self, worlds: list):
        super().__init__(
            "Several Foundry worlds are connected to the relay; pick one with /world.",
            status=400,
            details=[_describe_world(w) for w in worlds],
        )
        self.worlds = worlds


def _describe_world(world: object) -> str:
    # The relay's connectedClients may hold plain ids or client objects; show what a GM recognises.
    if isinstance(world, dict):
        title = world.get("customName") or world.get("worldTitle") or world.get("worldId")
        client_id = world.get("clientId") or world.get("id")
        return f"{title} ({client_id})" if title else str(client_id)
    return str(world)


class EntryNotFound(RelayError):
    def __init__(self, uuid: str):
        super().__init__(
            f"Foundry has no journal entry {uuid}; it may have been deleted, so refresh the map and try again.",
            status=400,
        )
        self.uuid = uuid


class NotPermitted(RelayError):
    """The Foundry user asked as may not see the entry. Callers say "no entry named X": never that it exists."""

    def __init__(self, uuid: str):
        super().__init__("That Foundry user may not see this entry.", status=400)
        self.uuid = uuid


class UnknownFoundryUser(RelayError):
    def __init__(self, user: str):
        super().__init__(
            f"The world has no Foundry user {user!r}: a GM should check FOUNDRY_PLAYER and /players links.",
            status=400,
        )
        self.user = user


class RelayModuleError(RelayError):
    def __init__(self, text: str):
        super().__init__(f"Foundry's REST API module reported an error: {text.rstrip('.')}.", status=400)
        self.text = text


class RelayTimeout(RelayError):
    temporary = True

    def __init__(self, *, status: int | None = None, seconds: float | None = None):
        if status is not None:
            message = f"Foundry didn't answer the relay in time (HTTP {status}); try again in a moment."
        else:
            message = f"Foundry didn't answer within {seconds:g} seconds; try again in a moment."
        super().__init__(message, status=status)


class RelayRateLimited(RelayError):
    temporary = True

    def __init__(self, relay_text: str | None = None):
        super().__init__(
            "The relay allows 300 requests a minute and that limit was hit; wait a minute and try again.",
            status=429,
            details=[f"Relay said: {relay_text}"] if relay_text else None,
        )


class RelayUnavailable(RelayError):
    temporary = True

    def __init__(self, what: str, *, status: int | None = None, details: list[str] | None = None):
        super().__init__(f"{what}; try again later.", status=status, details=details)


class RelayBadResponse(RelayError):
    def __init__(self, route: str, status: int, problem: str):
        super().__init__(
            f"The relay answered {route} with something that isn't the relay's JSON (HTTP {status}); check RELAY_URL.",
            status=status,
            details=[problem],
        )


class CrossedReply(RelayError):
    temporary = True

    def __init__(self, asked: str, got: object):
        super().__init__(
            f"The relay returned the reply meant for {got} instead of {asked}, so nothing was shown or changed; "
            "try again.",
        )
        self.asked = asked
        self.got = got


class FileMissing(RelayError):
    def __init__(self, path: str):
        super().__init__(f"Foundry has no file at {path}; check the path in the entry.", status=400)
        self.path = path


class FileTooLarge(RelayError):
    def __init__(self, path: str, limit: int):
        super().__init__(f"The file {path} is larger than the {limit // (1024 * 1024)} MiB the bot fetches.")
        self.path = path
        self.limit = limit


class RelayMonthlyLimit(RelayError):
    """The relay refuses every request until the month ends (UTC): the account's monthly requests are used
    up, or the scoped key's own monthly limit is. Not temporary: waiting a minute changes nothing."""

    def __init__(
        self,
        *,
        scope: str,
        limit: int | None,
        resets_at: datetime,
        what: str = "relay commands",
        entry: str | None = None,
    ):
        self.scope = scope
        self.limit = limit
        self.resets_at = resets_at
        self.what = what
        self.entry = entry
        super().__init__(self._sentence(), status=429, temporary=False)

    @property
    def resets_on(self) -> str:
        """ "1 January" (the relay resets its counters at 00:00 UTC on the 1st)."""
        return f"{self.resets_at.day} {self.resets_at:%B}"

    def _sentence(self) -> str:
        if self.scope == "key":
            spent = "The relay API key has used up its own monthly request limit"
            remedy = "or sooner if the key's monthly limit is raised on the relay's dashboard"
        else:
            used = f"its {self.limit:,} requests" if self.limit else "its requests"
            spent = f"The relay account has used {used} for this month"
            remedy = "or with a paid relay plan"
        if self.entry is not None:
            spent += f", so “{self.entry}” can't be read this month"
        return f"{spent}; {self.what} work again on {self.resets_on} (UTC), {remedy}."

    def _copy(self, **changes) -> RelayMonthlyLimit:
        fields = dict(scope=self.scope, limit=self.limit, resets_at=self.resets_at, what=self.what, entry=self.entry)
        return RelayMonthlyLimit(**{**fields, **changes})

    def for_command(self, what: str) -> RelayMonthlyLimit:
        """The same refusal naming what stopped working ("lookups", "refreshes")."""
        return self._copy(what=what)

    def reading(self, entry: str) -> RelayMonthlyLimit:
        """The same refusal for a lookup that found ``entry`` (already escaped) in the map."""
        return self._copy(entry=entry)


class RelayRedirected(RelayError, ConfigurationError):
    """The relay never redirects an API call; following one would send the key elsewhere (aiohttp drops
    Authorization on a cross-origin redirect, not x-api-key), so it is reported instead."""

    def __init__(self, relay_host: str, target: str, status: int):
        super().__init__(
            f"RELAY_URL ({relay_host}) answered with a redirect to {target} (HTTP {status}), and the relay never "
            "redirects its API: RELAY_URL is probably wrong (http:// for https://, an old address, a path "
            "too many); set it to the relay's own address. The request was not sent on.",
            status=status,
        )
        self.target = target


class RelayReplyTooLarge(RelayError):
    """A reply over the size the bot reads for its route; nothing of it is used."""

    def __init__(self, route: str, limit: int, advice: str):
        super().__init__(
            f"The relay's reply to {route} was larger than the {_size(limit)} the bot reads there, so it was "
            f"dropped; {advice}",
        )
        self.route = route
        self.limit = limit


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"


class UnprovenView(CrossedReply):
    """A read on a player's behalf whose reply can't be proven to be that player's view (replies of the same
    entry for different viewers can cross, relay.md): never shown."""

    def __init__(self, uuid: str):
        RelayError.__init__(
            self,
            "The relay's reply could not be proven to be the player's view of this entry (relay replies can cross), "
            "so nothing was shown; try again.",
        )
        self.asked = uuid
        self.got = None
