"""The gateway fixtures of tests/bot, for the security tests."""
from tests.bot.conftest import gateway, make_settings  # noqa: F401
