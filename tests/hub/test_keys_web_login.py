"""Web login with API keys: HttpOnly/SameSite=Strict session cookie (Secure on https), double-submit CSRF."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from hub.app import create_app
from tests.support import ADMIN_KEY, OPERATOR_KEY, VIEWER_KEY, config_for, gql, running_app
from tests.web.app import form_token, login

LOGIN_REQUIRED = {"web": {"require_login": True}}


@asynccontextmanager
async def browser(store_url: str, base_url: str = "http://hub.test",
                  extra: dict | None = None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config_for(store_url, extra=LOGIN_REQUIRED if extra is None else extra), evaluate_every=3600)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
            yield client


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


@pytest.mark.asyncio
async def test_pages_need_a_login_and_the_session_cookie_is_locked_down(store_url: str) -> None:
    async with browser(store_url) as client:
        first = await client.get("/exceptions", params={"status": "open"})
        assert first.status_code == 303 and first.headers["location"] == "/login?next=/exceptions%3Fstatus%3Dopen"
        csrf_cookie = _set_cookies(first)["ct_csrf"]
        assert "SameSite=Strict" in csrf_cookie and "HttpOnly" not in csrf_cookie  # double-submit: forms read it
        assert (await client.get("/healthz")).status_code == 200  # health stays open

        page = await client.get("/login")
        assert page.status_code == 200 and 'type="password"' in page.text
        forged = await client.post("/login", data={"key": OPERATOR_KEY, "csrf_token": "guess", "next": "/"})
        assert forged.status_code == 403 and "ct_session" not in _set_cookies(forged)
        wrong = await client.post("/login", data={"key": "ct_wrong", "csrf_token": form_token(page.text)})
        assert wrong.status_code == 401 and "unknown or revoked" in wrong.text

        done = await login(client, OPERATOR_KEY, "/exceptions")
        assert done.status_code == 303 and done.headers["location"] == "/exceptions"
        session = _set_cookies(done)["ct_session"]
        assert "HttpOnly" in session and "SameSite=Strict" in session and "Path=/" in session
        assert "Secure" not in session  # plain http here; see the https test
        assert (await client.get("/exceptions")).status_code == 200

        bounced = await login(client, OPERATOR_KEY, "//evil.example/")
        assert bounced.headers["location"] == "/"  # no open redirect

        out = await client.post("/logout", data={"csrf_token": client.cookies["ct_csrf"]})
        assert out.status_code == 303 and "Max-Age=0" in _set_cookies(out)["ct_session"]
        client.cookies.delete("ct_session")
        assert (await client.get("/")).status_code == 303


@pytest.mark.asyncio
async def test_over_https_the_session_cookie_is_secure(store_url: str) -> None:
    async with browser(store_url, base_url="https://hub.test") as client:
        done = await login(client, VIEWER_KEY)
        assert done.status_code == 303 and "Secure" in _set_cookies(done)["ct_session"]


@pytest.mark.asyncio
async def test_forms_need_the_csrf_token_and_an_operator_and_are_audited(store_url: str) -> None:
    async with browser(store_url) as client:
        await login(client, VIEWER_KEY)
        form = {"action": "acknowledge", "ids": "exc_none"}
        assert (await client.post("/exceptions/act", data=form)).status_code == 403  # no token
        token = client.cookies["ct_csrf"]
        viewer = await client.post("/exceptions/act", data={**form, "csrf_token": token})
        assert viewer.status_code == 403 and viewer.json()["error"]["code"] == "forbidden"

        await login(client, OPERATOR_KEY)
        token = client.cookies["ct_csrf"]
        stale = await client.post("/exceptions/act", data={**form, "csrf_token": "not-the-cookie"})
        assert stale.status_code == 403 and stale.json()["error"]["code"] == "csrf"
        acted = await client.post("/exceptions/act", data={**form, "csrf_token": token})
        assert acted.status_code < 400
        by_header = await client.post("/exceptions/act", data=form, headers={"x-csrf-token": token})
        assert by_header.status_code < 400

        page = (await client.get("/exceptions")).text
        assert f'name="csrf_token" value="{token}"' in page  # the UI's forms carry the token

        graphql = await client.post("/graphql", json={"query": "{ auditLog(first: 10) { nodes { actor action "
                                                               "object result } } }"},
                                    headers={"authorization": "Bearer ct_admin-key-for-tests"})
    entries = [(e["actor"], e["action"], e["object"], e["result"]) for e in graphql.json()["data"]["auditLog"]["nodes"]]
    assert ("ops", "web POST", "/exceptions/act", "ok") in entries
    assert ("bi", "web POST", "/exceptions/act", "denied") in entries
    assert ("ops", "web login", "", "ok") in entries


@pytest.mark.asyncio
async def test_login_is_on_by_default_and_graphql_ignores_the_session_cookie(store_url: str) -> None:
    async with running_app(store_url) as (client, _hub):  # the default config: no [web] table at all
        assert (await client.get("/")).status_code == 303  # only `crosstrace demo` opens without a key
        assert (await client.get("/login")).status_code == 200
        assert (await login(client, OPERATOR_KEY)).status_code == 303
        assert (await client.get("/")).status_code == 200
        # GraphQL ignores the cookie, even a live session's: API callers send `Authorization: Bearer`
        anonymous = await gql(client, "{ transactions(first: 1) { nodes { id } } }", key=None)
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"


@pytest.mark.asyncio
async def test_ui_pages_mask_personal_data_for_everyone_but_an_admin_session(store_url: str) -> None:
    from tests.hub.test_privacy import EMAIL, deliver, order_event

    async with running_app(store_url) as (client, hub):
        await deliver(client, hub, order_event(1))
        tx = (await gql(client, '{ transaction(ref: "1001") { id events { id } } }'))["data"]["transaction"]
        url = f"/t/{tx['id']}?event={tx['events'][0]['id']}"
        anonymous = await client.get(url)  # no page, let alone its personal data, without a login
        assert anonymous.status_code == 303 and "1001" not in anonymous.text
        for key in (VIEWER_KEY, OPERATOR_KEY):
            client.cookies.clear()
            assert (await login(client, key)).status_code == 303
            page = await client.get(url)
            assert page.status_code == 200 and "1001" in page.text and "49.90" in page.text
            for personal in (EMAIL, "Rua das Flores", "912 345 678"):
                assert personal not in page.text, (key, personal)
        client.cookies.clear()
        await login(client, ADMIN_KEY)
        page = await client.get(url)
        assert EMAIL in page.text and "Rua das Flores" in page.text
