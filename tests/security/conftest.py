"""The gateway fixtures of tests/bot, for the attacks tried here."""
from tests.bot.conftest import gateway, make_settings  # noqa: F401  (pytest fixtures)
