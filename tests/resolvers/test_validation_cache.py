"""Validation is cached (DESIGN §6: strawberry's validation cache halves execution time): a repeated document
is validated once per schema and introspection setting; a refused document stays refused from the cache."""

from __future__ import annotations

import pytest

from resolvers import limits
from tests.support import ADMIN_KEY, OPERATOR_KEY, VIEWER_KEY, gql, running_app

TRACE = 'query($ref: String!) { transaction(ref: $ref) { id kind events { id type } } }'


@pytest.mark.asyncio
async def test_a_repeated_query_is_validated_once_and_a_refused_one_stays_refused(store_url: str) -> None:
    async with running_app(store_url) as (client, _):
        limits._VALIDATED.clear()  # the cache is bounded: once earlier tests filled it, its size no longer grows
        before = len(limits._VALIDATED)
        for ref in ("a", "b", "c"):
            assert "errors" not in await gql(client, TRACE, key=ADMIN_KEY, ref=ref)
        assert len(limits._VALIDATED) == before + 1  # three requests, one validation (limiter rules are per request)
        assert "errors" not in await gql(client, TRACE, key=VIEWER_KEY, ref="a")  # masked: + MaskedSelections
        assert len(limits._VALIDATED) == before + 2
        assert "errors" not in await gql(client, TRACE, key=OPERATOR_KEY, ref="a")  # another masked role: the same
        assert len(limits._VALIDATED) == before + 2

        deep = "{ transaction(ref: \"x\") { " + "related { " * 12 + "id" + " }" * 12 + " } }"
        for _ in range(2):
            response = await client.post("/graphql", json={"query": deep},
                                         headers={"authorization": f"Bearer {ADMIN_KEY}"})
            assert "exceeds maximum operation depth" in response.json()["errors"][0]["message"]
        assert len(limits._VALIDATED) == before + 3
