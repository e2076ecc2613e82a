"""API keys with scopes, stored hashed in the ledger database.

A token is ``gsk_<key_id>_<secret>``: the key id locates the row, the 256-bit random secret is
checked against ``sha256(salt || secret)`` with a constant-time comparison. A slow password hash
(PBKDF2, argon2) protects low-entropy human passwords; a 256-bit random secret cannot be guessed,
so one salted SHA-256 keeps verification cheap on every request without weakening anything.

Scopes: ``read`` (GET data), ``compute`` (requests that run a model: chat completions,
maintenance predict and batch scoring), ``control`` (cooling setpoints/signals), ``jobs`` (batch
jobs), ``admin`` (everything, key management). ``compute``, ``control`` and ``jobs`` imply
``read``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.errors import ConfigError, GreenstackError

logger = logging.getLogger(__name__)

SCOPES: tuple[str, ...] = ("read", "compute", "control", "jobs", "admin")
# What each granted scope also allows; `admin` allows all.
_IMPLIES: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "compute": frozenset({"compute", "read"}),
    "control": frozenset({"control", "read"}),
    "jobs": frozenset({"jobs", "read"}),
    "admin": frozenset(SCOPES),
}
TOKEN_PREFIX = "gsk"
_SECRET_BYTES = 32  # 256-bit secrets: brute force is out of reach, so no key stretching needed

_metadata = sa.MetaData()
api_keys_table = sa.Table(
    "greenstack_api_keys",
    _metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("scopes", sa.String(200), nullable=False),  # comma-separated, sorted
    sa.Column("salt_hex", sa.String(64), nullable=False),
    sa.Column("hash_hex", sa.String(64), nullable=False),
    sa.Column("created_unix_s", sa.Float, nullable=False),
    sa.Column("revoked_unix_s", sa.Float, nullable=True),
)


class AuthError(GreenstackError):
    """A request carries no valid API key (HTTP 401)."""


class ScopeError(GreenstackError):
    """A valid API key lacks the scope an endpoint needs (HTTP 403)."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    name: str
    scopes: frozenset[str]
    created_unix_s: float
    revoked_unix_s: float | None = None

    def allows(self, scope: str) -> bool:
        """Whether this key grants ``scope`` (directly or implied)."""
        return any(scope in _IMPLIES[s] for s in self.scopes if s in _IMPLIES)


@dataclass(frozen=True)
class CreatedKey:
    """A freshly created key. ``token`` is shown once and never stored."""

    key: ApiKey
    token: str


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Normalise scopes; raises ConfigError for unknown or empty ones."""
    cleaned = frozenset(s.strip().lower() for s in scopes if s.strip())
    if not cleaned:
        raise ConfigError(f"no scopes given: pass one or more of {', '.join(SCOPES)}")
    unknown = sorted(cleaned - set(SCOPES))
    if unknown:
        raise ConfigError(f"unknown scope(s) {unknown}: valid scopes are {', '.join(SCOPES)}")
    return cleaned


def _hash_secret(salt: bytes, secret: str) -> str:
    return hashlib.sha256(salt + secret.encode("utf-8")).hexdigest()


def _parse_token(token: str) -> tuple[str, str] | None:
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _row_to_key(row: sa.Row) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        created_unix_s=row.created_unix_s,
        revoked_unix_s=row.revoked_unix_s,
    )


class ApiKeyStore:
    """Create, verify, list and revoke API keys in their own table of the ledger database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ensure_table()

    def _ensure_table(self) -> None:
        # Several server workers may start at once: the ledger's create_tables serialises them.
        from core.ledger import create_tables

        try:
            create_tables(self._engine, _metadata, [api_keys_table])
        except sa.exc.DBAPIError as e:
            raise GreenstackError(
                f"cannot create the API key table in {self._engine.url!r}: {e}; check that the "
                "ledger database is writable"
            ) from e

    def create(self, scopes: Iterable[str], name: str = "") -> CreatedKey:
        """Create a key with ``scopes``; the returned token is the only copy of the secret."""
        granted = validate_scopes(scopes)
        limit = api_keys_table.c.name.type.length
        if limit is not None and len(name) > limit:  # PostgreSQL would refuse it mid-insert
            raise ConfigError(f"key name is {len(name)} characters long; at most {limit} fit")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        salt = secrets.token_bytes(16)
        key = ApiKey(key_id=key_id, name=name, scopes=granted, created_unix_s=time.time())
        with self._engine.begin() as conn:
            conn.execute(
                api_keys_table.insert().values(
                    key_id=key_id,
                    name=name,
                    scopes=",".join(sorted(granted)),
                    salt_hex=salt.hex(),
                    hash_hex=_hash_secret(salt, secret),
                    created_unix_s=key.created_unix_s,
                )
            )
        logger.info("created API key %s with scopes %s", key_id, sorted(granted))
        return CreatedKey(key=key, token=f"{TOKEN_PREFIX}_{key_id}_{secret}")

    def verify(self, token: str) -> ApiKey:
        """The key a token belongs to; raises AuthError if unknown, malformed or revoked."""
        parsed = _parse_token(token)
        key_id, secret = parsed if parsed else ("", "")
        row = None
        if parsed:
            with self._engine.connect() as conn:
                row = conn.execute(
                    sa.select(api_keys_table).where(api_keys_table.c.key_id == key_id)
                ).first()
        # Hash even when the row is missing so timing does not reveal which key ids exist.
        salt = bytes.fromhex(row.salt_hex) if row else b"\0" * 16
        expected = row.hash_hex if row else "0" * 64
        matches = hmac.compare_digest(_hash_secret(salt, secret), expected)
        if row is None or not matches:
            raise AuthError(
                "API key not recognised: send a valid key as 'Authorization: Bearer <token>' or "
                "'X-API-Key: <token>'; create one with `greenstack keys create --scopes ...`"
            )
        key = _row_to_key(row)
        if key.revoked_unix_s is not None:
            raise AuthError(f"API key {key.key_id} was revoked; create a new one")
        return key

    def authorize(self, token: str, scope: str) -> ApiKey:
        """Verify ``token`` and check it grants ``scope``; AuthError (401) or ScopeError (403)."""
        key = self.verify(token)
        if not key.allows(scope):
            raise ScopeError(
                f"API key {key.key_id} has scopes {sorted(key.scopes)} but this endpoint needs "
                f"'{scope}'; create a key with `greenstack keys create --scopes {scope}`"
            )
        return key

    def list(self) -> list[ApiKey]:
        """All keys (revoked ones included), oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_keys_table).order_by(api_keys_table.c.created_unix_s)
            ).all()
        return [_row_to_key(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False if no active key has that id."""
        with self._engine.begin() as conn:
            result = conn.execute(
                api_keys_table.update()
                .where(api_keys_table.c.key_id == key_id)
                .where(api_keys_table.c.revoked_unix_s.is_(None))
                .values(revoked_unix_s=time.time())
            )
        return bool(result.rowcount)
