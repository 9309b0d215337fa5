"""The store's tables (SQLAlchemy 2 Core). Schema changes go through Alembic migrations next to this file.

Times are naive UTC. Ids are time-sortable strings (``hub.ids``), so "oldest wins" is ``min(id)``.
Indexes follow the reads users make: ref → transaction, transaction → events by time, deliveries by
state, exceptions by status/type.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

deliveries = Table(
    "deliveries", metadata,
    Column("id", String(40), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("dedup_key", String(200), nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("content_type", String(200), nullable=False, server_default=""),
    Column("state", String(10), nullable=False, server_default="pending"),  # pending | done | dead
    Column("error", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("repeats", Integer, nullable=False, server_default="0"),  # same delivery sent again
    Column("processed_at", DateTime),  # normalized (done/dead) at; while pending again: replayed at
    Column("claimed_by", String(100)),  # PostgreSQL: the worker that took it (hub/store/claims.py)
    Column("claim_until", DateTime),  # … until then (the database's clock); after that another worker may
    UniqueConstraint("source", "dedup_key", name="uq_deliveries_source_dedup"),
    Index("ix_deliveries_state", "state", "id"),
    Index("ix_deliveries_source_received", "source", "received_at"),
)

inbox_positions = Table(  # SQLite: how far the inbox log (its own file) is moved into deliveries
    "inbox_positions", metadata,
    Column("log", String(20), primary_key=True),  # entries | repeats
    Column("position", BigInteger, nullable=False),
)

events = Table(
    "events", metadata,
    Column("id", String(40), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("source_event_id", String(200), nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("tx_id", String(40)),  # NULL: an unlinked event (no identity ref), counted by an `unlinked` exception
    Column("delivery_id", String(40), nullable=False),
    Column("status", String(10), nullable=False, server_default="ok"),
    Column("error", Text),
    Column("traceparent", String(64)),
    Column("lines", JSON),
    Column("amount_value", String(40)),
    Column("amount_currency", String(8)),
    Column("amount_kind", String(20)),
    Column("amount_parts", JSON),  # [{value, currency, kind}]: what the amount consists of (tax, shipping, discount)
    Column("unknown_type", Boolean, nullable=False, server_default="0"),
    Column("out_of_order", Boolean, nullable=False, server_default="0"),
    Column("duplicates", Integer, nullable=False, server_default="0"),
    Column("attributes", JSON),  # business attributes the source's config names ({name: value}); null: none
    UniqueConstraint("source", "source_event_id", name="uq_events_source_event"),
    Index("ix_events_tx_time", "tx_id", "occurred_at", "received_at"),
    Index("ix_events_delivery", "delivery_id"),
)

# PostgreSQL only (hub/store/partitions.py): deliveries and events are partitioned by month on their ids there, and a
# partitioned table cannot hold a unique constraint without its partition key. Each dedup key is one row here,
# written in the transaction that stores its delivery or event: the primary key decides "stored once" across months.
# SQLite keeps plain tables and their unique constraints, and has none of these tables.
delivery_keys = Table(
    "delivery_keys", metadata,
    Column("source", String(64), primary_key=True),
    Column("dedup_key", String(200), primary_key=True),
    Column("delivery_id", String(40), nullable=False),
)

event_keys = Table(
    "event_keys", metadata,
    Column("source", String(64), primary_key=True),
    Column("source_event_id", String(200), primary_key=True),
    Column("event_id", String(40), nullable=False),
)

POSTGRESQL_ONLY_TABLES = frozenset({"delivery_keys", "event_keys"})
SQLITE_ONLY_CONSTRAINTS = frozenset({"uq_deliveries_source_dedup", "uq_events_source_event"})

# Every ref an event states, with its role as stated; whether an identity ref still merges lives in ref_keys.
refs = Table(
    "refs", metadata,
    Column("event_id", String(40), primary_key=True),
    Column("namespace", String(100), primary_key=True),
    Column("value", String(200), primary_key=True),
    Column("role", String(10), nullable=False),
    Index("ix_refs_lookup", "namespace", "value", "event_id"),
    Index("ix_refs_value", "value"),
)

# One row per distinct identity ref: which transaction it belongs to, and whether it was demoted
# (a placeholder that would join unrelated transactions links nothing any more).
ref_keys = Table(
    "ref_keys", metadata,
    Column("namespace", String(100), primary_key=True),
    Column("value", String(200), primary_key=True),
    Column("tx_id", String(40)),
    Column("events", Integer, nullable=False, server_default="0"),
    Column("demoted", Boolean, nullable=False, server_default="0"),
    Index("ix_ref_keys_value", "value"),
    Index("ix_ref_keys_tx", "tx_id"),
)

transactions = Table(
    "transactions", metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("first_at", DateTime, nullable=False),
    Column("last_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("events", Integer, nullable=False),
    Column("systems", JSON, nullable=False),
    Column("open_exceptions", Integer, nullable=False, server_default="0"),
    Index("ix_transactions_kind_first", "kind", "first_at", "id"),
    Index("ix_transactions_first", "first_at", "id"),
)

# Business attributes per transaction (channel, store, sales rep…), kept by hub/store/record.py from its events'
# attributes (the latest statement of a name wins) whenever the transaction is recomputed; lists filter and metrics
# group by (name, value).
transaction_attributes = Table(
    "transaction_attributes", metadata,
    Column("tx_id", String(40), primary_key=True),
    Column("name", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
    Index("ix_transaction_attributes_value", "name", "value", "tx_id"),
)

# A transaction merged into an older one stays resolvable by its old id.
tx_aliases = Table(
    "tx_aliases", metadata,
    Column("alias", String(40), primary_key=True),
    Column("tx_id", String(40), nullable=False, index=True),
)

exceptions = Table(
    "exceptions", metadata,
    Column("id", String(40), primary_key=True),
    Column("type", String(40), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("rule", String(60), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("key", String(400), nullable=False, server_default=""),  # rule|subject, open or not
    Column("tx_id", String(40)),
    Column("tx_kind", String(20)),
    Column("system", String(64)),
    Column("system_kind", String(20)),
    Column("queue", String(40), nullable=False, server_default="ops"),
    Column("status", String(14), nullable=False, server_default="open"),  # open | acknowledged | resolved
    Column("open_key", String(400), unique=True),  # rule|subject while not resolved: never two open
    Column("message", Text, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("evidence_hash", String(64), nullable=False, server_default=""),
    Column("assignee", String(100)),
    Column("resolved_by", String(100)),  # "system" when the evidence cleared
    Column("opened_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
    Column("escalation", Integer, nullable=False, server_default="0"),  # steps escalated (1x, 2x, 4x its SLA)
    Column("escalating_since", DateTime),  # the escalation clock's start: opened, or last reopened
    # The queue pages oldest first within a status (and type): (opened_at, id) is the keyset order, so the index
    # walks it and a page reads 51 entries, never sorts the status's rows.
    Index("ix_exceptions_status_type", "status", "type", "opened_at", "id"),
    Index("ix_exceptions_status_age", "status", "opened_at", "id", "type"),  # type: the dashboard's recent ages
    Index("ix_exceptions_status_severity", "status", "severity", "opened_at", "id"),  # a part of a severity page
    Index("ix_exceptions_status_source", "status", "system", "opened_at", "id"),
    Index("ix_exceptions_tx", "tx_id"),
    Index("ix_exceptions_key", "key"),
    Index("ix_exceptions_counts", "status", "type", "system", "severity"),
)
# How many exceptions there are per value of every dimension the queue filters and groups by, kept by
# hub/exceptions/lifecycle.py in the same transaction as each change (None is stored as ''); counts read a few hundred
# rows here instead of scanning the exceptions (DESIGN §6: dashboards need maintained counters).
exception_counts = Table(
    "exception_counts", metadata,
    Column("status", String(14), primary_key=True),
    Column("type", String(40), primary_key=True),
    Column("system", String(64), primary_key=True),
    Column("severity", String(10), primary_key=True),
    Column("queue", String(40), primary_key=True),
    Column("system_kind", String(20), primary_key=True),
    Column("tx_kind", String(20), primary_key=True),
    Column("n", Integer, nullable=False),
)
# Per UTC hour opened (hours since 1970) and one dimension ('' for all, status, type, source, kind): how many.
exception_counts_hourly = Table(
    "exception_counts_hourly", metadata,
    Column("dim", String(8), primary_key=True),  # first: a time series reads one dimension over a range of hours
    Column("hour", Integer, primary_key=True, autoincrement=False),
    Column("value", String(64), primary_key=True),
    Column("n", Integer, nullable=False),
)
# Unresolved amount mismatches per currency and UTC hour opened: how many, and the sum of their absolute differences
# (exact decimal text), kept with the counters above (hub/store/backlog_counts.py); reconciliationBacklog reads them.
backlog_counts = Table(
    "backlog_counts", metadata,
    Column("currency", Text, primary_key=True),
    Column("hour", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
    Column("unmatched", Text, nullable=False),
)
# The same per UTC day opened (days since 1970): the backlog older than a week reads a row a day, not 24.
backlog_counts_daily = Table(
    "backlog_counts_daily", metadata,
    Column("currency", Text, primary_key=True),
    Column("day", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
    Column("unmatched", Text, nullable=False),
)

# Who did what to an exception, and when (the system included: opened, auto-resolved, reopened).
exception_history = Table(
    "exception_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("exception_id", String(40), nullable=False, index=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(20), nullable=False),  # opened | acknowledged | assigned | resolved | reopened | note
    Column("note", Text),
)

# The due-time index: each transaction's next moment at which a step becomes overdue. The evaluator's
# tick reads only rows that fell due, never every transaction.
tx_due = Table(
    "tx_due", metadata,
    Column("tx_id", String(40), primary_key=True),
    Column("due_at", DateTime, nullable=False, index=True),
)

# One row per polled source: the committed cursor (written in the same transaction as the deliveries
# it produced) and the poller's health, shown in GraphQL `sources` and /metrics.
# One owner per periodic duty across hub processes (hub/store/leases.py): held by `holder` until `until`.
leases = Table(
    "leases", metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("until", DateTime, nullable=False),
)

poll_state = Table(
    "poll_state", metadata,
    Column("source", String(64), primary_key=True),
    Column("cursor", Text),
    Column("cursor_updated_at", DateTime),
    Column("last_poll_at", DateTime),
    Column("last_success_at", DateTime),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("circuit", String(10), nullable=False, server_default="closed"),  # closed | open | half_open
    Column("next_poll_at", DateTime),
    Column("items_total", Integer, nullable=False, server_default="0"),
)

# API keys created with `crosstrace keys create` (the config's [[api_keys]] are the bootstrap): only the
# SHA-256 of the key is kept; `prefix` (the `ct_<prefix>_…` part) finds the row without scanning.
api_keys = Table(
    "api_keys", metadata,
    Column("prefix", String(16), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(10), nullable=False),  # viewer | operator | admin
    Column("sha256", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
)

# Every operator and admin action: who, what, when, which object, result. Never a secret or a note's text.
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("role", String(10), nullable=False),
    Column("action", String(60), nullable=False),
    Column("object", String(400), nullable=False, server_default=""),
    Column("result", String(20), nullable=False),  # ok | denied | error
    Column("detail", Text),
    Index("ix_audit_log_at", "at"),
)

# Web UI sessions (hub.access.sessions): the browser's cookie holds a random id, the store only its SHA-256, so a
# copy of this table lets no one in. A session names the API key it was opened with by that key's SHA-256:
# revoking the key ends it; logout and expiry delete it.
web_sessions = Table(
    "web_sessions", metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("key_sha256", String(64), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Index("ix_web_sessions_key", "key_sha256"),
    Index("ix_web_sessions_expires", "expires_at"),
)

# Stock (hub.stock.ledger): the current position per (sku, location, source, state), with the time of the
# latest event applied (as_of), of the snapshot it rests on (base_at; null while only movements were seen)
# and the event that last set it. Quantities are floats: exact for whole units, fine for weights.
stock_positions = Table(
    "stock_positions", metadata,
    Column("sku", String(100), primary_key=True),
    Column("location", String(100), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("state", String(12), primary_key=True),
    Column("qty", Float, nullable=False),
    Column("as_of", DateTime, nullable=False),
    Column("base_at", DateTime),
    Column("event_id", String(40), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Every stock effect of every event (append-only): the history behind "as of" and the movements list.
stock_history = Table(
    "stock_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sku", String(100), nullable=False),
    Column("location", String(100), nullable=False),
    Column("source", String(64), nullable=False),
    Column("state", String(12), nullable=False),
    Column("at", DateTime, nullable=False),  # the event's occurred_at
    Column("event_id", String(40), nullable=False, index=True),
    Column("event_type", String(64), nullable=False),
    Column("delta", Float),  # null: a snapshot set the quantity
    Column("qty", Float, nullable=False),  # the quantity it reported (snapshot) or moved (movement)
    Column("applied", Boolean, nullable=False),  # false: already covered by a later snapshot
    Index("ix_stock_history_key", "sku", "location", "source", "state", "at"),
    Index("ix_stock_history_loc_time", "sku", "location", "at"),
)

# Current divergences per (sku, location, source) against the authoritative source. While pending, due_at
# is when the settle window ends (the tick reads only rows that fell due); once raised it is null.
stock_divergences = Table(
    "stock_divergences", metadata,
    Column("sku", String(100), primary_key=True),
    Column("location", String(100), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("authoritative", String(64), nullable=False),
    Column("units", Float, nullable=False),
    Column("value", Float),  # value at risk: units × the configured unit value (null when none is configured)
    Column("states", JSON, nullable=False),
    Column("since", DateTime, nullable=False),
    Column("due_at", DateTime, index=True),
    Column("status", String(10), nullable=False),  # pending | open
    Column("exception_id", String(40)),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_stock_divergences_units", "units", "sku", "location", "source"),
    Index("ix_stock_divergences_value", "value", "sku", "location", "source"),
    Index("ix_stock_divergences_loc_source", "location", "source", "status"),
)

# Alert windows (hub.exceptions.alerts) count events by type or source over an occurred_at range: a range read each.
Index("ix_events_type_occurred", events.c.type, events.c.occurred_at)
Index("ix_events_source_occurred", events.c.source, events.c.occurred_at)
# Unlinked events per source and type (the `unlinked` exception's count); partial: only they are in it.
Index("ix_events_unlinked", events.c.source, events.c.type, events.c.received_at,
      sqlite_where=text("tx_id IS NULL"), postgresql_where=text("tx_id IS NULL"))
# Dead letters per source over a received_at range; partial, so the hot ingest path never maintains it.
Index("ix_deliveries_dead", deliveries.c.source, deliveries.c.received_at,
      sqlite_where=text("state = 'dead'"), postgresql_where=text("state = 'dead'"))

# Unresolved exceptions not fully escalated, by type and escalation clock (hub.exceptions.escalation): the escalation
# tick reads only those past a step's age; partial, so resolved and fully escalated ones never cost it anything.
Index("ix_exceptions_escalating", exceptions.c.type, exceptions.c.escalating_since, exceptions.c.id,
      sqlite_where=text("status != 'resolved' AND escalation < 3"),
      postgresql_where=text("status != 'resolved' AND escalation < 3"))

# Step outcomes (hub.exceptions.step_outcomes): per transaction and flow step with an SLA, whether it was done on
# time or late, or when it falls due; the evaluator replaces a transaction's rows, SLA attainment counts them.
step_outcomes = Table(
    "step_outcomes", metadata,
    Column("tx_id", String(40), primary_key=True),
    Column("step", String(60), primary_key=True),
    Column("flow", String(16), nullable=False),  # the key of the flow they were computed with
    Column("channel", String(64)),  # the source that reported the flow's first step
    Column("outcome", String(8), nullable=False),  # on_time | late | pending | none
    Column("due_at", DateTime),  # pending: overdue once past
)

# Outbound exception notifications (hub.exceptions.notify): one row per matching (target, history entry), written
# before any attempt; the sender retries with backoff until delivered or out of attempts (state failed).
notification_outbox = Table(
    "notification_outbox", metadata,
    Column("id", String(40), primary_key=True),  # also the Standard Webhooks `webhook-id`: stable across retries
    Column("target", String(64), nullable=False),
    Column("exception_id", String(40), nullable=False),
    Column("history_id", Integer, nullable=False),
    Column("action", String(20), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(10), nullable=False, server_default="pending"),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime, nullable=False),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("delivered_at", DateTime),
    Column("last_error", Text),
    UniqueConstraint("target", "history_id", name="uq_notification_outbox_target_history"),
    Index("ix_notification_outbox_due", "state", "next_attempt_at"),
)

# Every attempt to deliver an outbox row: when, the HTTP status (null: no response) and the error, for the operators'
# notification log (issue 17 item 6).
notification_attempts = Table(
    "notification_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False),
    Column("target", String(64), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Index("ix_notification_attempts_message", "message_id", "id"),
    Index("ix_notification_attempts_target", "target", "id"),
)

# Per configured endpoint: failed attempts in a row, and whether it was disabled for them (until an operator
# enables it again); a row appears with the endpoint's first attempt.
notification_endpoints = Table(
    "notification_endpoints", metadata,
    Column("target", String(64), primary_key=True),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("last_attempt_at", DateTime),
    Column("last_success_at", DateTime),
    Column("disabled_at", DateTime),
    Column("disabled_reason", Text),
)

# How far the notifier has read exception_history (the durable log of every exception change).
notification_cursor = Table(
    "notification_cursor", metadata,
    Column("name", String(40), primary_key=True),
    Column("history_id", Integer, nullable=False, server_default="0"),
)

# Customers' emails and phones as keyed hashes (HMAC-SHA256 under the hub's `contact_index` secret), each with the
# delivery that carried it: search finds a customer's orders without the value stored in clear, and erasure
# deletes the rows of the deliveries it rewrites.
contact_index = Table(
    "contact_index", metadata,
    Column("digest", String(64), primary_key=True),
    Column("delivery_id", String(40), primary_key=True),
    Index("ix_contact_index_delivery", "delivery_id"),
)

# Secrets the hub makes for itself (random, written by the migration that needs them), by name.
hub_secrets = Table(
    "hub_secrets", metadata,
    Column("name", String(40), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

# Announced maintenance (hub.exceptions.maintenance): while a source is under maintenance its SLA clocks pause and
# its silence and volume alerts stay quiet. Windows from the config are not stored; these come from GraphQL and the CLI.
maintenance_windows = Table(
    "maintenance_windows", metadata,
    Column("id", String(40), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("starts_at", DateTime, nullable=False),
    Column("ends_at", DateTime, nullable=False),
    Column("reason", Text),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_maintenance_windows_ends", "ends_at"),
)

# PostgreSQL: each GraphQL caller's cost budget, shared by every process (hub/store/cost_budgets.py)
cost_budgets = Table(
    "cost_budgets", metadata,
    Column("caller", Text, primary_key=True),
    Column("tokens", Float, nullable=False),  # points left at refilled_at
    Column("refilled_at", Float, nullable=False),  # the app's clock (seconds since the epoch)
    Column("granted", Boolean, nullable=False),  # whether the last take was granted (what RETURNING reports)
)

# PostgreSQL with a read replica: when each caller last wrote, on the primary's clock, for read-your-writes across
# every process (hub/store/caller_writes.py)
caller_writes = Table(
    "caller_writes", metadata,
    Column("caller", Text, primary_key=True),  # hub.readers.caller_of: the hashed key or session
    Column("wrote_at", Float, nullable=False),  # seconds since the epoch on the primary's clock
)
