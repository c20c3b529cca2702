"""API keys and roles: key generation, hashing, and what each role may do."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum

KEY_PREFIX = "apc_"


class Role(StrEnum):
    ADMIN = "admin"  # everything
    ANALYST = "analyst"  # read, annotate, import specs
    VIEWER = "viewer"  # read-only; PII samples fully masked
    SENSOR = "sensor"  # ingest only, nothing to read


class Permission(StrEnum):
    READ = "read"
    ANNOTATE = "annotate"
    IMPORT_SPECS = "import_specs"
    INGEST = "ingest"
    # PII samples as the detector masked them (viewers get a shape-only mask on top).
    READ_SAMPLES = "read_samples"
    # Alert destinations (URLs, secrets): administrators only.
    MANAGE_INTEGRATIONS = "manage_integrations"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.ANALYST: frozenset(
        {Permission.READ, Permission.ANNOTATE, Permission.IMPORT_SPECS, Permission.READ_SAMPLES}
    ),
    Role.VIEWER: frozenset({Permission.READ}),
    Role.SENSOR: frozenset({Permission.INGEST}),
}


def generate_key() -> str:
    """A new secret: 256 bits from the OS CSPRNG, URL-safe, recognisable by its prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # A plain SHA-256 is enough for 256-bit random secrets (no dictionary to attack), and it lets
    # the lookup use an index on the hash instead of trying every stored key.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 6]
