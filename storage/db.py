"""Engine creation, the unit of work, and schema migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# How long a request waits for a PostgreSQL connection, new or from the pool, before it is told the
# database can't be reached: inside Slack's 3 s for the forms that save before their ack.
CONNECT_TIMEOUT = 2


class _Commits:
    count = 0


_commits: ContextVar[_Commits | None] = ContextVar("oppbot_commits", default=None)


@contextmanager
def counting_commits() -> Iterator[_Commits]:
    """Count the transactions committed inside (in this thread): whether a request that failed half-way saved anything."""
    commits = _Commits()
    token = _commits.set(commits)
    try:
        yield commits
    finally:
        _commits.reset(token)


def is_unreachable(exc: BaseException) -> bool:
    """Whether an error means the database can't be reached (down, restarting, connections exhausted), not a bug."""
    return isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout))


# UPDATE … FROM (storage.visits.derive) needs SQLite 3.33; window functions need 3.25.
MIN_SQLITE = (3, 33, 0)


class UnsupportedDatabase(RuntimeError):
    """The database can't run oppbot (too old a SQLite)."""


def make_engine(database_url: str, *, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    if database_url.startswith("sqlite"):
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise UnsupportedDatabase(f"oppbot needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer; this Python's sqlite3 module has "
                               f"{sqlite3.sqlite_version}. Use a newer Python build or PostgreSQL (DATABASE_URL=postgresql://…).")
        engine = create_engine(database_url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # We emit BEGIN ourselves (below), so pysqlite must not.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            # A writing transaction takes the write lock up front: a deferred one that read first
            # fails with "database is locked" instead of waiting when another writer got there.
            write = connection.get_execution_options().get("oppbot_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    # Up to 30 connections a process: 16 delivery workers, 16 threads of work after acks, the request threads.
    return create_engine(database_url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True,
                         pool_timeout=CONNECT_TIMEOUT, connect_args={"connect_timeout": CONNECT_TIMEOUT})


class UnitOfWork:
    """One transaction, with the repositories that work inside it.

    Nothing is kept unless `commit()` is called; leaving the block rolls back. Services reach the
    database only through the repositories: each one's queries and writes are those of one feature.
    """

    def __init__(self, engine: Engine, *, write: bool = False) -> None:
        self.engine = engine
        self.write = write

    def __enter__(self) -> UnitOfWork:
        from storage.alerts import AlertRepository
        from storage.analytics import Figures
        from storage.assignment import AssignmentRepository
        from storage.deals import DealRepository
        from storage.digests import DigestRepository
        from storage.followups import FollowUpRepository
        from storage.outbox import OutboxRepository
        from storage.reports import ReportRepository
        from storage.teams import TeamRepository
        from storage.workspace import WorkspaceRepository

        self.session = session = Session(self.engine, expire_on_commit=False)
        if self.write and self.engine.dialect.name == "sqlite":
            session.connection(execution_options={"oppbot_write": True})
        self.workspaces = WorkspaceRepository(session)
        self.teams = TeamRepository(session)
        self.deals = DealRepository(session)
        self.follow_ups = FollowUpRepository(session)
        self.alerts = AlertRepository(session)
        self.assignment = AssignmentRepository(session)
        self.digests = DigestRepository(session)
        self.reports = ReportRepository(session)
        self.outbox = OutboxRepository(session)
        self.figures = Figures(session)
        return self

    def __exit__(self, *exc_info) -> None:
        # close() rolls back what was not committed; unlike rollback() it leaves loaded rows readable.
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
        commits = _commits.get()
        if commits is not None:
            commits.count += 1

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


UnitOfWorkFactory = Callable[..., UnitOfWork]


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """The one transaction migrations run in. On SQLite foreign keys are off for it (a rebuilt table is dropped
    and renamed under the rows that refer to it, as SQLite's documentation prescribes) and checked before the
    commit: a migration that left a dangling reference fails and changes nothing."""
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:  # outside a transaction, where the pragma takes effect: nothing has begun on this connection yet
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                yield connection
                if sqlite and (dangling := connection.exec_driver_sql("PRAGMA foreign_key_check").first()) is not None:
                    raise RuntimeError(f"the migration left a dangling reference: {tuple(dangling)}")
        finally:
            if sqlite:
                connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def upgrade(engine: Engine) -> None:
    """Apply every pending migration; on SQLite then make sure the planner has statistics."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with migration_transaction(engine) as connection:
        config.attributes["connection"] = connection
        before = set(MigrationContext.configure(connection).get_current_heads())
        command.upgrade(config, "head")
        migrated = set(MigrationContext.configure(connection).get_current_heads()) != before
    refresh_statistics(engine, full=migrated)


# SQLite's statistics are rebuilt when a big table's row count has drifted this far from what they record.
STALE_STATISTICS = 0.25
STATISTICS_TABLES = ("opportunity", "stage_change", "follow_up", "delivery")


def refresh_statistics(engine: Engine, *, full: bool = False) -> bool:
    """Give SQLite's planner statistics of the data's shape (sqlite_stat1); returns whether ANALYZE ran.

    SQLite never gathers statistics by itself and `PRAGMA optimize` on a fresh connection does
    nothing, so a file the app created would be planned blind: at 10^6 deals /opp list took 100 ms
    and an App Home 800 ms instead of 5-10 and 90. A full ANALYZE runs when `full` is set (after a
    migration; the daily job), when there are no statistics, or when a big table's row count has
    drifted more than STALE_STATISTICS from the recorded one (the check is a count per table);
    it takes about 4 s at 10^6 deals. PostgreSQL: nothing to do, autovacuum analyzes.
    """
    if engine.dialect.name != "sqlite":
        return False
    with engine.begin() as connection:
        if full or _sqlite_statistics_stale(connection):
            connection.exec_driver_sql("ANALYZE")
            return True
        connection.exec_driver_sql("PRAGMA optimize")
    return False


def _sqlite_statistics_stale(connection) -> bool:
    has_stat1 = connection.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").scalar_one()
    if not has_stat1:
        return True
    recorded: dict[str, int] = {}
    for table, stat in connection.exec_driver_sql("SELECT tbl, stat FROM sqlite_stat1"):
        if stat and table in STATISTICS_TABLES:
            recorded[table] = max(recorded.get(table, 0), int(str(stat).split()[0]))
    for table in STATISTICS_TABLES:
        exists = connection.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar_one()
        if not exists:
            continue
        rows = connection.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar_one()
        known = recorded.get(table, 0)
        if abs(rows - known) > STALE_STATISTICS * max(known, 1000):
            return True
    return False


def pending_migrations(engine: Engine) -> bool:
    script = ScriptDirectory.from_config(alembic_config(engine.url.render_as_string(hide_password=False)))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) != set(script.get_heads())


def database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


MISSING, BEHIND, CURRENT = "missing", "behind", "current"


def sqlite_path(database_url: str) -> Path | None:
    """The file of an SQLite URL (None for an in-memory database or another backend)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def schema_state(database_url: str) -> str:
    """MISSING (no oppbot schema: no migration ever ran), BEHIND (migrations are pending) or CURRENT.

    Creates nothing: an SQLite file that isn't there is MISSING without being opened (opening creates it).
    """
    if database_url.startswith("sqlite"):
        path = sqlite_path(database_url)
        if path is None or not path.is_file() or path.stat().st_size == 0:
            return MISSING
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        script = ScriptDirectory.from_config(alembic_config(database_url))
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    if not current:
        return MISSING
    return CURRENT if current == set(script.get_heads()) else BEHIND


def backup_sqlite(database_url: str, target: Path, *, force: bool = False) -> None:
    """Copy a live SQLite database to `target` with SQLite's online backup API (consistent while the bot
    writes). The copy is written next to `target` and renamed over it, so `target` is never half-written.
    Raises FileExistsError when `target` exists and `force` is not set."""
    source_path = sqlite_path(database_url)
    if source_path is None:
        raise ValueError("not an SQLite database file")
    if target.exists() and not force:
        raise FileExistsError(str(target))
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=rw", uri=True)  # rw: never creates the file
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
        finally:
            copy.close()
        for stale in ("-wal", "-shm"):  # an overwritten copy's, which SQLite would otherwise apply to the new one
            target.with_name(target.name + stale).unlink(missing_ok=True)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
