"""Persisted documents: ``documentId: "sha256:<hex>"`` (GraphQL over HTTP, persisted documents appendix) and
Apollo's automatic persisted queries (``extensions.persistedQuery.sha256Hash``), with an allow-list-only mode.

An allow-list comes from a JSON file (a list of documents, or ``{"sha256:<hex>": document}``). Without
allow-list-only mode any document runs, and APQ registrations are kept in a bounded LRU; in allow-list-only mode
only listed documents run (sent by id, or as text whose hash is listed) and APQ registrations are refused.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

from hub.errors import ConfigError


class PersistedQueryError(Exception):
    """A request error about persisted documents; ``code`` goes to ``extensions.code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def document_id(document: str) -> str:
    return "sha256:" + hashlib.sha256(document.encode()).hexdigest()


def load_allow_list(path: str | None) -> dict[str, str]:
    """``{"sha256:<hex>": document}`` from the file; a ConfigError names a missing file or a wrong hash."""
    if path is None:
        return {}
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"graphql.persisted_documents = {path!r}: cannot read it as JSON ({exc})") from None
    if isinstance(raw, list) and all(isinstance(d, str) for d in raw):
        return {document_id(d): d for d in raw}
    if isinstance(raw, dict) and all(isinstance(d, str) for d in raw.values()):
        documents = {}
        for key, document in raw.items():
            if document_id(document) != (key if key.startswith("sha256:") else "sha256:" + key):
                raise ConfigError(f"graphql.persisted_documents: {key!r} is not the SHA-256 of its document")
            documents[document_id(document)] = document
        return documents
    raise ConfigError(f"graphql.persisted_documents = {path!r}: expected a list of documents or an object of them")


class PersistedDocuments:
    """Resolves the document of a request from its ``query``, ``documentId`` and APQ extension."""

    def __init__(self, allow_list: dict[str, str], allow_list_only: bool, apq_size: int = 1000) -> None:
        self.allow_list, self.allow_list_only = allow_list, allow_list_only
        self._apq: OrderedDict[str, str] = OrderedDict()
        self._apq_size = apq_size

    def resolve(self, query: str | None, doc_id: Any, extensions: dict[str, Any] | None) -> str | None:
        """The document to run (None when the request names none); :class:`PersistedQueryError` otherwise."""
        apq = (extensions or {}).get("persistedQuery")
        if doc_id is not None:
            if not isinstance(doc_id, str) or not doc_id.startswith("sha256:"):
                raise PersistedQueryError("BAD_REQUEST", '`documentId` must be "sha256:<hex>"')
            return self._known(doc_id.lower())
        if apq is not None:
            return self._apq_document(query, apq)
        if query is not None and self.allow_list_only and document_id(query) not in self.allow_list:
            raise PersistedQueryError("PERSISTED_QUERY_REQUIRED",
                                      "this server runs only persisted documents: send a listed `documentId`")
        return query

    def persisted(self, query: str) -> bool:
        """Whether this document is allow-listed or registered by APQ."""
        key = document_id(query)
        return key in self.allow_list or key in self._apq

    def _apq_document(self, query: str | None, apq: Any) -> str:
        if not isinstance(apq, dict) or apq.get("version") != 1 or not isinstance(apq.get("sha256Hash"), str):
            raise PersistedQueryError("BAD_REQUEST", "extensions.persistedQuery needs version 1 and sha256Hash")
        key = "sha256:" + apq["sha256Hash"].lower()
        if query is None:
            return self._known(key)
        if document_id(query) != key:
            raise PersistedQueryError("BAD_REQUEST", "provided sha256Hash does not match query")
        if key in self.allow_list:
            return query
        if self.allow_list_only:
            raise PersistedQueryError("PERSISTED_QUERY_NOT_SUPPORTED",
                                      "this server runs only allow-listed documents; registration is off")
        self._apq[key] = query
        self._apq.move_to_end(key)
        while len(self._apq) > self._apq_size:
            self._apq.popitem(last=False)
        return query

    def _known(self, key: str) -> str:
        document = self.allow_list.get(key) or self._apq.get(key)
        if document is None:
            # Apollo clients look for this exact message and code, then resend with the query text.
            raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        if key in self._apq:
            self._apq.move_to_end(key)
        return document
