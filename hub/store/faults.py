"""Why a write failed: the database (down, locked, busy — retry later) or the data (it can never be written).

The line matters because the two call for opposite actions. A delivery whose data the database rejects is
dead-lettered so the ones behind it move on; the same treatment for "the database is down" would
dead-letter every good delivery during an outage. When in doubt about a database-side error, this says
*transient*: a retry loop shows up on ``/healthz``, a wrongly dead-lettered delivery only on replay.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["describe", "is_lock_conflict", "is_transient", "refuses_data"]

# PostgreSQL SQLSTATE classes that say "this value/row cannot be stored" (PostgreSQL docs, Appendix A
# "PostgreSQL Error Codes"): 22 data exception (a NUL in text 22021, a value too long 22001, a number out of
# range 22003), 23 integrity constraint violation, 54 program limit exceeded (an index row too large), P0 an
# exception raised by a PL/pgSQL trigger. Every other class (08 connection, 40 rollback/deadlock, 53
# resources, 55 lock not available, 57 shutdown/cancel, 3D no such database, XX internal, …) is the server.
_DATA_SQLSTATE_CLASSES = frozenset({"22", "23", "54", "P0"})
# SQLite primary result codes (https://www.sqlite.org/rescode.html) that say the database, not the row, failed:
# BUSY 5, LOCKED 6, NOMEM 7, READONLY 8, INTERRUPT 9, IOERR 10, CORRUPT 11, FULL 13, CANTOPEN 14, PROTOCOL 15,
# NOLFS 22, NOTADB 26. CONSTRAINT 19, TOOBIG 18, MISMATCH 20 and the generic ERROR 1 are the statement's data.
_TRANSIENT_SQLITE = frozenset({5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 22, 26})
_MAX_TEXT = 1000
# 40P01 deadlock detected (PostgreSQL broke a cycle of lock waits by failing one of them), 40001 serialization
# failure: the transaction lost a race and is to be run again, the store itself is fine.
_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` says the store is unavailable (retry later), false when the data cannot be written."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return code[:2] not in _DATA_SQLSTATE_CLASSES
        if isinstance(orig, sqlite3.Error):
            return _sqlite_transient(orig)
        cause = getattr(orig, "__cause__", None)
        return isinstance(cause, OSError | TimeoutError)
    if isinstance(exc, sqlite3.Error):  # plain sqlite3, as the inbox log writes (hub/store/inbox_log.py)
        return _sqlite_transient(exc)
    # Connecting raises the driver's OSError unwrapped (asyncpg: ConnectionRefusedError); the pool may time out.
    # PendingRollbackError: a pooled connection was cut inside its transaction and not yet reset — the store's
    # state, never the data's (seen when PostgreSQL terminates the backend mid-write).
    return isinstance(exc, OSError | TimeoutError | PoolTimeout | PendingRollbackError)


def is_lock_conflict(exc: BaseException) -> bool:
    """True when ``exc`` says the transaction lost a lock race (a deadlock broken, a serialization failure): a
    transient error expected among concurrent writers, for one warning line and a retry, never a traceback."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code in _CONFLICT_SQLSTATES


def refuses_data(exc: BaseException) -> bool:
    """True when the database refused the data of the statement (it can never be written as it is); false for
    the store being unavailable and for anything that is not a database error (a bug: retry after the fix)."""
    return isinstance(exc, DBAPIError | sqlite3.Error) and not is_transient(exc)


def _sqlite_transient(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # extended code: the primary one is its low byte
    if isinstance(code, int):
        return (code & 0xFF) in _TRANSIENT_SQLITE
    return isinstance(exc, sqlite3.OperationalError)


def describe(exc: BaseException) -> str:
    """A short text for ``exc``: the driver's message without the SQL and bound parameters (which may hold a
    whole batch). It may still quote a refused value: pass it through ``hub.ingest.values.safe_text`` before storing."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    inner = getattr(orig, "__cause__", None) if isinstance(exc, DBAPIError) else None
    shown = inner if isinstance(inner, Exception) and str(inner) else orig
    message = str(shown).split("\n")[0] or shown.__class__.__name__
    text = f"{shown.__class__.__name__}: {message}"
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - 1] + "…"
