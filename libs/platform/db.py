"""Database engines: SQLite file by default, PostgreSQL when DATABASE_URL says so.

On PostgreSQL every service keeps its tables in its own schema (`Settings.db_schema`): the
eventsourcing tables through SQLALCHEMY_SCHEMA, ours through the connection's search_path.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event, text

from libs.platform.settings import Settings


def make_engine(settings: Settings) -> Engine:
    if settings.is_postgres:
        _create_schema(settings.database_url, settings.db_schema)
        return create_engine(
            settings.database_url,
            connect_args={"options": f"-csearch_path={settings.db_schema}"},
            pool_pre_ping=True,
        )
    engine = create_engine(settings.database_url)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine


def _create_schema(url: str, schema: str | None) -> None:
    if not schema:
        return
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        engine.dispose()


def eventsourcing_env(settings: Settings) -> dict[str, str]:
    """The environment an eventsourcing Application reads its persistence settings from."""
    env = {
        "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
        "SQLALCHEMY_URL": settings.database_url,
        "CREATE_TABLE": "y",
    }
    if settings.is_postgres and settings.db_schema:
        env["SQLALCHEMY_SCHEMA"] = settings.db_schema
    return env


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
