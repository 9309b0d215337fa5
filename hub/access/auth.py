"""API keys (DESIGN §5): ``ct_`` + secret, stored only as a SHA-256 hex digest; roles viewer < operator < admin.

Keys come from two places: the config file's ``[[api_keys]]`` (the bootstrap) and the store's
``api_keys`` table (``crosstrace keys create``), whose in-memory :class:`hub.access.keys.KeyRing` the app
attaches to its config with :func:`attach_ring` so every caller of :func:`authenticate` sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from hub.config import ApiKey, Config
from hub.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from hub.access.keys import KeyRing

ROLE_RANK = {"viewer": 0, "operator": 1, "admin": 2}
# The running app's key ring per config object (a frozen Config cannot carry it; /ingest holds the config).
_RINGS: dict[int, KeyRing] = {}


def attach_ring(config: Config, ring: KeyRing) -> None:
    """Make :func:`authenticate` consult ``ring`` for this config (done in the app's lifespan)."""
    _RINGS[id(config)] = ring


def detach_ring(config: Config) -> None:
    _RINGS.pop(id(config), None)


def ring_for(config: Config) -> KeyRing | None:
    return _RINGS.get(id(config))


def new_key() -> tuple[str, str]:
    """A fresh key and its SHA-256 hex digest (the digest goes in the config; the key is shown once)."""
    key = f"ct_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"  # same shape as store keys (hub.access.keys)
    return key, digest(key)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def config_block(name: str, role: str, key_sha256: str) -> str:
    return f'[[api_keys]]\nname = "{name}"\nrole = "{role}"\nkey_sha256 = "{key_sha256}"\n'


def authenticate(config: Config, authorization: str | None) -> ApiKey | None:
    """The API key named by an ``Authorization: Bearer <key>`` header; None when no header was sent.

    Raises :class:`Unauthorized` for a malformed header or a key that matches no configured key.
    """
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use the header `Authorization: Bearer <api key>`")
    return key_for(config, token.strip())


def key_for(config: Config, token: str) -> ApiKey:
    """The config or store key equal to ``token``; :class:`Unauthorized` when none (revoked keys included)."""
    presented = digest(token)
    match = None
    for key in config.api_keys:  # compare against every key so timing does not reveal which one matched
        if hmac.compare_digest(presented, key.key_sha256):
            match = key
    ring = _RINGS.get(id(config))
    if match is None and ring is not None:
        match = ring.find(token)
    if match is None:
        raise Unauthorized("unknown or revoked API key")
    return match


def key_by_digest(config: Config, key_sha256: str) -> ApiKey | None:
    """The config or live store key whose SHA-256 is ``key_sha256`` (a web session names its key so); else None."""
    match = None
    for key in config.api_keys:
        if hmac.compare_digest(key_sha256, key.key_sha256):
            match = key
    ring = _RINGS.get(id(config))
    if match is None and ring is not None:
        match = ring.find_digest(key_sha256)
    return match


def require_role(key: ApiKey | None, role: str) -> ApiKey:
    """The key if it has at least ``role``; otherwise 401 (no key) or 403 (too weak)."""
    if key is None:
        raise Unauthorized("an API key is required: `Authorization: Bearer <key>` "
                           "(create one with `crosstrace keys create --name N --role R`)")
    if ROLE_RANK[key.role] < ROLE_RANK[role]:
        raise Forbidden(f"API key {key.name!r} has role {key.role}; this needs {role} or above")
    return key
