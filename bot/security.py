"""Checks at the edge: where a browser request comes from, and whether its URL can be read.
They run before any handler, so no handler ever sees a NUL byte in a path or a query."""
from __future__ import annotations

import json
import logging

from aiohttp import web

from bot.app_keys import SETTINGS
from bot.text_input import has_forbidden

logger = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sec-Fetch-Site values that say the request did not come from a foreign page.
SAME_SITE_FETCH = frozenset({"same-origin", "none"})


def origin_allowed(request: web.Request, allowed: frozenset[str], *, required: bool) -> bool:
    """Browsers always send Origin on WebSockets and cross-site form posts; a foreign one is
    refused. Without Origin a request is refused when Origin is required, and when the
    browser says (Sec-Fetch-Site) that a foreign page sent it; a client that is no browser
    (curl, an integration) sends neither and cannot be cross-site."""
    origin = request.headers.get("Origin")
    if origin is None:
        return not required and request.headers.get("Sec-Fetch-Site", "none") in SAME_SITE_FETCH
    return origin.rstrip("/") in allowed


def console_origin_allowed(request: web.Request, *, required: bool) -> bool:
    """The console's pages, socket and state-changing API calls accept only the console's
    own origins (GATEWAY_CONSOLE_ORIGINS), not the shop pages that carry the widget."""
    return origin_allowed(request, request.app[SETTINGS].console_origins, required=required)


def json_error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def _refusal(request: web.Request, status: type[web.HTTPException], message: str) -> web.HTTPException:
    if request.path.startswith("/api"):
        return json_error(status, message)
    return status(text=message)


def _unreadable(request: web.Request) -> bool:
    if has_forbidden(request.path):
        return True
    return any(has_forbidden(key) or has_forbidden(value) for key, value in request.query.items())


@web.middleware
async def edge_checks(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """A NUL byte (or a lone surrogate) in the path or query gets 400 before any handler
    could pass it to the database; a state-changing /api request from a foreign page gets
    403; and /api errors are always JSON."""
    if _unreadable(request):
        logger.warning("refused a URL with a NUL byte or a lone surrogate (%s %s)", request.method,
                       request.raw_path[:80])
        raise _refusal(request, web.HTTPBadRequest, "The address contains characters that are not allowed.")
    api = request.path.startswith("/api")
    if api and request.method not in SAFE_METHODS and not console_origin_allowed(request, required=False):
        raise json_error(web.HTTPForbidden, "cross-site request refused")
    if not api:
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.content_type == "application/json" or error.empty_body or error.status < 400:
            raise
        error.text = json.dumps({"error": error.reason})  # 404, 405 and the like, headers kept
        error.content_type = "application/json"
        raise
