"""Each server's secrets (its relay key, its packages' release tokens), sealed with SECRETS_KEY.

A row holds the id of the key that sealed it and the sealed bytes, nothing readable: a copy of the database
without SECRETS_KEY reveals no secret. Each value is bound to its row (server, kind, name), so a sealed value
copied into another server's row does not open there. Listing never opens anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import SecretStr

from core.errors import ConfigurationError, UserFacingError
from core.sealing import SealError, SealingKey
from core.textsafe import valid_unicode
from storage.base import Database

RELAY_KEY = "relay_key"  # one per server: name ""
RELEASE_TOKEN = "release_token"  # one per server and package: name is the package id
KINDS = (RELAY_KEY, RELEASE_TOKEN)


class SecretsKeyError(ConfigurationError):
    """SECRETS_KEY is missing, or is not the key the stored secrets were sealed with."""


class SecretUnreadable(UserFacingError):
    """A stored secret does not open with SECRETS_KEY although its key id matches: it was altered or moved."""


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a stored secret: never the secret."""

    guild_id: int
    kind: str
    name: str
    set_by: int | None
    role_id: int | None
    set_at: float
    key_id: str


def _context(guild_id: int, kind: str, name: str) -> bytes:
    return f"{guild_id}\x1f{kind}\x1f{name}".encode()


class SecretStore:
    def __init__(self, db: Database, key: SealingKey | None):
        self.db = db
        self._key = key

    async def check_key(self) -> None:
        """Raises SecretsKeyError (one line naming SECRETS_KEY) when the stored secrets cannot be opened with
        the key given: run at start-up, so a wrong key stops the bot before any command needs a secret."""
        rows = await self.db.fetchall("SELECT key_id, COUNT(*) FROM guild_secrets GROUP BY key_id ORDER BY key_id")
        if not rows:
            return
        total = sum(count for _, count in rows)
        if self._key is None:
            raise SecretsKeyError(
                f"SECRETS_KEY is not set, but the database holds {total} sealed secret(s): set SECRETS_KEY to the "
                "key they were sealed with."
            )
        others = [key_id for key_id, _ in rows if key_id != self._key.key_id]
        if others:
            raise SecretsKeyError(
                f"SECRETS_KEY is not the key the stored secrets were sealed with (key id {others[0]}; this key's "
                f"is {self._key.key_id}): set SECRETS_KEY to that key."
            )
        row = await self.db.fetchone("SELECT guild_id, kind, name, sealed FROM guild_secrets LIMIT 1")
        self._open(row[0], row[1], row[2], bytes(row[3]))

    def _require_key(self) -> SealingKey:
        if self._key is None:
            raise SecretsKeyError(
                "SECRETS_KEY is not set, so no secret can be stored or read: make one with "
                "`python bot.py secrets new-key` and put it in .env."
            )
        return self._key

    def _open(self, guild_id: int, kind: str, name: str, sealed: bytes) -> SecretStr:
        try:
            plain = self._require_key().open(sealed, _context(guild_id, kind, name))
        except SealError:
            raise SecretUnreadable(
                "A stored secret does not open with SECRETS_KEY (it was altered or copied from another row): "
                "set it again."
            ) from None
        return SecretStr(plain.decode("utf-8"))

    async def put(
        self,
        guild_id: int,
        kind: str,
        name: str,
        secret: SecretStr,
        *,
        set_by: int | None,
        role_id: int | None = None,
    ) -> None:
        """Seal and store (or replace) one secret. ``role_id``: the role it is bound to (a release token's
        maintainer role), if any."""
        if kind not in KINDS:
            raise ValueError(f"no kind of secret is called {kind!r}")
        key = self._require_key()
        name = valid_unicode(name)
        sealed = key.seal(secret.get_secret_value().encode("utf-8"), _context(guild_id, kind, name))
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO guild_secrets (guild_id, kind, name, key_id, sealed, set_by, role_id, set_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, kind, name) DO UPDATE SET "
                "key_id = excluded.key_id, sealed = excluded.sealed, set_by = excluded.set_by, "
                "role_id = excluded.role_id, set_at = excluded.set_at",
                (guild_id, kind, name, key.key_id, sealed, set_by, role_id, time.time()),
            )

    async def get(self, guild_id: int, kind: str, name: str = "") -> SecretStr | None:
        row = await self.db.fetchone(
            "SELECT sealed FROM guild_secrets WHERE guild_id = ? AND kind = ? AND name = ?", (guild_id, kind, name)
        )
        return None if row is None else self._open(guild_id, kind, name, bytes(row[0]))

    async def remove(self, guild_id: int, kind: str, name: str = "") -> bool:
        async with self.db.transaction() as tx:
            removed = await tx.execute(
                "DELETE FROM guild_secrets WHERE guild_id = ? AND kind = ? AND name = ?", (guild_id, kind, name)
            )
        return removed > 0

    async def clear(self, guild_id: int) -> int:
        """Forget every secret of the server; returns how many there were."""
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM guild_secrets WHERE guild_id = ?", (guild_id,))

    async def list(self, guild_id: int, kind: str | None = None) -> list[SecretInfo]:
        sql = "SELECT guild_id, kind, name, set_by, role_id, set_at, key_id FROM guild_secrets WHERE guild_id = ?"
        params: tuple = (guild_id,)
        if kind is not None:
            sql += " AND kind = ?"
            params = (guild_id, kind)
        rows = await self.db.fetchall(sql + " ORDER BY kind, name", params)
        return [SecretInfo(*row) for row in rows]

    async def rotate(self, new_key: SealingKey) -> int:
        """Re-seal every stored secret with ``new_key`` in one transaction: all of them, or (on any failure)
        none. Returns how many were re-sealed. Then SECRETS_KEY must be set to the new key."""
        old_key = self._require_key()
        async with self.db.transaction() as tx:
            if self.db.dialect == "postgresql":
                # No other process may store a secret with the old key while this one re-seals them all.
                await tx.execute("LOCK TABLE guild_secrets IN SHARE ROW EXCLUSIVE MODE")
            rows = await tx.fetchall("SELECT guild_id, kind, name, key_id, sealed FROM guild_secrets")
            for guild_id, kind, name, key_id, sealed in rows:
                if key_id != old_key.key_id:
                    raise SecretsKeyError(
                        f"SECRETS_KEY is not the key every stored secret was sealed with (key id {key_id}; this "
                        f"key's is {old_key.key_id}): nothing was re-sealed."
                    )
                plain = self._open(guild_id, kind, name, bytes(sealed)).get_secret_value().encode("utf-8")
                await tx.execute(
                    "UPDATE guild_secrets SET key_id = ?, sealed = ? WHERE guild_id = ? AND kind = ? AND name = ?",
                    (new_key.key_id, new_key.seal(plain, _context(guild_id, kind, name)), guild_id, kind, name),
                )
        self._key = new_key
        return len(rows)
