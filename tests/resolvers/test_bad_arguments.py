"""Bad GraphQL arguments are user errors (issue 13, item 6): out-of-range integers and times, repeated grouping
dimensions are BAD_USER_INPUT errors with clear messages, never ``internal error``; a client error is logged as
one line, without a traceback, while an unexpected one keeps its id and traceback in the log."""

from __future__ import annotations

import logging

import pytest

from tests.resolvers.seed import T0, exception, write
from tests.support import ANONYMOUS, gql, running_app

HUGE = 2147483647


def _error(result: dict) -> tuple[str | None, str]:
    assert result.get("data") in (None, {}) or all(v is None for v in result["data"].values()), result
    (error,) = result["errors"]
    return (error.get("extensions") or {}).get("code"), error["message"]


@pytest.mark.asyncio
async def test_repeated_group_by_dimensions_are_refused_with_a_clear_message(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        await write(hub.started().store, exception_rows=[exception(1, "late", "open", T0),
                                                         exception(2, "failed", "open", T0)])
        result = await gql(client, "{ exceptionCounts(groupBy: [STATUS, TYPE, STATUS]) { status type count } }")
        assert _error(result) == ("BAD_USER_INPUT", "`groupBy` lists STATUS more than once: give each dimension once")
        fine = await gql(client, "{ exceptionCounts(groupBy: [STATUS, TYPE]) { status type count } }")
        assert sorted((r["type"], r["count"]) for r in fine["data"]["exceptionCounts"]) == [("failed", 1), ("late", 1)]


@pytest.mark.asyncio
@pytest.mark.parametrize("query", [
    "{ exceptions(filter: {olderThanMinutes: %d}, first: 1) { totalCount } }",
    "{ exceptionCounts(groupBy: [TYPE], filter: {olderThanMinutes: %d}) { count } }",
    "{ divergences(filter: {olderThanMinutes: %d}) { totalCount } }",
])
async def test_ages_out_of_range_are_user_errors(store_url: str, query: str) -> None:
    async with running_app(store_url) as (client, _):
        for minutes in (HUGE, -1):
            assert _error(await gql(client, query % minutes)) == (
                "BAD_USER_INPUT", f"`olderThanMinutes` must be between 0 and 5270400 (ten years); got {minutes}")
        assert "errors" not in await gql(client, query % 60)


@pytest.mark.asyncio
async def test_times_utc_cannot_hold_are_user_errors(store_url: str) -> None:
    async with running_app(store_url) as (client, _):
        for query in ('{ exceptions(filter: {since: "0001-01-01T00:00:00+14:00"}, first: 1) { totalCount } }',
                      '{ movements(sku: "x", from: "0001-01-01T00:00:00+05:00", first: 5) { sku } }',
                      '{ exceptions(filter: {until: "9999-12-31T23:59:59-14:00"}, first: 1) { totalCount } }'):
            code, message = _error(await gql(client, query))
            assert code is None and "outside the years 1 to 9999 in UTC" in message, message
        variables = await gql(client, "query($t: DateTime!) { stock(sku: \"x\", asOf: $t) { sku } }",
                              t="0001-01-01T00:00:00+14:00")
        assert "outside the years 1 to 9999 in UTC" in variables["errors"][0]["message"]
        assert "errors" not in await gql(client, '{ exceptions(filter: {since: "0001-01-01T00:00:00Z"}, first: 1) '
                                                 '{ totalCount } }')


@pytest.mark.asyncio
async def test_a_client_error_is_one_log_line_without_a_traceback(store_url: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    async with running_app(store_url) as (client, _):
        caplog.set_level(logging.DEBUG)
        await gql(client, "{ transactions(first: 1) { nodes { id } } }", key=ANONYMOUS)  # UNAUTHORIZED
        await gql(client, "{ transactions { nodes { id } } }")  # neither first nor last
        await gql(client, "{ transactionz }")  # validation
    records = [r for r in caplog.records if r.name.startswith(("crosstrace.graphql", "strawberry"))]
    assert [r.getMessage().split(": ")[0] for r in records] == [
        "graphql client error UNAUTHORIZED caller=ip:127.0.0.1 at transactions",
        "graphql client error BAD_USER_INPUT caller=key:root at transactions",
        "graphql client error GRAPHQL_VALIDATION_FAILED caller=key:root at -",
    ]
    for record in records:
        assert record.levelno == logging.INFO and record.exc_info is None and "\n" not in record.getMessage()
    assert "Traceback" not in caplog.text


@pytest.mark.asyncio
async def test_a_time_with_an_offset_filters_as_that_instant_in_utc(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        await write(hub.started().store, exception_rows=[exception(1, "late", "open", T0)])  # 21:30 UTC
        query = "query($t: DateTime!) { exceptions(filter: {since: $t}, first: 5) { nodes { id } } }"
        before = await gql(client, query, t="2026-10-24T23:29:00+02:00")  # 21:29 UTC
        after = await gql(client, query, t="2026-10-24T23:31:00+02:00")  # 21:31 UTC
        assert before["data"]["exceptions"]["nodes"] == [{"id": "exc_0001"}], before
        assert after["data"]["exceptions"]["nodes"] == [], after


@pytest.mark.asyncio
@pytest.mark.parametrize(("variables", "says"), [
    ({"ref": 7}, "String cannot represent a non string value: 7"),
    ({"ref": None}, "Expected value of non-null type 'String!' not to be None"),
    ({}, "Expected a value of non-null type 'String!'"),
])
async def test_a_variable_of_the_wrong_type_is_the_clients_error_not_an_internal_one(
        store_url: str, caplog: pytest.LogCaptureFixture, variables: dict, says: str) -> None:
    async with running_app(store_url) as (client, _):
        with caplog.at_level(logging.INFO, logger="crosstrace.graphql"):
            result = await gql(client, "query($ref: String!) { transaction(ref: $ref) { id } }", **variables)
    message = result["errors"][0]["message"]
    assert result.get("data") is None and message.startswith("Variable '$ref' has invalid value") and says in message
    assert "internal error" not in caplog.text and "Traceback" not in caplog.text
