"""Web UI sessions: the browser holds an opaque random id, the store its SHA-256, the key it was opened with and
a per-session CSRF token, until it expires or logout ends it (OWASP Session Management Cheat Sheet).

The cookie is never the API key. Each request finds its session again and re-checks the key by digest
(config ``[[api_keys]]`` or the store's live keys), so a revoked key's sessions stop working at once here and
within the key ring's refresh elsewhere; :func:`hub.access.keys.revoke_key` also deletes them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.access.auth import key_by_digest
from hub.config import ApiKey, Config
from hub.store import Store
from hub.store import session_queries as sq

_MAX_ID = 100  # a cookie value longer than any id we issue is not looked up at all


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: who (the key, re-checked on every request), its CSRF token and when it ends."""

    key: ApiKey
    csrf_token: str
    expires_at: datetime


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(store: Store, key: ApiKey, now: datetime, lifetime: timedelta) -> tuple[str, Session]:
    """A new session for ``key``; returns the id for the cookie (kept nowhere else) and the session."""
    session_id = secrets.token_urlsafe(32)  # 256 random bits
    session = Session(key=key, csrf_token=secrets.token_urlsafe(32), expires_at=now + lifetime)
    async with store.write() as conn:
        await sq.insert_session(conn, id_sha256=_hash(session_id), key_sha256=key.key_sha256,
                                csrf_token=session.csrf_token, created_at=now, expires_at=session.expires_at)
    return session_id, session


async def find_session(store: Store, config: Config, session_id: str | None, now: datetime) -> Session | None:
    """The live session with this id whose key is still valid; None for anything else (unknown, expired,
    logged out, revoked key, garbage)."""
    if not session_id or len(session_id) > _MAX_ID:
        return None
    async with store.read(primary=True) as conn:  # a session just opened or ended counts at once
        row = await sq.live_session(conn, _hash(session_id), now)
    if row is None:
        return None
    key = key_by_digest(config, row.key_sha256)
    return Session(key=key, csrf_token=row.csrf_token, expires_at=row.expires_at) if key is not None else None


async def end_session(store: Store, session_id: str | None) -> bool:
    """Delete the session (logout): a copy of the cookie stops working. False when there was none."""
    if not session_id or len(session_id) > _MAX_ID:
        return False
    async with store.write() as conn:
        return await sq.delete_session(conn, _hash(session_id)) > 0
