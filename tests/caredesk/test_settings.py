import pytest

from caredesk.settings import Settings, async_database_url


def test_plain_urls_get_async_drivers() -> None:
    assert async_database_url("postgresql://u:p@db:5432/cd") == "postgresql+asyncpg://u:p@db:5432/cd"
    assert async_database_url("postgres://u@db/cd") == "postgresql+asyncpg://u@db/cd"
    assert async_database_url("sqlite:///var/x.db") == "sqlite+aiosqlite:///var/x.db"
    with pytest.raises(ValueError, match="unsupported"):
        async_database_url("mysql://u@db/cd")


def test_default_is_a_sqlite_file_under_var() -> None:
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("/var/caredesk.db")
    assert settings.company_file.name == "company.yml"


def test_passwords_never_show_in_logs() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://caredesk:s3cret@db/caredesk"})
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)
    assert "s3cret" in settings.database_url
