"""The action server, open only to the Rasa server: `python -m actions.serve --port 5055`.

rasa_sdk's own server (`python -m rasa_sdk`) runs any action for anyone who can reach its
port, listens on 0.0.0.0 unless told otherwise and allows every CORS origin; on 127.0.0.1 a
forged `action_save_feedback` call still wrote a 5-star rating. Here the same rasa_sdk app
listens on 127.0.0.1 only (or, in a container, on the private network address
ACTION_SERVER_HOST names explicitly; see bind_host), without CORS, and every request except `GET /health` must carry
the header `X-CareDesk-Action-Token` with ACTION_SERVER_TOKEN (compared in constant time);
otherwise 403 and no action runs. Rasa sends the header (endpoints.yml `action_endpoint`).
The token comes from the environment only, never from the command line.
"""
from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import os
import socket
from typing import Callable, Mapping, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

TOKEN_ENV = "ACTION_SERVER_TOKEN"
TOKEN_HEADER = "X-CareDesk-Action-Token"
OPEN_PATHS = frozenset({"/health"})
HOST = "127.0.0.1"
HOST_ENV = "ACTION_SERVER_HOST"


def _addresses(host: str) -> list[str]:
    """Every address `host` resolves to (an address resolves to itself)."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise SystemExit(f"{HOST_ENV}={host!r} does not resolve: {error}") from None
    return sorted({str(info[4][0]) for info in found})


def _inside(address: str) -> bool:
    """Loopback, or a private network's address (a container network's): never a wildcard."""
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    if parsed.is_loopback:
        return True
    if parsed.is_unspecified or parsed.is_multicast or parsed.is_reserved:
        return False
    return parsed.is_private


def bind_host(environ: Mapping[str, str], resolve: Callable[[str], list[str]] = _addresses) -> str:
    """Where the action server listens: 127.0.0.1, unless ACTION_SERVER_HOST explicitly names a
    loopback or private-network address, or a name that resolves only to such addresses (a
    container's own name on a docker-compose network). In a container Rasa cannot reach the
    container's 127.0.0.1, so the deployment must say which private address to open; a
    wildcard (0.0.0.0, ::) or a public address is refused, so the action server is never
    opened to the world by accident. The token check applies on every address alike."""
    host = environ.get(HOST_ENV, "").strip()
    if not host:
        return HOST
    outside = [address for address in resolve(host) if not _inside(address)]
    if outside:
        raise SystemExit(f"{HOST_ENV}={host!r} is not a loopback or private-network address "
                         f"({', '.join(outside)}): the action server listens only where Rasa alone can reach it.")
    return host


def token_from(environ: Mapping[str, str]) -> str:
    token = environ.get(TOKEN_ENV, "")
    if not token:
        raise SystemExit(f"{TOKEN_ENV} is not set: the action server refuses to start without it "
                         "(scripts/run.sh makes one for each run).")
    return token


def token_matches(presented: Optional[str], token: str) -> bool:
    if not presented or not token:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), token.encode("utf-8"))


def create_app(token: str, actions_package: str = "actions") -> Sanic:
    """rasa_sdk's app with the token check in front of everything but the health check."""
    from rasa_sdk.endpoint import create_app as create_sdk_app

    if not token:
        raise ValueError("the action server token is empty")
    app = create_sdk_app(actions_package, cors_origins=None)

    @app.middleware("request")
    async def require_token(request: Request) -> Optional[HTTPResponse]:
        if request.path in OPEN_PATHS and request.method in ("GET", "HEAD"):
            return None
        if token_matches(request.headers.get(TOKEN_HEADER), token):
            return None
        logger.warning("Refused %s %s without the action server token", request.method, request.path)
        return response.json({"error": "forbidden"}, status=403)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m actions.serve",
                                     description="CareDesk's action server (127.0.0.1, or ACTION_SERVER_HOST)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT", "5055")))
    parser.add_argument("--actions", default="actions", help="the package with the actions")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = token_from(os.environ)
    host = bind_host(os.environ)
    app = create_app(token, args.actions)
    logger.info("Action server on http://%s:%d (calls need the action server token)", host, args.port)
    app.run(host=host, port=args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
