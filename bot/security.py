"""Checks at the edge: where a browser request comes from, and who the agent is."""
from __future__ import annotations

from aiohttp import web


def origin_allowed(request: web.Request, allowed: frozenset[str], *, required: bool) -> bool:
    """Browsers always send Origin on WebSockets and form posts; a foreign one is refused.
    Without a browser (no Origin) a request cannot be cross-site, unless Origin is required."""
    origin = request.headers.get("Origin")
    if origin is None:
        return not required
    return origin.rstrip("/") in allowed


@web.middleware
async def security_headers(request: web.Request, handler):  # type: ignore[no-untyped-def]
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(("/console", "/api")):
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
    return response
