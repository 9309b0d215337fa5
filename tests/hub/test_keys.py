"""Stored API keys: created (shown once, kept hashed), listed, revoked; /ingest and /graphql accept them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.access import auth, keys
from hub.cli import main
from hub.config import parse
from hub.errors import NotFound, Unauthorized
from hub.store import Store
from hub.store.tables import api_keys, audit_log
from tests.support import cloudevent, dumps, gql, running_app

ME = "{ transactions(first: 1) { nodes { id } } }"


@pytest.mark.asyncio
async def test_a_stored_key_authenticates_until_revoked(store: Store) -> None:
    config = parse({"api_keys": []}, {})
    key, row = await keys.create_key(store, "bi", "viewer")
    assert key.startswith(f"ct_{row.prefix}_") and len(key) > 40
    async with store.read() as conn:
        stored = (await conn.execute(select(api_keys))).one()
    assert stored.sha256 == hashlib.sha256(key.encode()).hexdigest() and key not in repr(tuple(stored))

    ring = keys.KeyRing(store)
    await ring.reload()
    auth.attach_ring(config, ring)
    try:
        assert auth.authenticate(config, f"Bearer {key}").role == "viewer"
        for wrong in (key[:-1] + ("A" if key[-1] != "A" else "B"), f"ct_{row.prefix}_short", "ct_nope", key + "x"):
            with pytest.raises(Unauthorized):
                auth.authenticate(config, f"Bearer {wrong}")

        await keys.revoke_key(store, row.prefix)  # as another process would: this ring has not reloaded yet
        assert auth.authenticate(config, f"Bearer {key}").name == "bi"
        await ring.reload()  # the periodic refresh (every 2 s in a running hub)
        with pytest.raises(Unauthorized, match="revoked"):
            auth.authenticate(config, f"Bearer {key}")
        with pytest.raises(NotFound):
            await keys.revoke_key(store, row.prefix)  # already revoked
    finally:
        auth.detach_ring(config)
    listed = await keys.list_keys(store)
    assert [(k.name, k.role, k.revoked_at is not None) for k in listed] == [("bi", "viewer", True)]


@pytest.mark.asyncio
async def test_keys_created_over_graphql_work_on_ingest_and_graphql_and_revoke_at_once(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        created = await gql(client, 'mutation { createApiKey(name: "feeder", role: "operator") '
                                    '{ key info { prefix name role } } }')
        new_key = created["data"]["createApiKey"]["key"]
        prefix = created["data"]["createApiKey"]["info"]["prefix"]
        batch = {"authorization": f"Bearer {new_key}", "content-type": "application/cloudevents-batch+json"}
        event = cloudevent("erp", "order.placed", [("erp:so", "SO-1")])
        assert (await client.post("/ingest", content=dumps([event]), headers=batch)).status_code == 202
        assert "errors" not in await gql(client, ME, key=new_key)

        listed = await gql(client, "{ apiKeys(first: 10) { nodes { prefix name role revokedAt } } }")
        assert listed["data"]["apiKeys"]["nodes"] == [{"prefix": prefix, "name": "feeder", "role": "operator",
                                                       "revokedAt": None}]
        assert new_key not in str(listed)
        revoked = await gql(client, "mutation($p: String!) { revokeApiKey(prefix: $p) { prefix revokedAt } }",
                            p=prefix)
        assert revoked["data"]["revokeApiKey"][0]["revokedAt"] is not None
        live = await gql(client, "{ apiKeys(first: 10, revoked: false) { totalCount } gone: apiKeys(last: 10, "
                                 "revoked: true) { nodes { prefix } } }")
        assert live["data"]["apiKeys"]["totalCount"] == 0 and live["data"]["gone"]["nodes"] == [{"prefix": prefix}]

        assert (await client.post("/ingest", content=dumps([event]), headers=batch)).status_code == 401
        denied = await gql(client, ME, key=new_key)
        assert denied["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"
        bad = await gql(client, 'mutation { createApiKey(name: "x", role: "root") { key } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        entries = await gql(client, "{ auditLog(first: 10) { nodes { actor action object result } } }")
    actions = [(e["actor"], e["action"], e["result"]) for e in entries["data"]["auditLog"]["nodes"]]
    assert ("root", "revokeApiKey", "ok") in actions and ("root", "createApiKey", "ok") in actions
    assert ("root", "createApiKey", "error") in actions
    assert new_key not in str(entries) and new_key[len(prefix) + 4:] not in str(entries)


def test_cli_creates_lists_and_revokes_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "crosstrace.toml"
    config.write_text(f'[store]\nurl = "sqlite+aiosqlite:///{tmp_path / "hub.db"}"\n')
    assert main(["keys", "create", "--config", str(config), "--name", "bi", "--role", "viewer"]) == 0
    out = capsys.readouterr().out
    key = out.split()[out.split().index("now:") + 1]
    prefix = keys.prefix_of(key)
    assert prefix is not None

    assert main(["keys", "list", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    assert prefix in listing and "bi" in listing and "viewer" in listing and key not in listing
    assert key.encode() not in (tmp_path / "hub.db").read_bytes()

    assert main(["keys", "revoke", "--config", str(config), prefix]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["keys", "revoke", "--config", str(config), prefix]) == 1
    assert "no live API key" in capsys.readouterr().out
    assert main(["keys", "list", "--config", str(config)]) == 0
    assert "1 stored keys" in capsys.readouterr().out

    import asyncio

    async def audited() -> list[tuple[str, str]]:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
        try:
            async with store.read() as conn:
                return [(r.action, r.object) for r in (await conn.execute(select(audit_log))).all()]
        finally:
            await store.close()

    entries = asyncio.run(audited())
    assert [a for a, _ in entries] == ["keys.create", "keys.revoke"]
    assert all(f"prefix={prefix}" in o for _, o in entries)


@pytest.mark.asyncio
async def test_a_live_key_name_is_unique_and_free_again_once_revoked(store: Store) -> None:
    from hub.errors import BadRequest

    _, first = await keys.create_key(store, "ana", "operator")
    with pytest.raises(BadRequest, match="named 'ana' already"):
        await keys.create_key(store, "ana", "viewer")
    _, other = await keys.create_key(store, "bo", "viewer")
    revoked = await keys.revoke_key(store, "ana")  # by exact name: only ana's key, never bo's
    assert [r.prefix for r in revoked] == [first.prefix]
    assert [k.prefix for k in await keys.list_keys(store) if k.revoked_at is None] == [other.prefix]
    _, again = await keys.create_key(store, "ana", "viewer")
    assert again.prefix != first.prefix
