"""API keys kept in the store: ``ct_<prefix>_<secret>``, only the SHA-256 of the whole key is stored.

The config file's ``[[api_keys]]`` stay the bootstrap (a first admin key before the store has any);
keys created with ``crosstrace keys create`` live in the ``api_keys`` table and can be listed and
revoked. :class:`KeyRing` caches the table in memory so the synchronous ``hub.access.auth.authenticate`` can
consult it on every request; it reloads every few seconds (revocation from another process takes
effect within ``refresh_seconds``) and at once after a change made through this process.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from hub.config import ROLES, ApiKey
from hub.errors import BadRequest, NotFound
from hub.model import utcnow
from hub.periodic import Periodic
from hub.store import Store
from hub.store import keys as stored
from hub.store.session_queries import delete_sessions_of_keys

log = logging.getLogger("crosstrace.keys")
_KEY = re.compile(r"^ct_([0-9a-f]{8})_([A-Za-z0-9_-]{20,})$")


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One row of ``api_keys`` (never the key itself)."""

    prefix: str
    name: str
    role: str
    sha256: str
    created_at: datetime
    revoked_at: datetime | None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str, str]:
    """A fresh ``ct_<prefix>_<secret>`` key, its prefix and its SHA-256 hex digest."""
    prefix = secrets.token_hex(4)
    key = f"ct_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, digest(key)


def prefix_of(key: str) -> str | None:
    """The lookup prefix of a store-managed key; None for other shapes (config keys, garbage)."""
    match = _KEY.match(key)
    return match.group(1) if match else None


async def create_key(store: Store, name: str, role: str, now: datetime | None = None) -> tuple[str, StoredKey]:
    """Create a key; returns the key (show it once, it is not kept) and its stored row."""
    name = name.strip()
    if not name or len(name) > 100:
        raise BadRequest("a key needs a name of 1 to 100 characters")
    if role not in ROLES:
        raise BadRequest(f"role {role!r}: expected one of {', '.join(ROLES)}")
    key, prefix, sha = new_key()
    row = StoredKey(prefix=prefix, name=name, role=role, sha256=sha, created_at=now or utcnow(), revoked_at=None)
    async with store.write() as conn:
        taken = await stored.live_keys_by_name(conn, name)
        if taken:  # names tell keys apart in the audit log and `keys revoke NAME`
            raise BadRequest(f"a live key is named {name!r} already (prefix {taken[0].prefix}): pick another name, "
                             f"or revoke it first with `crosstrace keys revoke {taken[0].prefix}`")
        await stored.insert_key(conn, prefix=row.prefix, name=row.name, role=row.role, sha256=row.sha256,
                                created_at=row.created_at)
    return key, row


async def list_keys(store: Store) -> list[StoredKey]:
    """Every stored key, revoked ones included, oldest first."""
    async with store.read() as conn:
        rows = await stored.all_keys(conn)
    return [StoredKey(r.prefix, r.name, r.role, r.sha256, r.created_at, r.revoked_at) for r in rows]


async def revoke_key(store: Store, name_or_prefix: str, now: datetime | None = None) -> list[StoredKey]:
    """Revoke the live keys with that prefix (or, failing that, that name); NotFound when none is live."""
    async with store.write() as conn:
        rows = await stored.live_keys_by_prefix(conn, name_or_prefix)
        if not rows:
            rows = await stored.live_keys_by_name(conn, name_or_prefix)
        if not rows:
            raise NotFound(f"no live API key with prefix or name {name_or_prefix!r} (see `crosstrace keys list`)")
        at = now or utcnow()
        await stored.revoke_keys(conn, [r.prefix for r in rows], at)
        await delete_sessions_of_keys(conn, [r.sha256 for r in rows])  # its web sessions end with it
    return [StoredKey(r.prefix, r.name, r.role, r.sha256, r.created_at, at) for r in rows]


class KeyRing:
    """An in-memory copy of the live stored keys, by prefix; :meth:`find` is synchronous and constant time."""

    def __init__(self, store: Store, *, refresh_seconds: float = 2.0) -> None:
        self._store = store
        self._by_prefix: dict[str, StoredKey] = {}
        self._refresh = refresh_seconds
        self._refresher = Periodic("crosstrace-keyring", self._refresh_step, log)

    async def reload(self) -> None:
        """Read the live keys again (called periodically and after every local change)."""
        self._by_prefix = {k.prefix: k for k in await list_keys(self._store) if k.revoked_at is None}

    def find(self, key: str) -> ApiKey | None:
        """The live stored key equal to ``key`` (compared by digest in constant time), else None."""
        prefix = prefix_of(key)
        row = self._by_prefix.get(prefix) if prefix else None
        if row is None or not hmac.compare_digest(row.sha256, digest(key)):
            return None
        return ApiKey(name=row.name, role=row.role, key_sha256=row.sha256)

    def find_digest(self, sha256: str) -> ApiKey | None:
        """The live stored key with this SHA-256 (a web session's key), else None."""
        row = next((k for k in self._by_prefix.values() if hmac.compare_digest(k.sha256, sha256)), None)
        return ApiKey(name=row.name, role=row.role, key_sha256=row.sha256) if row is not None else None

    def start(self) -> None:
        """Reload every ``refresh_seconds``, keeping the last good copy while the store is unreachable."""
        self._refresher.start(self._refresh, wait_first=True)

    async def stop(self) -> None:
        await self._refresher.stop()

    async def _refresh_step(self) -> bool:
        await self.reload()
        return False
