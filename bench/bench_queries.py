"""Latency of the read paths people wait on, against the plain indexed SQL that fetches the same rows.

    python bench/bench_queries.py --database-url postgresql://postgres@127.0.0.1:5432/oppbot_bench_1e6 [--repeat 200]
    python bench/bench_queries.py --database-url URL1 --database-url URL2 ...   # one table for all

For each database seeded by bench/seed.py: picks the busiest rep (most open deals), a typical
rep (the median), the busiest rep's manager, and a fixed sample of 50 opportunities, then times

  actor  Workspaces.context(team, user): the request context (actor, workspace, stage model) every
         command and the App Home start with (it replaced Pipeline.actor, which read the actor alone)
  list   /opp list as the handler does it: Deals.list_open(ctx) + list_blocks (the stage model now
         comes with the context instead of a Pipeline.stage_model read of its own)
  show   /opp show: Deals.card(ctx, number=…, with_history=True) + bot.deals.views.card_message(with_history=True)
  home   App Home: Home.page(ctx) + home_page_view, warm: its 15-minute cache of stage medians (and a
         manager's team funnel) filled, as for every open but the first in 15 minutes
  home   "…, cold": the same with that cache emptied before each call (the first open after start-up
         or after 15 minutes): the medians are computed from the whole stage history of the rep (team)
  card   Deals.card(ctx, opp_id=…) + card_message: the deal, its next follow-up and who took its alerts,
         rendered (it replaced Pipeline.card(opp), which took the deal already read and read the stage model)

each call followed by its baseline (so both see the same machine load), on a raw DB-API
connection of the same engine:

  actor  SELECT the member row by primary key
  list   SELECT the owner's 25 open deals ORDER BY stage_id, stage_entered_at LIMIT 25 (ix_opportunity_owner_open)
  show   SELECT the deal by (team_id, number) + SELECT its stage changes (ix_stage_change_opportunity)
  home   the GROUP BY stage, currency of the owner's open deals + their 40 first rows; for a manager also
         the team's open deals counted by stage and its 5 longest in their stage
  card   SELECT the deal's earliest pending follow-up (ix_follow_up_opportunity) LIMIT 1

Slack: the services' WebClient points at a started tests.fakeslack.FakeSlack that knows every
seeded member; the member cache is warmed first, and the number of Slack calls made while timing
is checked to be 0. `stmts` is the number of SQL statements one call sends. Ratio = p50 / baseline p50.
--trace prints each SQL statement of one call with its time, slowest first.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from common import ADMIN_ID, TEAM_ID, database_url, is_postgres
from slack_sdk import WebClient
from sqlalchemy import event, func, select

from bot.deals.views import EN, card_message, list_blocks
from bot.domain.clock import SystemClock
from bot.domain.values import Actor, Context
from bot.home.views import home_page_view
from bot.services import build_services
from bot.slack.gateway import SlackGateway
from bot.workspace.config import WorkspaceConfig
from storage.db import UnitOfWork, make_engine, pending_migrations
from storage.models import Member, Opportunity, SalesTeam, SalesTeamMember
from tests.fakeslack import FakeSlack


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", action="append", help="repeatable; default: $DATABASE_URL")
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per operation (after 10 warm-up calls)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="stop an operation's timing after this long (fewer samples)")
    parser.add_argument("--cold-repeat", type=int, default=30, help="timed calls of the cold App Home (cache emptied each time)")
    parser.add_argument("--only", action="append", help="operations to run (actor, list, show, home, card); default all")
    parser.add_argument("--trace", action="store_true", help="print each SQL statement of one call of each operation, with its time")
    return parser.parse_args()


class StatementCounter:
    """Counts (and with trace=True records) the SQL statements an engine sends."""

    def __init__(self, engine) -> None:
        self.count = 0
        self.trace: list[tuple[float, str]] | None = None
        self._started: dict[int, float] = {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.startswith("BEGIN"):
            self.count += 1
        if self.trace is not None:
            self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.trace is not None:
            began = self._started.pop(id(cursor), None)
            if began is not None:
                self.trace.append(((time.perf_counter() - began) * 1000, " ".join(statement.split())))


class Baseline:
    """Plain SQL on a raw DB-API connection; each call ends its transaction, as a unit of work does."""

    def __init__(self, engine) -> None:
        self.postgres = engine.dialect.name == "postgresql"
        self.raw = engine.raw_connection()

    def run(self, *statements: tuple[str, tuple]) -> list:
        out = []
        cursor = self.raw.cursor()
        for sql, params in statements:
            cursor.execute(sql if self.postgres else sql.replace("%s", "?"), params)
            out.append(cursor.fetchall())
        cursor.close()
        self.raw.rollback()
        return out

    def close(self) -> None:
        self.raw.close()


@dataclass
class Result:
    operation: str
    subject: str
    scale: str
    database: str
    samples: list[float]
    baseline: list[float]
    statements: int


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1))]


def time_pair(op: Callable[[], object], base: Callable[[], object], repeat: int, max_seconds: float,
              warmup: int = 10) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        op()
        base()
    samples, baseline = [], []
    deadline = time.perf_counter() + max_seconds
    for _ in range(repeat):
        t0 = time.perf_counter()
        op()
        t1 = time.perf_counter()
        base()
        t2 = time.perf_counter()
        samples.append((t1 - t0) * 1000)
        baseline.append((t2 - t1) * 1000)
        if t2 > deadline:
            break
    return samples, baseline


def scale_label(n: int) -> str:
    exponent = round(math.log10(n)) if n > 0 else 0
    return f"10^{exponent}" if n and abs(n / 10 ** exponent - 1) < 0.5 else f"{n:,}"


def bench_database(url: str, args: argparse.Namespace) -> list[Result]:
    engine = make_engine(url, pool_size=2)
    db = "postgresql" if is_postgres(url) else "sqlite"
    if pending_migrations(engine):
        print(f"WARNING: {url} is not at the latest migration (indexes may be missing); run `oppbot db upgrade` or reseed")
    clock = SystemClock()
    fake = FakeSlack(team_id=TEAM_ID).start()
    try:
        with UnitOfWork(engine) as uow:
            session = uow.session
            members = list(session.scalars(select(Member).where(Member.team_id == TEAM_ID)))
            total = session.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.team_id == TEAM_ID))
            by_open = list(session.execute(
                select(Opportunity.owner_id, func.count()).where(Opportunity.team_id == TEAM_ID, Opportunity.status == "open")
                .group_by(Opportunity.owner_id).order_by(func.count().desc(), Opportunity.owner_id)).all())
            busy, busy_open = by_open[0]
            typical, typical_open = by_open[len(by_open) // 2]
            manager = session.scalar(
                select(SalesTeam.manager_id).join(SalesTeamMember, SalesTeamMember.sales_team_id == SalesTeam.id)
                .where(SalesTeamMember.team_id == TEAM_ID, SalesTeamMember.user_id == busy))
            team_size = session.scalar(
                select(func.count()).select_from(SalesTeamMember).join(SalesTeam, SalesTeam.id == SalesTeamMember.sales_team_id)
                .where(SalesTeam.team_id == TEAM_ID, SalesTeam.manager_id == manager)) if manager else 0
            busy_total = session.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.team_id == TEAM_ID, Opportunity.owner_id == busy))
        for m in members:
            fake.add_user(m.user_id, tz=m.tz or "UTC")
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        gateway = SlackGateway(client)
        services = build_services(engine, clock, WorkspaceConfig(), gateway, gateway)
        workspaces, deals = services.workspaces, services.deals
        # warm the member cache (refreshes a profile older than 24 h through users.info, once)
        contexts = {user: workspaces.context(TEAM_ID, user) for user in {busy, typical} | ({manager} if manager else set())}
        rng = random.Random(7)
        numbers = rng.sample(range(1, total + 1), min(50, total))
        some = next(iter(contexts.values()))
        admin = Context(actor=Actor(team_id=TEAM_ID, user_id=ADMIN_ID, is_admin=True), workspace=some.workspace, pipelines=some.pipelines,
                        timezone=some.workspace.timezone)
        views = [deals.find(admin, number=n) for n in numbers]
        owner_context = {v.number: workspaces.context(TEAM_ID, v.owner_id) for v in views}
        scale = scale_label(total)
        print(f"\n{db} {scale}: {total:,} opportunities; busy rep {busy} ({busy_open:,} open of {busy_total:,}), "
              f"typical rep {typical} ({typical_open:,} open), manager {manager} ({team_size} reps)", flush=True)

        counter = StatementCounter(engine)
        baseline = Baseline(engine)
        slack_calls_before = len(fake.calls())

        def actor_op(user: str):
            return lambda: workspaces.context(TEAM_ID, user)

        def actor_base(user: str):
            return lambda: baseline.run(("SELECT * FROM member WHERE team_id = %s AND user_id = %s", (TEAM_ID, user)))

        def list_op(user: str):
            ctx = contexts[user]

            def run():
                page = deals.list_open(ctx)
                return list_blocks(page, ctx.pipelines, clock.now(), viewer_id=ctx.user_id, t=EN)
            return run

        def list_base(user: str, limit: int = 25):
            return lambda: baseline.run((
                "SELECT * FROM opportunity WHERE team_id = %s AND owner_id = %s AND status = 'open' "
                "ORDER BY stage_id, stage_entered_at LIMIT %s", (TEAM_ID, user, limit)))

        cycle = {"show": 0, "card": 0}

        def show_op():
            number = numbers[cycle["show"] % len(numbers)]
            cycle["show"] += 1
            ctx = owner_context[number]
            card = deals.card(ctx, number=number, with_history=True)
            return card_message(card, ctx.pipelines, clock.now(), with_history=True, t=EN)

        def show_base():
            number = numbers[(cycle["show"] - 1) % len(numbers)]
            rows = baseline.run(("SELECT * FROM opportunity WHERE team_id = %s AND number = %s", (TEAM_ID, number)))
            opp_id = rows[0][0][0]
            return baseline.run(("SELECT * FROM stage_change WHERE team_id = %s AND opportunity_id = %s ORDER BY changed_at, id", (TEAM_ID, opp_id)))

        def card_op():
            view = views[cycle["card"] % len(views)]
            cycle["card"] += 1
            return card_message(deals.card(admin, opp_id=view.id), admin.stages, clock.now())

        def card_base():
            view = views[(cycle["card"] - 1) % len(views)]
            return baseline.run(("SELECT * FROM follow_up WHERE team_id = %s AND opportunity_id = %s AND status = 'pending' "
                                 "ORDER BY due_at LIMIT 1", (TEAM_ID, view.id)))

        def home_op(user: str, cold: bool = False):
            ctx = contexts[user]

            def run():
                if cold:
                    services.home.__dict__.get("_stats", {}).clear()  # the App Home's 15-minute cache
                return home_page_view(services.home.page(ctx), ctx.pipelines, t=EN)
            return run

        def home_base(user: str, team: list[str] | None = None):
            statements = [
                ("SELECT stage_id, currency, count(*), sum(amount) FROM opportunity WHERE team_id = %s AND owner_id = %s "
                 "AND status = 'open' GROUP BY stage_id, currency", (TEAM_ID, user)),
                ("SELECT * FROM opportunity WHERE team_id = %s AND owner_id = %s AND status = 'open' "
                 "ORDER BY stage_id, stage_entered_at LIMIT 40", (TEAM_ID, user)),
            ]
            if team:
                marks = ", ".join(["%s"] * len(team))
                statements += [
                    (f"SELECT stage_id, count(*) FROM opportunity WHERE team_id = %s AND owner_id IN ({marks}) AND status = 'open' "
                     "GROUP BY stage_id", (TEAM_ID, *team)),
                    (f"SELECT * FROM opportunity WHERE team_id = %s AND owner_id IN ({marks}) AND status = 'open' "
                     "ORDER BY stage_entered_at LIMIT 5", (TEAM_ID, *team)),
                ]
            return lambda: baseline.run(*statements)

        plan: list[tuple[str, str, Callable, Callable]] = [  # (operation, subject, op, baseline)
            ("actor", "busy rep", actor_op(busy), actor_base(busy)),
            ("list", "busy rep", list_op(busy), list_base(busy)),
            ("list", "typical rep", list_op(typical), list_base(typical)),
            ("show", "50 sampled deals", show_op, show_base),
            ("card", "50 sampled deals", card_op, card_base),
            ("home", "busy rep", home_op(busy), home_base(busy)),
            ("home", "typical rep", home_op(typical), home_base(typical)),
        ]
        if manager:
            plan.append(("home", f"manager ({team_size} reps)", home_op(manager), home_base(manager, sorted(contexts[manager].actor.managed_user_ids))))
        plan += [("home", "busy rep, cold", home_op(busy, cold=True), home_base(busy)),
                 ("home", "typical rep, cold", home_op(typical, cold=True), home_base(typical))]
        if manager:
            plan.append(("home", f"manager ({team_size} reps), cold", home_op(manager, cold=True),
                         home_base(manager, sorted(contexts[manager].actor.managed_user_ids))))
        results = []
        for operation, subject, op, base in plan:
            if args.only and operation not in args.only:
                continue
            op()  # a first call may fill caches: count the statements of a warm one
            counter.count = 0
            op()
            statements = counter.count
            if args.trace:
                counter.trace = []
                op()
                trace, counter.trace = counter.trace, None
                print(f"  trace {operation} ({subject}): {len(trace)} statements, {sum(t for t, _ in trace):.1f} ms in the database driver")
                for ms, sql in sorted(trace, key=lambda x: -x[0])[:8]:
                    print(f"    {ms:8.2f} ms  {sql[:220]}")
            gc.collect()
            cold = subject.endswith(", cold")
            samples, base_samples = time_pair(op, base, args.cold_repeat if cold else args.repeat, args.max_seconds, warmup=2 if cold else 10)
            result = Result(operation, subject, scale, db, samples, base_samples, statements)
            results.append(result)
            print(f"  {operation:6} {subject:22} p50 {percentile(samples, .5):8.2f} ms  p99 {percentile(samples, .99):8.2f} ms  "
                  f"baseline {percentile(base_samples, .5):6.2f}/{percentile(base_samples, .99):6.2f} ms  n={len(samples)}", flush=True)
        slack_calls = len(fake.calls()) - slack_calls_before
        if slack_calls:
            print(f"  WARNING: {slack_calls} Slack calls while timing: {sorted({c.method for c in fake.calls()[slack_calls_before:]})}")
        baseline.close()
        return results
    finally:
        fake.stop()
        engine.dispose()


def print_table(results: list[Result]) -> None:
    header = ("operation", "subject", "scale", "database", "p50 ms", "p99 ms", "base p50", "base p99", "ratio p50", "stmts", "n")
    rows = [(r.operation, r.subject, r.scale, r.database, f"{percentile(r.samples, .5):.2f}", f"{percentile(r.samples, .99):.2f}",
             f"{percentile(r.baseline, .5):.2f}", f"{percentile(r.baseline, .99):.2f}",
             f"{percentile(r.samples, .5) / max(percentile(r.baseline, .5), 1e-6):.1f}x", str(r.statements), str(len(r.samples)))
            for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(cell.rjust(w) if i >= 4 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))))


def main() -> None:
    args = parse_args()
    if os.environ.get("OPPBOT_BENCH_ROOT"):
        import bot
        print(f"app imported from {os.path.dirname(os.path.dirname(bot.__file__))} (OPPBOT_BENCH_ROOT)")
    urls = [database_url(u) for u in (args.database_url or [None])]
    results: list[Result] = []
    for url in urls:
        results.extend(bench_database(url, args))
    print_table(results)


if __name__ == "__main__":
    main()
