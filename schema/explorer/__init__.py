"""The GraphiQL explorer, working offline: strawberry's page with every asset served by the service itself.

Strawberry's GraphiQL page (strawberry/static/graphiql.html) loads React, GraphiQL and its explorer plugin from a
public CDN, which district servers cannot reach. Those files are vendored, at the versions the page names, under
static/ (README.md here; fetch.sh refreshes them from the npm registry) and served under /graphql/explorer/
without a token, cached for a year (the version is in the path). The page is strawberry's, its asset URLs
rewritten to those paths; an asset it names that is not vendored, or does not match its integrity hash, is an
error rather than a blank page. It gets a Content-Security-Policy: scripts of its own origin and, inline, only
strawberry's own script (by its hash); queries (and subscriptions' WebSocket) to its own origin; nothing else.
Inline styles are allowed: GraphiQL's dialogs add a <style> element of computed sizes (react-remove-scroll), no
hash can name it, and a style cannot run code.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from functools import cache
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/graphql/explorer"
# Vendored files changed from the package's (fetch.sh says how and why), with the integrity hash of ours.
PATCHED = {"graphiql@3.8.3/graphiql.min.js": "sha384-BoIufSmNDZnYYXmsSEyPY9naRUZ9CzAODFp05l8P4BGnajPZBVj5rDCmFvtXa0Qn"}

_TAG = re.compile(r"""<(?:script|link)\b(?:[^>"']|"[^"]*"|'[^']*')*>""")
_REMOTE = re.compile(r'\b(?P<attr>src|href)="https?://[^/"]+/(?P<path>[^"]+)"')
_ANY_REMOTE = re.compile(r'\b(?:src|href)="(?:https?:)?//')
_INTEGRITY = re.compile(r'\bintegrity="(?P<hash>[^"]+)"')
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


class ExplorerError(RuntimeError):
    """Strawberry's page names an asset that is not vendored as it asks (run schema/explorer/fetch.sh)."""


def sha384(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _local(tag: str, prefix: str) -> str:
    found = _REMOTE.search(tag)
    if found is None:
        return tag
    path = found["path"]
    file = (STATIC / path).resolve()
    if not file.is_relative_to(STATIC) or not file.is_file():
        raise ExplorerError(f"the explorer page asks for {path}, not vendored in schema/explorer/static (fetch.sh)")
    tag = tag[: found.start()] + f'{found["attr"]}="{prefix}/{path}"' + tag[found.end() :]
    integrity = _INTEGRITY.search(tag)
    if integrity is not None:
        wanted = PATCHED.get(path, integrity["hash"])
        if sha384(file) != wanted:
            raise ExplorerError(f"schema/explorer/static/{path} does not match its integrity hash {wanted}")
        tag = tag[: integrity.start()] + f'integrity="{wanted}"' + tag[integrity.end() :]
    return tag


@cache
def page(template: str, root_path: str = "") -> tuple[str, str]:
    """Strawberry's explorer page with its assets under this service's PREFIX, and the page's CSP."""
    html = _TAG.sub(lambda tag: _local(tag[0], root_path + PREFIX), template)
    if remote := _ANY_REMOTE.search(html):
        raise ExplorerError(f"the explorer page still loads something from elsewhere: {html[remote.start() :][:120]}")
    scripts = " ".join(_sha256(script) for script in _INLINE_SCRIPT.findall(html))
    policy = (
        f"default-src 'none'; script-src 'self' {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return html, policy


def response(template: str, request: Request) -> Response:
    """The explorer page for GraphQLApp.render_graphql_ide (schema/app.py)."""
    html, policy = page(template, request.scope.get("root_path", ""))
    headers = {"Content-Security-Policy": policy, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(html, headers=headers)


class Assets(StaticFiles):
    """The vendored files; a file's path names its package's version, so a browser may keep it for a year."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        answer = super().file_response(full_path, stat_result, scope, status_code)
        answer.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        answer.headers["X-Content-Type-Options"] = "nosniff"
        return answer


def routes() -> list[BaseRoute]:
    """The assets' route, open without a token (the Authenticate middleware guards /graphql itself only)."""
    return [Mount(PREFIX, app=GZipMiddleware(Assets(directory=STATIC)), name="explorer")]


__all__ = ["PREFIX", "STATIC", "Assets", "ExplorerError", "page", "response", "routes", "sha384"]
