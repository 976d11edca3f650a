"""Encryption of Cflow user keys at rest, with key rotation.

`KeyBox` wraps `MultiFernet`: it encrypts with the first (newest) key and decrypts with
any, so an operator rotates by prepending a new key, re-encrypting, then dropping the old.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from bot.store.errors import SECRET_KEY_SETTING, StoreKeyError


def generate_key() -> str:
    """A fresh Fernet key, as `CFLOW_BOT_SECRET_KEY` expects it."""
    return Fernet.generate_key().decode("ascii")


def _fernet(key: str, position: int) -> Fernet:
    """Name the bad key by position only: echoing it would leak a secret into logs."""
    try:
        return Fernet(key.strip())
    except (ValueError, TypeError):
        raise StoreKeyError(
            f"{SECRET_KEY_SETTING} key #{position} is not a valid Fernet key "
            "(32 url-safe base64-encoded bytes; make one with `cflow-bot keygen`)"
        ) from None


class KeyBox:
    """Encrypts with the newest key, decrypts with any configured key."""

    def __init__(self, keys: Sequence[str]) -> None:
        fernets = [_fernet(key, number) for number, key in enumerate(keys, 1) if key.strip()]
        if not fernets:
            raise StoreKeyError(f"{SECRET_KEY_SETTING} holds no key")
        self._multi = MultiFernet(fernets)

    def encrypt(self, secret: SecretStr) -> str:
        return self._multi.encrypt(secret.get_secret_value().encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> SecretStr:
        try:
            plain = self._multi.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise _undecryptable() from None
        return SecretStr(plain.decode("utf-8"))

    def rotate(self, token: str) -> str:
        """Re-encrypt with the newest key, so older keys can then be removed."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise _undecryptable() from None


def _undecryptable() -> StoreKeyError:
    return StoreKeyError(
        f"A stored Cflow user key cannot be decrypted with any key in {SECRET_KEY_SETTING}: "
        "the key that encrypted it was probably removed. Put the old key back (after the "
        "new one) or ask the user to link their Cflow account again."
    )
