"""`python bot.py secrets new-key` and `python bot.py secrets rotate --new-key KEY`: SECRETS_KEY's life cycle.

Neither needs Discord, the relay or Foundry: only the database and the keys.
"""

from __future__ import annotations

import argparse
import sys

from core.errors import ConfigurationError
from core.sealing import SealingKey, new_key_text
from core.settings import Settings
from storage import StorageError, open_database
from storage.secrets import SecretStore


def _new_key(args: argparse.Namespace) -> SealingKey:
    text = sys.stdin.readline() if args.new_key == "-" else args.new_key
    try:
        return SealingKey.from_text(text)
    except ValueError as error:
        raise ConfigurationError(f"--new-key {error}.") from None


async def run_secrets(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "new-key":
        # The one place a key is printed: it is made for the person running this, and stored nowhere yet.
        print(new_key_text())
        return 0
    current = settings.sealing_key
    if current is None:
        raise ConfigurationError(
            "SECRETS_KEY is not set: rotating needs the current key in SECRETS_KEY and the new one in --new-key."
        )
    new = _new_key(args)
    if new.key_id == current.key_id:
        raise ConfigurationError("--new-key is the key SECRETS_KEY already holds: give a new one (secrets new-key).")
    try:
        db = await open_database(settings.database_location)
    except StorageError as error:
        raise ConfigurationError(error.message) from None
    try:
        store = SecretStore(db, current)
        await store.check_key()
        count = await store.rotate(new)
    finally:
        await db.close()
    if count == 0:
        print(f"No secret is stored yet: set SECRETS_KEY to the new key (key id {new.key_id}).")
    else:
        print(
            f"Re-sealed {count} stored secret(s) with the new key (key id {new.key_id}). Set SECRETS_KEY to the new "
            "key now: the bot no longer starts with the old one."
        )
    return 0
