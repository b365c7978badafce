"""Typed keys of what the gateway application holds."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.console.desk import Desk
from bot.console.passwords import PasswordChecker
from bot.fanout import Fanout
from bot.hub import Hub
from bot.limits import Limiter
from bot.redrive import Redriver
from bot.router import Router
from bot.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", async_sessionmaker)
HUB = web.AppKey("hub", Hub)
ROUTER = web.AppKey("router", Router)
DESK = web.AppKey("desk", Desk)
LIMITER = web.AppKey("limiter", Limiter)
PASSWORDS = web.AppKey("passwords", PasswordChecker)
TELEGRAM = web.AppKey("telegram", object)  # a TelegramChannel when TELEGRAM_TOKEN is set
TRACKER_ENGINE = web.AppKey("tracker_engine", AsyncEngine)  # Rasa's tracker store, when TRACKER_STORE_URL is set
REDRIVER = web.AppKey("redriver", Redriver)  # answers stored lines left without an answer
FANOUT = web.AppKey("fanout", Fanout)  # frames and presence shared with other gateways, with GATEWAY_REDIS_URL
