"""During a database outage, is everyone who acts answered, and is nothing half-saved?

    .venv/bin/python bench/outage_answers.py --database sqlite
    .venv/bin/python bench/outage_answers.py --database postgres --commands 150 --forms 30

The app (tests/driver.py: the real Bolt app over HTTP, its WebClient pointed at the fake Slack) is
cut off from its database (tests/outage.py: for PostgreSQL a TCP proxy that drops every connection
and refuses new ones; for SQLite every statement fails as an unreadable file does). Meanwhile
--commands slash commands (list, show, won, stage, lost, follow-up, new, from 10 threads) and --forms
Add follow-up submissions arrive. Printed: tried, answered (an ephemeral that says the database can't
be reached and nothing was changed, or the form's error), unanswered, rows written, tracebacks logged,
and the slowest ack. Then the database comes back and one command shows the app recovered by itself.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text
from sqlmodel import Session, SQLModel

from bot.domain.clock import FakeClock
from bot.followups.views import follow_up_modal
from bot.workspace.config import parse_config
from storage.db import make_engine, upgrade
from storage.models import Opportunity
from tests.conftest import START
from tests.driver import running_app
from tests.fakeslack import FakeSlack
from tests.outage import outage_of
from tests.support import TEST_CONFIG

DOWN = "can't reach its database right now, so nothing was changed"
COMMANDS = ("list", "show OPP-1", "won OPP-1", "stage OPP-1 Negotiation", "lost OPP-1 price", "followup OPP-1 tomorrow call", "new Acme")


class Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.count += 1


def row_count(engine) -> int:
    with Session(engine) as session:
        return sum(session.scalar(select(func.count()).select_from(table)) or 0 for table in SQLModel.metadata.sorted_tables)


def database(kind: str, workdir: Path):
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{workdir / 'oppbot.db'}")
    else:
        admin = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("DROP DATABASE IF EXISTS oppbot_bench_outage"))
            connection.execute(text("CREATE DATABASE oppbot_bench_outage"))
        admin.dispose()
        engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/oppbot_bench_outage")
    upgrade(engine)
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--commands", type=int, default=150)
    parser.add_argument("--forms", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    tracebacks = Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    with tempfile.TemporaryDirectory() as workdir, FakeSlack(team_id="T0TEST") as fake:
        for user in ("U0REP1", "U0REP2", "U0MGR", "U0ADMIN"):
            fake.add_user(user, tz="Asia/Shanghai")
        engine = database(args.database, Path(workdir))
        with outage_of(engine) as outage, running_app(engine=outage.engine, fake=fake, clock=FakeClock(START),
                                                      config=parse_config(TEST_CONFIG, "bench.toml")) as slack:
            slack.create("Before the outage")
            deal = slack.oppbot.services.deals
            slack.executor.drain()
            [opportunity] = Session(outage.engine).scalars(select(Opportunity)).all()
            ctx = slack.oppbot.services.workspaces.context("T0TEST", "U0REP1")
            form = follow_up_modal(deal.find(ctx, number=1), {"opp": opportunity.id}, assignee_id="U0REP1")
            slack.deliver_after_each = ()
            before_rows, before_calls = row_count(engine), len(fake.calls("response_url"))
            tracebacks.count = 0
            outage.cut()
            acks: list[float] = []

            def command(index: int) -> int:
                started = time.monotonic()
                reply = slack.command(COMMANDS[index % len(COMMANDS)], user=("U0REP1", "U0REP2", "U0MGR")[index % 3])
                acks.append(time.monotonic() - started)
                return reply.status

            def submit(index: int) -> bool:
                started = time.monotonic()
                reply = slack.submit(form, {"when": "tomorrow 9am", "what": f"call {index}"})
                acks.append(time.monotonic() - started)
                return reply.status == 200 and DOWN in str(reply.json)

            with ThreadPoolExecutor(10) as pool:
                statuses = list(pool.map(command, range(args.commands)))
                forms_answered = sum(pool.map(submit, range(args.forms)))
            slack.executor.drain()
            answered = sum(DOWN in c.params.get("text", "") for c in fake.calls("response_url")[before_calls:])
            outage.restore()
            written = row_count(engine) - before_rows
            slack.command("won OPP-1")
            slack.executor.drain()
            recovered = Session(engine).scalars(select(Opportunity)).one().status == "won"
        engine.dispose()
    print(f"database outage on {args.database}: {args.commands} commands, {args.forms} forms")
    print(f"  HTTP statuses: {sorted(set(statuses))}; slowest ack {max(acks) * 1000:.0f} ms")
    print(f"  commands answered {answered} / {args.commands}; forms answered with the error {forms_answered} / {args.forms}")
    print(f"  rows written during the outage: {written}; tracebacks logged: {tracebacks.count}; recovered by itself: {recovered}")


if __name__ == "__main__":
    main()
