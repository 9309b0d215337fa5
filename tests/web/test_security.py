"""Secure by default (issue 13, item 3), over real HTTP (ASGITransport) on SQLite and PostgreSQL.

A cross-site form cannot act, a viewer cannot act, an operator acts with the session's CSRF token and is
audited; the default config shows nothing without a login while the demo opens (on loopback only); the
cookie is an opaque session id that logout, expiry and key revocation end; every response carries the
security headers; ``next`` never leaves the site.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from tests.support import ADMIN_KEY, OPERATOR_KEY, VIEWER_KEY, gql
from tests.web.app import deliver_story, form_token, login, web_app

EVIL = "https://evil.example"
CROSS_SITE = {"origin": EVIL, "sec-fetch-site": "cross-site", "content-type": "application/x-www-form-urlencoded"}
EXCEPTIONS = "{ exceptions(first: 50, filter: {status: [\"open\"]}) { nodes { id type status evidence } } }"
AUDIT = "{ auditLog(first: 50) { nodes { actor role action object result } } }"


async def _open(client: httpx.AsyncClient) -> dict[str, Any]:
    nodes = (await gql(client, EXCEPTIONS))["data"]["exceptions"]["nodes"]
    return {n["id"]: n for n in nodes}


async def _status(client: httpx.AsyncClient, exc_id: str) -> str:
    data = await gql(client, 'query($id: ID!) { node(id: $id) { ... on Exception { status } } }', id=exc_id)
    return str(data["data"]["node"]["status"])


async def _attempts(client: httpx.AsyncClient, delivery: str) -> int:
    data = await gql(client, 'query($id: ID!) { delivery(id: $id) { attempts state } }', id=delivery)
    return int(data["data"]["delivery"]["attempts"])


async def _audit(client: httpx.AsyncClient) -> list[tuple[str, str, str, str]]:
    nodes = (await gql(client, AUDIT))["data"]["auditLog"]["nodes"]
    return [(n["actor"], n["action"], n["object"], n["result"]) for n in nodes]


async def _targets(client: httpx.AsyncClient) -> tuple[str, str]:
    """An open exception that is not a dead letter, and the dead-lettered delivery."""
    found = await _open(client)
    exc_id = next(i for i, n in found.items() if n["type"] != "dead_letter")
    delivery = next(n["evidence"]["delivery"] for n in found.values() if n["type"] == "dead_letter")
    return exc_id, delivery


@pytest.mark.asyncio
async def test_a_cross_site_form_or_a_request_without_session_and_token_changes_nothing(store_url: str) -> None:
    async with web_app(store_url, login_as=None) as (client, hub):
        await deliver_story(client, hub)
        exc_id, delivery = await _targets(client)
        attempts = await _attempts(client, delivery)
        resolve = {"ids": exc_id, "action": "resolve", "note": "pwned"}

        # What an attacker's page makes a browser send: no cookie (SameSite), Origin and Sec-Fetch-Site say so.
        forged = await client.post("/exceptions/act", data=resolve, headers=CROSS_SITE)
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "cross_site"
        replay = await client.post(f"/deliveries/{delivery}/replay", data={}, headers=CROSS_SITE)
        assert replay.status_code == 403
        # No browser headers, no session: refused too; an absurd form is refused before it is kept in memory.
        huge = await client.post("/login", content=b"k=" + b"x" * (2 * 1024 * 1024),
                                 headers={"content-type": "application/x-www-form-urlencoded"})
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
        assert (await client.post("/exceptions/act", data=resolve)).status_code == 401
        assert (await client.post(f"/deliveries/{delivery}/replay")).status_code == 401

        # Even a logged-in operator's cookie (an old browser without SameSite) does not carry a cross-site form.
        assert (await login(client, OPERATOR_KEY)).status_code == 303
        token = client.cookies["ct_csrf"]
        forged = await client.post("/exceptions/act", data={**resolve, "csrf_token": token}, headers=CROSS_SITE)
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "cross_site"
        for headers in ({"origin": "null"}, {"sec-fetch-site": "same-site"}):
            assert (await client.post("/exceptions/act", data={**resolve, "csrf_token": token},
                                      headers=headers)).status_code == 403
        stale = await client.post("/exceptions/act", data={**resolve, "csrf_token": "x" + token})
        assert stale.status_code == 403 and stale.json()["error"]["code"] == "csrf"
        no_token = await client.post(f"/deliveries/{delivery}/replay", data={})
        assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf"

        # GraphQL reads no cookie: with the operator's live session a mutation is anonymous, as JSON or as a form.
        mutation = f'mutation {{ resolveException(id: "{exc_id}", note: "pwned") {{ count }} }}'
        as_json = await client.post("/graphql", json={"query": mutation}, headers={"origin": EVIL})
        assert as_json.json()["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"
        as_form = await client.post("/graphql", data={"query": mutation}, headers=CROSS_SITE)
        assert as_form.status_code >= 400 or as_form.json()["errors"], as_form.text

        assert await _status(client, exc_id) == "open"
        assert await _attempts(client, delivery) == attempts
        assert ("ops", "web POST", "/exceptions/act", "denied") in await _audit(client)


@pytest.mark.asyncio
async def test_a_viewer_session_is_refused_and_an_operator_with_the_token_acts_and_is_audited(
        store_url: str) -> None:
    async with web_app(store_url, login_as=None) as (client, hub):
        await deliver_story(client, hub)
        assert (await login(client, VIEWER_KEY)).status_code == 303
        exc_id, delivery = await _targets(client)
        attempts = await _attempts(client, delivery)
        page = await client.get("/exceptions")
        token = form_token(page.text)
        assert token == client.cookies["ct_csrf"]  # the session's token, in every form and for scripts
        refused = await client.post("/exceptions/act", data={"ids": exc_id, "action": "resolve", "csrf_token": token})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert (await client.post(f"/deliveries/{delivery}/replay", data={"csrf_token": token})).status_code == 403
        assert await _status(client, exc_id) == "open"

        assert (await login(client, OPERATOR_KEY)).status_code == 303
        assert client.cookies["ct_csrf"] != token  # a new session, a new token: the viewer's is no good now
        stale = await client.post("/exceptions/act", data={"ids": exc_id, "action": "resolve", "csrf_token": token})
        assert stale.status_code == 403
        token = form_token((await client.get("/exceptions")).text)
        behind_proxy = {"origin": "https://hub.example.com", "sec-fetch-site": "same-origin"}  # Host rewritten
        done = await client.post("/exceptions/act", data={"ids": exc_id, "action": "resolve", "note": "reposted",
                                                          "csrf_token": token}, headers=behind_proxy)
        assert done.status_code == 303 and "Resolved+1" in done.headers["location"]
        replayed = await client.post(f"/deliveries/{delivery}/replay", data={"csrf_token": token},
                                     headers={"origin": "http://hub.test"})  # a browser without Fetch Metadata
        assert replayed.status_code == 303 and "Replaying" in replayed.headers["location"]
        await hub.normalizer.run_until_idle()
        assert await _status(client, exc_id) == "resolved"
        assert await _attempts(client, delivery) == attempts + 1
        entries = await _audit(client)
        assert ("bi", "web POST", "/exceptions/act", "denied") in entries
        assert ("bi", "web POST", f"/deliveries/{delivery}/replay", "denied") in entries
        assert ("ops", "web POST", "/exceptions/act", "ok") in entries
        assert ("ops", "web POST", f"/deliveries/{delivery}/replay", "ok") in entries
        history = await gql(client, 'query($id: ID!) { node(id: $id) { ... on Exception { history { actor } } } }',
                            id=exc_id)
        assert "ops" in [h["actor"] for h in history["data"]["node"]["history"]], history


@pytest.mark.asyncio
async def test_the_default_config_shows_no_page_and_no_raw_delivery_without_a_login(store_url: str) -> None:
    async with web_app(store_url, login_as=None) as (client, hub):
        await deliver_story(client, hub)
        _, delivery = await _targets(client)
        tx = (await gql(client, '{ transaction(ref: "W1001") { id events { id } } }'))["data"]["transaction"]
        pages = ["/", "/exceptions", "/exceptions/live", "/stock?sku=SKU-GRN-L", "/dashboard", "/search?ref=W1001",
                 f"/t/{tx['id']}", f"/t/{tx['id']}?event={tx['events'][0]['id']}", f"/deliveries/{delivery}"]
        for path in pages:
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=/"), path
            assert response.text == "" and "ct_session" not in response.headers.get("set-cookie", ""), path
        assert (await client.get("/login")).status_code == 200
        fetched = await client.get("/exceptions/live", headers={"sec-fetch-mode": "cors"})  # a script's fetch
        assert fetched.status_code == 401 and fetched.json()["error"]["code"] == "unauthorized"

        assert (await login(client, VIEWER_KEY, f"/deliveries/{delivery}")).headers["location"] == \
            f"/deliveries/{delivery}"
        raw = await client.get(f"/deliveries/{delivery}")
        assert raw.status_code == 200 and "not a cloudevent" in raw.text


@pytest.mark.asyncio
async def test_the_demo_opens_on_loopback_only_and_still_needs_the_token_and_audits_as_the_demo_user(
        store_url: str) -> None:
    async with web_app(store_url, login_as=None, open_ui_as="ops", base_url="http://127.0.0.1:8000") as (client, hub):
        await deliver_story(client, hub)
        exc_id, _ = await _targets(client)
        page = await client.get("/exceptions")
        assert page.status_code == 200 and exc_id in page.text  # no login asked
        session = client.cookies["ct_session"]
        assert session not in (OPERATOR_KEY, VIEWER_KEY, ADMIN_KEY) and not session.startswith("ct_")
        act = {"ids": exc_id, "action": "acknowledge"}
        assert (await client.post("/exceptions/act", data=act)).status_code == 403  # the token is still needed
        assert (await client.post("/exceptions/act", data=act, headers=CROSS_SITE)).status_code == 403
        done = await client.post("/exceptions/act", data={**act, "csrf_token": form_token(page.text)})
        assert done.status_code == 303
        assert await _status(client, exc_id) == "acknowledged"
        assert ("ops", "web POST", "/exceptions/act", "ok") in await _audit(client)

        # A page on another site that rebinds its DNS name to 127.0.0.1 reaches us with its own Host: no session.
        async with httpx.AsyncClient(transport=client._transport, base_url="http://rebind.evil.example:8000") as other:
            rebound = await other.get("/exceptions")
            assert rebound.status_code == 303 and rebound.headers["location"].startswith("/login")

    async with web_app(store_url, login_as=None, base_url="http://127.0.0.1:8000") as (client, _hub):
        assert (await client.get("/")).status_code == 303  # `serve` on loopback still asks for a key


@pytest.mark.asyncio
async def test_the_cookie_is_an_opaque_session_that_logout_expiry_and_revocation_end(store_url: str) -> None:
    now = [1_800_000_000.0]
    async with web_app(store_url, login_as=None, clock=lambda: now[0]) as (client, _hub):
        done = await login(client, OPERATOR_KEY)
        cookies = {h.split("=", 1)[0]: h for h in done.headers.get_list("set-cookie")}
        session = client.cookies["ct_session"]
        assert OPERATOR_KEY not in done.headers.get_list("set-cookie")[0] and session != OPERATOR_KEY
        assert len(session) >= 40  # 256 random bits
        assert f"Max-Age={12 * 3600}" in cookies["ct_session"] and "HttpOnly" in cookies["ct_session"]
        assert "SameSite=Strict" in cookies["ct_session"]
        token = client.cookies["ct_csrf"]
        assert (await client.get("/exceptions")).status_code == 200

        out = await client.post("/logout", data={"csrf_token": token})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        client.cookies.clear()
        client.cookies.set("ct_session", session)  # a copy of the cookie taken before the logout
        client.cookies.set("ct_csrf", token)
        assert (await client.get("/exceptions")).status_code == 303
        replay = await client.post("/exceptions/act", data={"ids": "exc_x", "action": "resolve", "csrf_token": token})
        assert replay.status_code == 401

        client.cookies.clear()
        await login(client, OPERATOR_KEY)
        assert (await client.get("/")).status_code == 200
        now[0] += 12 * 3600 + 1  # [web] session_hours = 12 by default
        assert (await client.get("/")).status_code == 303

        created = await gql(client, 'mutation { createApiKey(name: "temp", role: "operator") { key info { prefix } } }')
        stored = created["data"]["createApiKey"]
        client.cookies.clear()
        await login(client, stored["key"])
        assert (await client.get("/")).status_code == 200
        revoked = await gql(client, 'mutation($p: String!) { revokeApiKey(prefix: $p) { prefix } }',
                            p=stored["info"]["prefix"])
        assert "errors" not in revoked, revoked
        assert (await client.get("/")).status_code == 303  # the key's sessions ended with it


def _sample(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: {"filename": "events.csv"}.get(m.group(1), "nope"), path)


@pytest.mark.asyncio
async def test_every_response_carries_the_security_headers(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        await deliver_story(client, hub)
        app = client._transport.app  # type: ignore[attr-defined]
        paths = sorted({_sample(r.path) for r in app.routes if isinstance(r, Route) and "GET" in (r.methods or ())})
        assert {"/", "/exceptions", "/login", "/deliveries/nope", "/graphql", "/healthz"} <= set(paths), paths
        paths += ["/static/app.js", "/static/app.css", "/no-such-page", "/graphql?query={__typename}"]
        anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://hub.test")
        checked = 0
        for caller in (client, anonymous):
            for path in paths:
                response = await caller.get(path, headers={"accept": "text/html"})
                assert response.status_code < 500, path
                headers = response.headers
                assert headers["x-frame-options"] == "DENY", path
                assert headers["x-content-type-options"] == "nosniff", path
                assert headers["referrer-policy"] == "same-origin", path
                csp = headers["content-security-policy"]
                assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, path
                if path == "/graphql":  # GraphiQL: its own page, served from this origin like every other one
                    assert response.status_code == 200 and "graphiql" in response.text.lower()
                    assert "/static/graphiql/" in response.text and "<script>" not in response.text
                assert "script-src 'self';" in csp and "https:" not in csp and "unsafe" not in csp.split(
                    "style-src-attr")[0], path
                checked += 1
            refused = await caller.post("/exceptions/act", data={}, headers=CROSS_SITE)
            assert refused.status_code == 403 and refused.headers["x-frame-options"] == "DENY"
        await anonymous.aclose()
        assert checked == 2 * len(paths)


@pytest.mark.asyncio
async def test_next_never_leaves_the_site(store_url: str) -> None:
    async with web_app(store_url, login_as=None) as (client, hub):
        await deliver_story(client, hub)
        exc_id, _ = await _targets(client)
        evil = ["////evil.example/x", "/\\evil.example", "https://evil.example", "//evil.example", "/\t/evil.example",
                "\\\\evil.example", "http:evil.example", " //evil.example"]
        for target in evil:
            client.cookies.clear()
            page = await client.get("/login", params={"next": target})
            assert 'name="next" value="/"' in page.text, target
            done = await client.post("/login", data={"key": OPERATOR_KEY, "csrf_token": form_token(page.text),
                                                     "next": target})
            assert done.status_code == 303 and done.headers["location"] == "/", target
        token = client.cookies["ct_csrf"]
        for target in evil:
            back = await client.post("/exceptions/act", data={"ids": exc_id, "action": "explode", "next": target,
                                                              "csrf_token": token})
            assert back.status_code == 303 and back.headers["location"].startswith("/exceptions?msg="), target
        kept = await client.post("/exceptions/act", data={"action": "explode", "next": "/exceptions?type=late",
                                                          "csrf_token": token})
        assert kept.headers["location"].startswith("/exceptions?type=late&msg=")


def test_the_demo_opens_the_ui_only_when_it_binds_loopback() -> None:
    from hub.demo.runner import loopback

    assert all(loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(loopback(h) for h in ("0.0.0.0", "::", "192.168.1.10", "hub.example.com", ""))
