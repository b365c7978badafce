"""The gateway application: `create_app(settings)` wires everything; resources are opened in
cleanup_ctx and closed when the app stops."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from caredesk.company import load_company
from caredesk.db.session import make_engine, make_sessions
from caredesk.mail import Mailer
from caredesk.settings import PROJECT_ROOT
from bot import api, reports
from bot.app_keys import (DESK, FANOUT, HUB, LIMITER, PASSWORDS, REDRIVER, ROUTER, SESSIONS, SETTINGS,
                          TELEGRAM)
from bot.channels.webchat import chat_socket
from bot.console import admin_api, assign_api, canned_api, inbox_api, views
from bot.console.auto_assign import AutoAssigner
from bot.console.hygiene import session_sweeper
from bot.console.desk import Desk
from bot.console.feed import queue_feed
from bot.console.presence import presence_feed
from bot.console.claim_watch import claim_watch
from bot.console.passwords import PasswordChecker
from bot.console.summary import SummaryWords
from bot.delivery import Delivery
from bot.emails import EmailTexts
from bot.hub import Hub
from bot.limits import LEASE_SECONDS, Limiter
from bot.privacy import views as privacy
from bot.rasa_client import RasaClient
from bot.redrive import Redriver, running
from bot.router import Router
from bot.hardening import hide_server_banner, neutral_server_name, security_headers
from bot.security import edge_checks
from bot.settings import Settings
from bot.texts import Texts

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


async def _limits(app: web.Application) -> AsyncIterator[None]:
    """The limiter (on Redis when GATEWAY_REDIS_URL is set, renewing this gateway's socket
    leases in the background) and the thread pool that checks passwords."""
    settings = app[SETTINGS]
    client, renewing = None, None
    if settings.redis_url:
        from bot.limits_redis import RedisBackend, connect

        client = connect(settings.redis_url)
        app[LIMITER] = Limiter(settings.limits, RedisBackend(client, settings.redis_prefix))
        renewing = asyncio.create_task(_renew(app[LIMITER]))
    else:
        app[LIMITER] = Limiter(settings.limits)
    logger.info("limits counted in %s", app[LIMITER].backend_name)
    app[PASSWORDS] = PasswordChecker(settings.limits.signin_workers, settings.limits.signin_waiting)
    yield
    if renewing is not None:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
    if client is not None:
        await client.aclose()
    app[PASSWORDS].close()


async def _renew(limiter: Limiter) -> None:
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        await limiter.renew()


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
                      max_in_flight=settings.rasa_max_in_flight, queue_timeout=settings.rasa_timeout,
                      channel_secret=settings.channel_secret, reply_timeout=settings.rasa_reply_timeout)
    if not settings.channel_secret:
        logger.warning("CAREDESK_CHANNEL_SECRET is not set: CareDesk's Rasa channel will refuse every message")
    router = Router(sessions, rasa, hub, texts, company, engine=per_message)
    telegram = None
    if settings.telegram_token:
        from bot.channels.telegram import PREFIX, TelegramChannel

        telegram = TelegramChannel(settings, router, sessions, app[LIMITER])
        hub.register_channel(PREFIX, telegram.deliver)
    logger.info(settings.mail.describe())
    delivery = Delivery(sessions, hub, Mailer(settings.mail), EmailTexts.load(settings.emails_file,
                                                                              company.slot_values()), telegram)
    desk = Desk(sessions, hub, router, delivery=delivery, words=SummaryWords.load(settings.summary_texts_file))
    router.on_queue_change = desk.publish_queue
    if settings.auto_assign:  # the fan-out (when there is one) starts after this: read it when used
        router.on_handed_over = AutoAssigner(desk, settings.max_open_chats, lambda: app.get(FANOUT)).offer
    app[SESSIONS], app[ROUTER], app[DESK] = sessions, router, desk
    if telegram is not None:
        await telegram.start()
        app[TELEGRAM] = telegram
    else:
        logger.info("Telegram channel off (no TELEGRAM_TOKEN)")
    watching = None
    if settings.rasa_health_interval > 0:  # probes of each Rasa process (bot/rasa_health.py)
        watching = asyncio.create_task(rasa.watch_health(settings.rasa_health_interval, settings.rasa_health_timeout))
    # After the channels: a line answered again may have to be sent on Telegram.
    app[REDRIVER] = Redriver(router, every=settings.redrive_seconds, older_than=settings.redrive_after_seconds,
                             max_age_hours=settings.redrive_max_age_hours)
    async with running(app[REDRIVER]):
        yield
    await delivery.close()
    if telegram is not None:
        await telegram.stop()
    if watching is not None:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    await hub.close_all()
    await http.close()
    await per_message.dispose()
    await engine.dispose()


async def _fanout(app: web.Application) -> AsyncIterator[None]:
    """With GATEWAY_REDIS_URL, share frames, presence and queue changes with the other gateways
    (bot/fanout.py); without it, the Hub stays in-process and nothing here runs."""
    settings = app[SETTINGS]
    if not settings.redis_url:
        yield
        return
    from bot import fanout

    client, subscriber = fanout.connect(settings.redis_url)
    hub, desk = app[HUB], app[DESK]
    shared = app[FANOUT] = fanout.Fanout(client, subscriber, settings.fanout_prefix)
    hub.on_remote_turn(app[ROUTER].offers.forget)

    async def resync() -> None:  # frames were missed: widgets and consoles read again
        await desk.publish_queue()
        await hub.reconnect_customers()

    shared.on_resync = resync
    hub.attach(shared)
    running = asyncio.create_task(shared.run(hub.receive, hub.local_agents))
    logger.info("fan-out to other gateways through Redis (gateway %s)", shared.id)
    yield
    hub.attach(None)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await shared.forget_presence()
    await client.aclose()
    await subscriber.aclose()


async def shop_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "shop.html")


async def telegram_webhook(request: web.Request) -> web.Response:
    channel = request.app.get(TELEGRAM)
    if channel is None:
        raise web.HTTPNotFound(text="the Telegram channel is off")
    return await channel.webhook(request)  # type: ignore[attr-defined, no-any-return]


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def openapi(request: web.Request) -> web.FileResponse:
    """The JSON API's OpenAPI 3 description (docs/gateway-protocol.md)."""
    return web.FileResponse(Path(__file__).resolve().parent / "openapi.json")


async def create_app(settings: Settings) -> web.Application:
    neutral_server_name()
    app = web.Application(middlewares=[security_headers, edge_checks])
    app.on_response_prepare.append(hide_server_banner)
    app[SETTINGS] = settings
    app[HUB] = Hub()
    app.cleanup_ctx.append(_limits)
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(_fanout)
    app.cleanup_ctx.append(session_sweeper)
    app.cleanup_ctx.append(queue_feed)
    app.cleanup_ctx.append(presence_feed)
    app.cleanup_ctx.append(claim_watch)
    app.router.add_get("/", shop_page)
    app.router.add_get("/health", health)
    app.router.add_get("/ws/chat", chat_socket)
    app.router.add_post("/telegram/webhook", telegram_webhook)
    app.router.add_get("/console/login", views.login_page)
    app.router.add_post("/console/login", views.login)
    app.router.add_post("/console/logout", views.logout)
    app.router.add_get("/console", views.console_page)
    app.router.add_get("/console/reports", views.reports_page)
    app.router.add_get("/console/agents", views.agents_page)
    app.router.add_get("/console/audit", views.audit_page)
    app.router.add_get("/ws/console", views.console_socket)
    app.router.add_get("/api/openapi.json", openapi)
    api.add_routes(app)
    reports.add_routes(app)
    admin_api.add_routes(app)
    canned_api.add_routes(app)
    inbox_api.add_routes(app)
    assign_api.add_routes(app)
    privacy.add_routes(app)
    app.router.add_static("/static", STATIC)
    return app
