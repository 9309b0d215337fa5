"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/), for GET and POST requests.

- Media type: ``application/graphql-response+json`` when the ``Accept`` header allows it, else
  ``application/json`` (also for a missing Accept or ``*/*``); anything else is 406.
- With ``application/graphql-response+json`` a request error (parse, validation, variable coercion, a limit)
  is a 4xx whose body has no ``data``; with ``application/json`` it is a 200 (legacy clients).
- GET runs queries only: a mutation over GET is 405 with ``Allow: POST``. POST needs ``application/json``
  (415 otherwise); a body that is not a JSON object is 400 (batching is off).
- Over the caller's cost budget: 429 with ``Retry-After`` (RFC 9110 §10.2.3); the budget's store not answering:
  503 with ``Retry-After`` (UNAVAILABLE).
- Cheap refusals first: the API key is checked before the body is read (a wrong key: UNAUTHORIZED, 401 with
  ``application/graphql-response+json``); a body over ``max_body_bytes`` is 413 as soon as its Content-Length or
  its streamed size says so, a GET query string over it 414; an operation running past ``max_execution_seconds``
  is stopped and answered with a TIMEOUT error (``data: null``).
Transport errors carry both the GraphQL shape (``errors``) and the hub's one error shape (``error``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from strawberry import Schema
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from hub.errors import HubError
from hub.ingest.request_body import read_body
from resolvers.hot_documents import HotDocuments
from resolvers.limits import Limits
from resolvers.persisted import PersistedDocuments, PersistedQueryError

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_ALLOWED = {"GET": {OperationType.QUERY}, "POST": {OperationType.QUERY, OperationType.MUTATION}}
log = logging.getLogger("crosstrace.graphql")


class RequestError(Exception):
    """A request the server refuses before (or instead of) executing it."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def negotiate(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header (None: nothing we can produce)."""
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media == GRAPHQL_RESPONSE:
            chosen = GRAPHQL_RESPONSE
        elif media in (JSON, "application/*", "*/*"):
            chosen = JSON
        else:
            continue
        if quality > 0 and (best is None or quality > best[0]):
            best = (quality, position, chosen)
    return best[2] if best else None


def _json_param(value: Any, name: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):  # GET: a JSON-encoded query parameter
        try:
            value = orjson.loads(value) if value else None
        except orjson.JSONDecodeError:
            raise RequestError(400, "BAD_REQUEST", f"`{name}` is not valid JSON") from None
        if value is None or isinstance(value, dict):
            return value
    raise RequestError(400, "BAD_REQUEST", f"`{name}` must be a JSON object")


async def read_params(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request's GraphQL parameters, validated for type; :class:`RequestError` for a malformed request or one
    over ``max_bytes`` (the body is read chunk by chunk and refused as soon as it passes the limit)."""
    if request.method == "GET":
        if len(request.scope.get("query_string", b"")) > max_bytes:
            raise RequestError(414, "URI_TOO_LONG", f"the query string is over the limit of {max_bytes} bytes: "
                               "POST the document instead")
        params: dict[str, Any] = dict(request.query_params)
    else:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise RequestError(415, "UNSUPPORTED_MEDIA_TYPE", "POST a JSON body with `Content-Type: application/json`")
        try:
            body = await read_body(request.receive, dict(request.headers), max_bytes)
        except HubError as exc:  # 413: the body is over the limit
            raise RequestError(exc.status, exc.code.upper(), exc.message) from None
        try:
            params = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise RequestError(400, "BAD_REQUEST", "the body is not valid JSON") from None
        if isinstance(params, list):
            raise RequestError(400, "BAD_REQUEST", "batched requests are not supported: send one operation")
        if not isinstance(params, dict):
            raise RequestError(400, "BAD_REQUEST", "the body must be a JSON object with a `query`")
    for name in ("query", "operationName", "documentId"):
        if params.get(name) is not None and not isinstance(params[name], str):
            raise RequestError(400, "BAD_REQUEST", f"`{name}` must be a string")
    params["variables"] = _json_param(params.get("variables"), "variables")
    params["extensions"] = _json_param(params.get("extensions"), "extensions")
    return params


def is_request_error(result: Any) -> bool:
    """Nothing executed: parse, validation, coercion or limit errors have no ``data`` and no ``path``."""
    return bool(result.errors) and result.data is None and all(e.path is None for e in result.errors)


class GraphQLHTTP:
    """Handles one GET/POST request: parameters, persisted documents, execution, status and media type."""

    def __init__(self, schema: Schema, documents: PersistedDocuments,
                 get_context: Callable[[Request], Awaitable[dict[str, Any]]], limits: Limits,
                 hot: HotDocuments | None = None) -> None:
        self.schema, self.documents, self.get_context, self.limits = schema, documents, get_context, limits
        self.hot = hot

    async def handle(self, request: Request) -> Response:
        media = negotiate(request.headers.get("accept"))
        try:
            if request.method not in _ALLOWED:
                raise RequestError(405, "METHOD_NOT_ALLOWED", "use GET (queries) or POST", {"Allow": "GET, POST"})
            if media is None:
                raise RequestError(406, "NOT_ACCEPTABLE", f"accept {GRAPHQL_RESPONSE} or {JSON}")
            context = await self.get_context(request)  # authenticates: a wrong key costs no reading or parsing
            if context.get("auth_error") is not None:
                error = context["auth_error"]
                return self._graphql_error(media, error.code.upper(), error.message, 401,
                                           {"WWW-Authenticate": "Bearer"})  # RFC 6750 §3
            params = await read_params(request, self.limits.max_body_bytes)
            try:
                query = self.documents.resolve(params.get("query"), params.get("documentId"), params["extensions"])
            except PersistedQueryError as exc:
                return self._graphql_error(media, exc.code, exc.message)
            if not query:
                raise RequestError(400, "BAD_REQUEST", "no GraphQL `query` (or `documentId`) in the request")
            try:
                # A wall-clock limit: a slow operation is cancelled at its next await (the walks before execution
                # are linear in the document, so nothing before it holds the loop).
                async with asyncio.timeout(self.limits.max_execution_seconds):
                    result = await self._execute(query, params, context, request.method)
            except TimeoutError:
                seconds = f"{self.limits.max_execution_seconds:g}"
                log.warning("graphql TIMEOUT: an operation of %s ran past %s s and was stopped",
                            context.get("caller"), seconds)
                error = GraphQLError(f"the operation ran past the limit of {seconds} s and was stopped: ask for less "
                                     "(smaller pages, fewer nested objects, a narrower filter)",
                                     extensions={"code": "TIMEOUT", "maxExecutionSeconds": float(seconds)})
                return self._respond({"data": None, "errors": [error.formatted]}, 200, media)
            except InvalidOperationTypeError as exc:
                if exc.operation_type == OperationType.MUTATION:
                    raise RequestError(405, "METHOD_NOT_ALLOWED", "mutations need POST",
                                       {"Allow": "POST"}) from None
                raise RequestError(400, "BAD_REQUEST", f"{exc.operation_type.value} operations are not served "
                                   "over HTTP (subscriptions use the graphql-transport-ws WebSocket)") from None
            except CannotGetOperationTypeError as exc:
                return self._graphql_error(media, "BAD_REQUEST", exc.as_http_error_reason())
            except MissingQueryError:
                raise RequestError(400, "BAD_REQUEST", "no GraphQL `query` in the request") from None
        except RequestError as exc:
            body = {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}],
                    "error": {"code": exc.code.lower(), "message": exc.message}}
            return self._respond(body, exc.status, media or JSON, exc.headers)
        body = process_result(result)
        if "retry_after" in context:
            return self._respond(_without_data(body), 429, media, {"Retry-After": str(context["retry_after"])})
        if "unavailable" in context:
            return self._respond(_without_data(body), 503, media, {"Retry-After": str(context["unavailable"])})
        if media == GRAPHQL_RESPONSE and is_request_error(result):
            return self._respond(_without_data(body), 400, media)
        return self._respond(body, 200, media)

    async def _execute(self, query: str, params: dict[str, Any], context: dict[str, Any], method: str) -> Any:
        """Run the operation: a hot persisted document by its compiled plan (:mod:`resolvers.hot_documents`), any
        other through strawberry; a persisted document that ran cleanly is offered to the plans."""
        operation_name = params.get("operationName")
        hot = self.hot.plan(query, operation_name) if self.hot is not None else None
        if hot is not None and self.hot is not None:
            ref = self.hot.ref_for(hot[0], params["variables"], context)
            if ref is not None:
                return await self.hot.execute(*hot, ref, context)
        result = await self.schema.execute(
            query, variable_values=params["variables"], context_value=context, operation_name=operation_name,
            allowed_operation_types=_ALLOWED[method], operation_extensions=params["extensions"])
        if self.hot is not None and not is_request_error(result) and self.documents.persisted(query):
            self.hot.ran(query, operation_name)
        return result

    def _graphql_error(self, media: str, code: str, message: str, status: int = 400,
                       headers: dict[str, str] | None = None) -> Response:
        error = GraphQLError(message, extensions={"code": code}).formatted
        if media == GRAPHQL_RESPONSE:
            return self._respond({"errors": [error]}, status, media, headers)
        return self._respond({"data": None, "errors": [error]}, 200, media, headers)

    @staticmethod
    def _respond(body: Any, status: int, media: str, headers: dict[str, str] | None = None) -> Response:
        content = orjson.dumps(body, default=str)
        return Response(content, status_code=status, headers={"Vary": "Accept", **(headers or {})},
                        media_type=f"{media}; charset=utf-8")


def _without_data(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "data"}
