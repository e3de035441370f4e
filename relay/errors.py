"""What can go wrong talking to the Foundry REST relay, one class per case a person acts on differently.

Every message is one sentence saying what happened and what to do. None of them may carry the API
key: the client scrubs any relay text before it lands here.
"""

from __future__ import annotations

from core.errors import UserFacingError


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
