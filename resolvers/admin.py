"""Admin root fields: the audit log, API keys, customer erasure and retention purges (admin role)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError

from hub.access import audit, keys
from hub.access.auth import ring_for
from hub.access.erasure import erase_customer
from hub.access.retention import Retention, purge
from hub.errors import HubError
from hub.model import as_utc
from hub.runtime import Hub
from hub.store.audit import entry_query
from hub.store.keys import key_query
from hub.store.paging import AUDIT_ORDER, KEY_ORDER
from resolvers.permissions import caller
from resolvers.query import keyset_connection, page_request
from schema.audit import ApiKeyInfo, AuditEntry, AuditFilter, CreatedApiKey, ErasureResult, PurgeResult
from schema.pagination import Connection


def _entry(row: Any) -> AuditEntry:
    entry = audit.entry_of(row)
    return AuditEntry(id=strawberry.ID(str(entry.id)), at=entry.at, actor=entry.actor, role=entry.role,
                      action=entry.action, object=entry.object, result=entry.result, detail=entry.detail)


def _info(row: keys.StoredKey | Any) -> ApiKeyInfo:
    return ApiKeyInfo(prefix=row.prefix, name=row.name, role=row.role, created_at=row.created_at,
                      revoked_at=row.revoked_at)


def _error(exc: HubError) -> GraphQLError:
    return GraphQLError(exc.message, extensions={"code": "BAD_USER_INPUT" if exc.status == 400 else exc.code.upper()})


@strawberry.type
class AdminQuery:
    @strawberry.field(description="Operator and admin actions, newest first (admin; keyset pagination: "
                                  "`first`/`after` or `last`/`before`, at most 100).")
    async def audit_log(self, info: strawberry.Info, filter: AuditFilter | None = None, first: int | None = None,
                        after: str | None = None, last: int | None = None,
                        before: str | None = None) -> Connection[AuditEntry]:
        caller(info, "admin")
        flt = filter or AuditFilter()
        query = entry_query(actor=flt.actor, action=flt.action, result=flt.result,
                            since=flt.since and as_utc(flt.since), until=flt.until and as_utc(flt.until))
        return await keyset_connection(info, query, AUDIT_ORDER, page_request(first, after, last, before),
                                       _entry)

    @strawberry.field(description="API keys kept in the store, oldest first, revoked ones included unless "
                                  "`revoked: false` (admin; keyset pagination, at most 100). Config-file keys are "
                                  "not listed.")
    async def api_keys(self, info: strawberry.Info, revoked: bool | None = None, first: int | None = None,
                       after: str | None = None, last: int | None = None,
                       before: str | None = None) -> Connection[ApiKeyInfo]:
        caller(info, "admin")
        return await keyset_connection(info, key_query(revoked), KEY_ORDER,
                                       page_request(first, after, last, before), _info)


@strawberry.type
class AdminMutation:
    @strawberry.mutation(description="Create an API key (admin). The key is in the answer once and never again.")
    async def create_api_key(self, info: strawberry.Info, name: str, role: str) -> CreatedApiKey:
        caller(info, "admin")
        hub = info.context["hub"]
        try:
            key, row = await keys.create_key(hub.started().store, name, role)
        except HubError as exc:
            raise _error(exc) from None
        await _reload(hub)
        return CreatedApiKey(key=key, info=_info(row))

    @strawberry.mutation(description="Revoke stored API keys by prefix (or name), effective at once (admin).")
    async def revoke_api_key(self, info: strawberry.Info, prefix: str) -> list[ApiKeyInfo]:
        caller(info, "admin")
        hub = info.context["hub"]
        try:
            rows = await keys.revoke_key(hub.started().store, prefix)
        except HubError as exc:
            raise _error(exc) from None
        await _reload(hub)
        return [_info(row) for row in rows]

    @strawberry.mutation(description="Erase a customer's personal data (by email and/or any ref of their order) from "
                                     "stored deliveries, events and exceptions; ids, amounts and times stay (admin).")
    async def erase_customer(self, info: strawberry.Info, email: str | None = None,
                             ref: str | None = None) -> ErasureResult:
        key = caller(info, "admin")
        try:
            report = await erase_customer(info.context["hub"].started().store, email=email, ref=ref,
                                          actor=key.name, role=key.role)
        except HubError as exc:
            raise _error(exc) from None
        return ErasureResult(deliveries=report.deliveries, events=report.events, refs=report.refs,
                             exceptions=report.exceptions,
                             transaction_ids=[strawberry.ID(t) for t in report.transactions])

    @strawberry.mutation(description="Purge deliveries and events older than the [retention] config now (admin).")
    async def purge_expired(self, info: strawberry.Info) -> PurgeResult:
        key = caller(info, "admin")
        hub = info.context["hub"]
        now = hub.now()
        report = await purge(hub.started().store, hub.config.retention or Retention(), now, actor=key.name)
        return PurgeResult(deliveries=report.deliveries, events=report.events)


async def _reload(hub: Hub) -> None:
    """Make a key change effective in this process at once (other processes: within the ring's refresh)."""
    ring = ring_for(hub.config)
    if ring is not None:
        await ring.reload()
