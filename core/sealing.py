"""Sealing secrets for storage: AES-256-GCM (authenticated encryption from the `cryptography` package).

The key is ``SECRETS_KEY``: 32 random bytes, written in URL-safe base64 (``python bot.py secrets new-key``
makes one). Each sealed value carries the id of the key that sealed it, and is bound to a context (which
server, which secret), so a value copied into another row, or altered, fails to open instead of opening
as something else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT = b"\x01"  # the layout below: format byte, nonce, ciphertext with its 16-byte tag
KEY_FORMAT_HELP = (
    "must be 32 random bytes in URL-safe base64 (44 characters): make one with `python bot.py secrets new-key`"
)


class SealError(Exception):
    """A sealed value did not open: another key sealed it, or it was altered or moved."""


def new_key_text() -> str:
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def _decode_key(text: str) -> bytes:
    text = text.strip()
    try:
        # Either base64 alphabet; strict, so nothing after the padding slips through.
        raw = base64.b64decode(text.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ValueError(KEY_FORMAT_HELP)
    return raw


class SealingKey:
    """One key: ``seal`` and ``open`` bytes bound to a context. Never printed: its repr shows the key id only."""

    def __init__(self, raw: bytes):
        if len(raw) != KEY_BYTES:
            raise ValueError(KEY_FORMAT_HELP)
        self._aead = AESGCM(raw)
        # An id that names the key without revealing it (an HMAC of a fixed label under the key).
        self.key_id = hmac.new(raw, b"foundry-campaign-bot secrets key id", hashlib.sha256).hexdigest()[:16]

    @classmethod
    def from_text(cls, text: str | SecretStr) -> SealingKey:
        """Raises ValueError (naming the expected format, never the value) for anything but a 32-byte key."""
        value = text.get_secret_value() if isinstance(text, SecretStr) else text
        return cls(_decode_key(value))

    def __repr__(self) -> str:
        return f"SealingKey(key_id={self.key_id!r})"

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT + nonce + self._aead.encrypt(nonce, plaintext, self._bound(context))

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if sealed[:1] != _FORMAT or len(sealed) < 1 + _NONCE_BYTES + 16:
            raise SealError("not a sealed value of a known format")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, self._bound(context))
        except InvalidTag:
            raise SealError("the value does not open with this key in this place") from None

    def _bound(self, context: bytes) -> bytes:
        return self.key_id.encode("ascii") + b"\x00" + context
