"""Shared by bench/seed.py and bench/bench_queries.py: URLs, bench databases, the seeded people."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# OPPBOT_BENCH_ROOT=/path/to/another/checkout runs the bench against that copy of the app (to A/B a change).
ROOT = Path(os.environ.get("OPPBOT_BENCH_ROOT") or Path(__file__).resolve().parent.parent)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.settings import normalize_database_url  # noqa: E402

TEAM_ID = "T0BENCH"
ADMIN_ID = "U0ADMIN"
# The PostgreSQL database the test suite uses: never touched by the bench.
FORBIDDEN_DATABASES = {"test", "postgres", "template0", "template1"}
TIMEZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London", "Europe/Berlin",
             "Asia/Singapore", "Asia/Shanghai", "Australia/Sydney", "UTC")


def database_url(cli_value: str | None) -> str:
    url = cli_value or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("give --database-url or set DATABASE_URL")
    return normalize_database_url(url)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def recreate_database(url: str) -> None:
    """Drop and create the bench database (PostgreSQL: via an AUTOCOMMIT connection to `test`; SQLite: delete the file)."""
    parsed = make_url(url)
    if is_postgres(url):
        name = parsed.database
        if not name or name in FORBIDDEN_DATABASES or not name.startswith("oppbot_bench"):
            raise SystemExit(f"refusing to recreate database {name!r}: bench databases are named oppbot_bench_*")
        admin = create_engine(parsed.set(database="test"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    else:
        path = parsed.database
        if not path or path == ":memory:":
            raise SystemExit("a SQLite bench database needs a file path")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(path + suffix).unlink(missing_ok=True)


def rep_id(i: int) -> str:
    return f"U0R{i:05d}"


def manager_id(t: int) -> str:
    return f"U0M{t:03d}"
