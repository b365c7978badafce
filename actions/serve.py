"""The action server, open only to the Rasa server: `python -m actions.serve --port 5055`.

rasa_sdk's own server (`python -m rasa_sdk`) runs any action for anyone who can reach its
port, listens on 0.0.0.0 unless told otherwise and allows every CORS origin; on 127.0.0.1 a
forged `action_save_feedback` call still wrote a 5-star rating. Here the same rasa_sdk app
listens on 127.0.0.1 only, without CORS, and every request except `GET /health` must carry
the header `X-CareDesk-Action-Token` with ACTION_SERVER_TOKEN (compared in constant time);
otherwise 403 and no action runs. Rasa sends the header (endpoints.yml `action_endpoint`).
The token comes from the environment only, never from the command line.
"""
from __future__ import annotations

import argparse
import hmac
import logging
import os
from typing import Mapping, Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

TOKEN_ENV = "ACTION_SERVER_TOKEN"
TOKEN_HEADER = "X-CareDesk-Action-Token"
OPEN_PATHS = frozenset({"/health"})
HOST = "127.0.0.1"


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
                                     description="CareDesk's action server (127.0.0.1 only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT", "5055")))
    parser.add_argument("--actions", default="actions", help="the package with the actions")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = token_from(os.environ)
    app = create_app(token, args.actions)
    logger.info("Action server on http://%s:%d (calls need the action server token)", HOST, args.port)
    app.run(host=HOST, port=args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
