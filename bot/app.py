"""The gateway application: `create_app(settings)` wires everything; resources are opened in
cleanup_ctx and closed when the app stops."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from actions.company import load_company
from actions.db.session import make_engine, make_sessions
from actions.settings import PROJECT_ROOT
from bot import api, reports
from bot.app_keys import CANNED, DESK, HUB, LOGIN_THROTTLE, ROUTER, SESSIONS, SETTINGS, TELEGRAM
from bot.channels.webchat import chat_socket
from bot.console import views
from bot.console.desk import Desk
from bot.console.throttle import LoginThrottle
from bot.hub import Hub
from bot.privacy import views as privacy
from bot.rasa_client import RasaClient
from bot.router import Router
from bot.security import security_headers
from bot.settings import Settings
from bot.texts import Texts

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = make_engine(settings.database_url)
    sessions = make_sessions(engine)
    # Every customer message and bot reply: no ping round trip per checkout (the router
    # retries on a lost connection instead).
    per_message = make_engine(settings.database_url, ping=False)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.rasa_timeout))
    company = load_company(PROJECT_ROOT / "company.yml")
    texts = Texts.load(settings.domain_file, company.slot_values())
    hub = app[HUB]
    rasa = RasaClient(http, settings.rasa_url, settings.rasa_token,
                      max_in_flight=settings.rasa_max_in_flight, queue_timeout=settings.rasa_timeout)
    router = Router(sessions, rasa, hub, texts, company, engine=per_message)
    desk = Desk(sessions, hub, router)
    router.on_queue_change = desk.publish_queue
    app[SESSIONS], app[ROUTER], app[DESK] = sessions, router, desk
    app[CANNED] = yaml.safe_load(settings.canned_file.read_text(encoding="utf-8"))["canned_replies"]
    telegram = None
    if settings.telegram_token:
        from bot.channels.telegram import PREFIX, TelegramChannel

        telegram = TelegramChannel(settings, router, sessions)
        hub.register_channel(PREFIX, telegram.deliver)
        await telegram.start()
        app[TELEGRAM] = telegram
    else:
        logger.info("Telegram channel off (no TELEGRAM_TOKEN)")
    yield
    if telegram is not None:
        await telegram.stop()
    await hub.close_all()
    await http.close()
    await per_message.dispose()
    await engine.dispose()


async def shop_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "shop.html")


async def telegram_webhook(request: web.Request) -> web.Response:
    channel = request.app.get(TELEGRAM)
    if channel is None:
        raise web.HTTPNotFound(text="the Telegram channel is off")
    return await channel.webhook(request)  # type: ignore[attr-defined, no-any-return]


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[security_headers])
    app[SETTINGS] = settings
    app[HUB] = Hub()
    app[LOGIN_THROTTLE] = LoginThrottle()
    app.cleanup_ctx.append(_resources)
    app.router.add_get("/", shop_page)
    app.router.add_get("/health", health)
    app.router.add_get("/ws/chat", chat_socket)
    app.router.add_post("/telegram/webhook", telegram_webhook)
    app.router.add_get("/console/login", views.login_page)
    app.router.add_post("/console/login", views.login)
    app.router.add_post("/console/logout", views.logout)
    app.router.add_get("/console", views.console_page)
    app.router.add_get("/console/reports", views.reports_page)
    app.router.add_get("/ws/console", views.console_socket)
    api.add_routes(app)
    reports.add_routes(app)
    privacy.add_routes(app)
    app.router.add_static("/static", STATIC)
    return app
