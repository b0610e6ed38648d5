"""Encryption at rest for the secrets Herald keeps (SMTP passwords, signing secrets, webhook tokens)."""

import base64
import functools
import os

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


def _fernet() -> Fernet:
    """HERALD_ENCRYPTION_KEY (a Fernet key) when set, else a key derived from SECRET_KEY."""
    key = os.environ.get("HERALD_ENCRYPTION_KEY") or current_app.config.get("ENCRYPTION_KEY")
    return _fernet_for(key or "", "" if key else current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=8)
def _fernet_for(key: str, secret_key: str) -> Fernet:
    """The cipher for a key, or for a key derived from secret_key; made once (deriving costs a little)."""
    if key:
        return Fernet(key)
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"herald-secrets", info=b"fernet").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """The plain text, or "" when the key has changed since it was stored (the user must enter it again)."""
    try:
        return _decrypted(_fernet(), token)
    except InvalidToken:
        current_app.logger.warning("A stored secret cannot be decrypted: was SECRET_KEY changed?")
        return ""


@functools.lru_cache(maxsize=1024)
def _decrypted(fernet: Fernet, token: str) -> str:
    """A stored value decrypted once: every read of a robot (each batch of messages) would check its HMAC
    and run AES again. A token is new ciphertext whenever a value is saved, so an entry never goes stale."""
    return fernet.decrypt(token.encode()).decode()


class EncryptedText(TypeDecorator):
    """A text column stored encrypted; the model sees the plain text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return encrypt(value) if value else ""

    def process_result_value(self, value, dialect):
        return decrypt(value) if value else ""


def mask(secret: str | None, keep: int = 4) -> str:
    """A secret as it may be shown: its last few characters at most, never the whole."""
    if not secret:
        return ""
    if len(secret) <= keep * 3:
        return "••••"
    return "••••" + secret[-keep:]
