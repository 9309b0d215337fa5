"""GraphiQL for ``/graphql``, served from this package: React, GraphiQL and its explorer plugin are vendored in
``static/graphiql`` (each folder names its npm package and version and holds its licence), so the IDE works on
a machine without internet and its Content-Security-Policy allows this origin only.

The composition root hands :func:`page` and :data:`CSP` to ``resolvers.GraphQLApp``, which answers a browser's
``GET /graphql`` with them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PAGE = Path(__file__).with_name("templates") / "graphiql.html"

# Scripts and stylesheets from /static only (the page has no inline script or <style>); GraphiQL's fonts are
# data: URIs inside its stylesheet; fetch and the graphql-transport-ws WebSocket go to this origin ('self'
# matches ws:/wss: on the same host, CSP Level 3 §6.7.2.8).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; font-src data:; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@cache
def page() -> str:
    """The GraphiQL page's HTML (read once)."""
    return _PAGE.read_text(encoding="utf-8")


__all__ = ["CSP", "page"]
