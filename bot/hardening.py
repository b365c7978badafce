"""Response headers that every page and answer carries: a Content-Security-Policy (the pages
load only their own scripts and styles, nothing inline), no framing of the console, and no
server version banner."""
from __future__ import annotations

from aiohttp import web, web_response

# The pages (shop, console, login, reports) use only files under /static: no inline script or
# style, no other host. 'self' covers the WebSockets to this host in current browsers.
_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "connect-src 'self'{sockets}; font-src 'self'; object-src 'none'; base-uri 'none'; "
           "form-action 'self'; frame-ancestors {frames}")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
SERVER_NAME = "CareDesk"


def content_security_policy(request: web.Request) -> str:
    """The policy for this request. Older Safari versions do not count ws:/wss: as 'self',
    so this host's sockets are named too (only when the Host header is a plain host name)."""
    host = request.host
    sockets = f" ws://{host} wss://{host}" if host and set(host) <= _HOST_CHARS else ""
    console = request.path.startswith(("/console", "/api"))
    return _POLICY.format(sockets=sockets, frames="'none'" if console else "'self'")


@web.middleware
async def security_headers(request: web.Request, handler):  # type: ignore[no-untyped-def]
    try:
        response = await handler(request)
    except web.HTTPException as error:  # error pages carry the headers too
        _add_headers(request, error)
        raise
    _add_headers(request, response)
    return response


def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", content_security_policy(request))
    if request.path.startswith(("/console", "/api")):
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cache-Control", "no-store")


async def hide_server_banner(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every routed response, WebSocket upgrades included, goes out
    without aiohttp's `Server: Python/3.x aiohttp/3.x`."""
    response.headers.pop("Server", None)


def neutral_server_name() -> None:
    """The few answers aiohttp writes before any routing (a request line it cannot parse)
    skip on_response_prepare; they name the server from this module-level default, so it
    is set to a name without versions. Called when the app is built, never at import."""
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]
