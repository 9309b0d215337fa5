"""Helpers for tests that run the whole app: a config with signed sources and keys, signed requests."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from collectors.standard_webhooks import sign
from hub.access.auth import digest
from hub.app import create_app
from hub.config import parse
from hub.runtime import Hub
from hub.store import inbox_log

ERP_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WMS_SECRET = "whsec_" + "d21zLXNlY3JldC1mb3ItdGVzdHMtMTIzNDU2Nzg5MA=="
OPERATOR_KEY = "ct_operator-key-for-tests"
VIEWER_KEY = "ct_viewer-key-for-tests"
ADMIN_KEY = "ct_admin-key-for-tests"
ANONYMOUS = None  # gql(..., key=ANONYMOUS): no Authorization header


def config_for(store_url: str, extra: dict | None = None, **correlation: Any):  # type: ignore[no-untyped-def]
    raw = {
        "store": {"url": store_url},
        "sources": [
            {"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": ERP_SECRET},
            {"name": "wms", "kind": "wms", "adapter": "cloudevents", "secret": WMS_SECRET},
            {"name": "shop", "kind": "commerce", "adapter": "cloudevents", "secret": ERP_SECRET},
        ],
        "api_keys": [
            {"name": "ops", "role": "operator", "key_sha256": digest(OPERATOR_KEY)},
            {"name": "bi", "role": "viewer", "key_sha256": digest(VIEWER_KEY)},
            {"name": "root", "role": "admin", "key_sha256": digest(ADMIN_KEY)},
        ],
        "ingest": {"max_body_bytes": 64 * 1024},
        "correlation": correlation,
        **(extra or {}),
    }
    return parse(raw, {})


def cloudevent(source: str, type_: str, refs: list[tuple[str, str] | tuple[str, str, str]], *,
               id: str | None = None, time_: str = "2026-11-01T12:00:00Z", **data: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": id or f"ce-{uuid.uuid4().hex[:10]}", "source": source, "type": type_,
            "time": time_, "datacontenttype": "application/json",
            "data": {"refs": [{"namespace": r[0], "value": r[1], **({"role": r[2]} if len(r) > 2 else {})}
                              for r in refs], **data}}


def signed_headers(body: bytes, secret: str = ERP_SECRET, msg_id: str | None = None,
                   timestamp: int | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    stamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret, msg_id, stamp, body), "content-type": "application/json"}


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


@asynccontextmanager
async def running_app(store_url: str, *, clock: Callable[[], float] = time.time, extra: dict | None = None,
                      **correlation: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    """The app with its lifespan running, and an httpx client over ASGITransport.

    The background evaluator ticks only once an hour: tests call ``hub.evaluator.tick(now)`` themselves.
    """
    app = create_app(config_for(store_url, extra=extra, **correlation), clock=clock, evaluate_every=3600)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client, app.state.hub


async def gql(client: httpx.AsyncClient, query: str, key: str | None = ADMIN_KEY,
              **variables: Any) -> dict[str, Any]:
    """POST a GraphQL request as the admin, or as ``key`` (``None``: anonymous, which may read nothing)."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def moved(hub: Hub) -> None:
    """Every acknowledged delivery is in ``deliveries``, for a test that reads the table itself: on SQLite the
    receiver appends to the inbox log, which the normalizer (or a read of delivery state) moves there."""
    await inbox_log.caught_up(hub.started().store)
