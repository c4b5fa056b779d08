"""Scopes, credentials and token rules (api.md §2). Pure: hashing uses hashlib/secrets only."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

SCOPES: tuple[str, ...] = ("account", "contact", "report", "sms")
PERMISSIONS = ("MT_ROLE_SMS",)
_SPLIT = re.compile(r"[\s,+]+")


class UnknownScope(ValueError):
    pass


def parse_scopes(text: str | None, allowed: frozenset[str]) -> frozenset[str]:
    """The scopes a token request asks for, limited to ``allowed``.

    ``None`` or an empty string means every allowed scope (Routee clients send ``scope=``). Scopes may be
    separated by spaces, commas or ``+``. A scope outside ``allowed`` raises ``UnknownScope``.
    """
    if text is None or not text.strip():
        return allowed
    asked = frozenset(s for s in _SPLIT.split(text.strip()) if s)
    unknown = asked - allowed
    if unknown:
        raise UnknownScope(", ".join(sorted(unknown)))
    return asked


def format_scopes(scopes: frozenset[str] | set[str]) -> str:
    return " ".join(sorted(scopes))


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are high-entropy random strings, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_secret(secret: str, *, salt: bytes | None = None, iterations: int = 50_000) -> str:
    """A salted PBKDF2 hash of an application secret: ``pbkdf2_sha256$iterations$salt$hash``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        algorithm, iterations, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if algorithm != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt_hex), int(iterations))
    return hmac.compare_digest(digest.hex(), digest_hex)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the account, the application and the scopes of its token."""

    account_id: str
    application_id: str
    application_name: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes
