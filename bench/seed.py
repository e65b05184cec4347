"""Seed a bench database with a realistic pipeline.

    python bench/seed.py --opportunities 1000000 --reps 400 --teams 20 \
        --database-url postgresql://postgres@127.0.0.1:5432/oppbot_bench_1e6

The target is dropped and recreated (PostgreSQL databases must be named oppbot_bench_*; a SQLite
file is deleted), migrated with storage.db.upgrade, and given one workspace (T0BENCH) through
Workspaces.ensure_workspace (bot.services.build_services), M reps in T teams (plus their managers
and one admin) with time zones, N opportunities with stage histories and follow-ups. Everything
comes from one random seed; "now" is the start of the current hour unless --now is given.

Deals: created uniformly over the last 18 months in stage 1, owners drawn with log-normal weights
(some reps are much busier than others). From each stage a deal moves on with probability
60/50/55/60 % (from the last stage: won), moves back one stage 6 % of the time, is abandoned
(stays open, stalled) 4 %, otherwise is lost with a reason; time in a stage is log-normal around
a median under the stage's max_days. A deal whose next move would fall after "now" is open in
its stage. Open deals mostly have one pending follow-up (a third overdue), every deal has some
done ones. With --pipelines 3 the workspace has New business (5 stages), Renewals (3) and Partners
(4); team t works in pipeline t mod 3 and a fifth of a rep's deals are in one of the other two
(with one pipeline nothing is drawn for it, so the data is what it was before pipelines).

PostgreSQL is loaded with COPY (session_replication_role=replica skips the FK triggers: the
generated rows are consistent by construction), SQLite with SQLAlchemy Core executemany in
batches of 10k. Both end with ANALYZE (PostgreSQL: VACUUM ANALYZE, as autovacuum would); --no-analyze
leaves a SQLite file without statistics, as the app's own files are (it never runs ANALYZE).
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from common import (
    ADMIN_ID,
    TEAM_ID,
    TIMEZONES,
    database_url,
    is_postgres,
    manager_id,
    recreate_database,
    rep_id,
)
from slack_sdk import WebClient
from sqlalchemy import insert, text, update

from bot.domain.clock import FakeClock
from bot.services import build_services
from bot.slack.gateway import SlackGateway
from bot.workspace.config import PipelineConfig, StageConfig, TeamConfig, WorkspaceConfig
from storage import visits
from storage.db import UnitOfWork, make_engine, upgrade
from storage.models import FollowUp, Member, Opportunity, StageChange, Workspace

DAY = 86400.0
HISTORY_DAYS = 548  # ~18 months
CHUNK = 10_000  # deals generated and written per batch

P_ADVANCE = (0.60, 0.50, 0.55, 0.60)  # from stage i to i+1 (from the last stage: won)
P_BACK = 0.06  # back one stage (not from the first)
P_ABANDON = 0.04  # left open in the stage for good: these become the stalled deals
MEDIAN_DAYS_FACTOR = 0.6  # median time in a stage = 0.6 x its max_days
MAX_CHANGES = 14

LOST_REASONS = ("Price", "Chose a competitor", "No budget", "No decision", "Timing", "Lost contact",
                "Missing feature", "Went with in-house build", "Project cancelled", "Security review failed")
PREFIXES = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell", "Cyberdyne",
            "Wonka", "Aperture", "Massive", "Oscorp", "Gringotts", "Monarch", "Pied Piper", "Dunder", "Nakatomi", "Blue Sun",
            "Black Mesa", "Vought", "Zorg", "Weyland", "Bluth", "Prestige", "Virtucon", "Sterling", "Krusty")
SUFFIXES = ("Corp", "Inc", "Group", "Holdings", "Labs", "Systems", "Health", "Logistics", "Bank", "Foods", "Energy",
            "Retail", "Media", "Partners", "Motors", "Pharma", "Insurance", "University", "City Council", "Airlines")
REGIONS_OF_CUSTOMER = ("", " North America", " EMEA", " APAC", " Germany", " UK", " France", " Japan")
PRODUCTS = ("200 seats", "renewal", "pilot", "enterprise licence", "platform migration", "expansion", "analytics add-on",
            "support upgrade", "500 seats", "multi-year deal", "POC", "data residency", "SSO rollout", "team plan")
SOURCES = ("referral", "inbound", "trade show", "outbound", "partner", "webinar", "existing customer")
NEXT_STEPS = ("Send the proposal", "Book the technical deep-dive", "Call the CFO", "Security questionnaire",
              "Pricing review with procurement", "Demo to the wider team", "Draft the order form")
NOTE_WORDS = ("budget", "approved", "champion", "procurement", "legal", "timeline", "Q3", "competitor", "pricing", "integration",
              "SSO", "rollout", "pilot", "stakeholders", "security", "review", "renewal", "discount", "contract", "seats")
FOLLOW_UP_TEXTS = ("Call the buyer back", "Send the pricing sheet", "Check in after the demo", "Chase the signed order form",
                   "Follow up on the security review", "Ask for the decision date", "Share the case study")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--opportunities", type=int, required=True)
    parser.add_argument("--reps", type=int, required=True)
    parser.add_argument("--teams", type=int, default=0, help="0: the default configuration (no teams)")
    parser.add_argument("--pipelines", type=int, choices=(1, 3), default=1,
                        help="3: New business (5 stages), Renewals (3), Partners (4); team t works in pipeline t mod 3, "
                             "and a fifth of each rep's deals are in another pipeline")
    parser.add_argument("--database-url", help="default: $DATABASE_URL")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--now", help="ISO time the history ends at (UTC); default: the start of this hour")
    parser.add_argument("--method", choices=("copy", "insert"), default=None, help="PostgreSQL: COPY (default) or Core executemany")
    parser.add_argument("--no-analyze", action="store_true",
                        help="SQLite: leave the file without planner statistics, as a file the app created itself is")
    return parser.parse_args()


THREE_PIPELINES = (
    PipelineConfig("New business", (StageConfig("Prospect", 10, 14), StageConfig("Solution design", 30, 21),
                                    StageConfig("Technical evaluation", 50, 30), StageConfig("Proposal", 65, 14),
                                    StageConfig("Negotiation", 80, 21))),
    PipelineConfig("Renewals", (StageConfig("Renewal due", 40, 30), StageConfig("Quote sent", 70, 14), StageConfig("Negotiation", 90, 10))),
    PipelineConfig("Partners", (StageConfig("Registered", 10, 30), StageConfig("Qualified", 30, 21), StageConfig("Joint proposal", 60, 21),
                                StageConfig("Commit", 85, 14))),
)
OTHER_PIPELINE = 0.2  # with --pipelines 3: the share of a rep's deals outside their team's pipeline


def build_config(reps: int, teams: int, pipelines: int = 1) -> WorkspaceConfig:
    extra = {"pipelines": THREE_PIPELINES} if pipelines == 3 else {}
    if teams <= 0:
        return WorkspaceConfig(admins=(ADMIN_ID,), source="bench seed", **extra)
    team_configs = []
    for t in range(teams):
        members = tuple(rep_id(i) for i in range(reps) if i % teams == t)
        pipeline = THREE_PIPELINES[t % 3].name if pipelines == 3 else None
        team_configs.append(TeamConfig(name=f"Team {t + 1:02d}", manager=manager_id(t), members=members, pipeline=pipeline))
    return WorkspaceConfig(admins=(ADMIN_ID,), teams=tuple(team_configs), source="bench seed", **extra)


class NoSlack(SlackGateway):
    def __init__(self) -> None:
        super().__init__(WebClient(token="xoxb-none", base_url="http://127.0.0.1:9/"))


# ----- generation ---------------------------------------------------------------------------------

class Generator:
    def __init__(self, rng: random.Random, now: datetime, pipelines: list[tuple[list[int], list[int]]], reps: int, teams: int,
                 config: WorkspaceConfig, currency: str) -> None:
        """`pipelines`: per pipeline in order, (its active stage ids, their max_days)."""
        self.rng = rng
        self.now = now
        self.now_ts = now.timestamp()
        self.pipelines = [(stage_ids, [max(1.0, d * MEDIAN_DAYS_FACTOR) for d in max_days]) for stage_ids, max_days in pipelines]
        self.stage_ids, self.median_days = self.pipelines[0]
        self.reps = [rep_id(i) for i in range(reps)]
        self.manager_of = {rep_id(i): manager_id(i % teams) for i in range(reps)} if teams else {}
        self.pipeline_of = {rep_id(i): (i % teams) % len(pipelines) for i in range(reps)} if teams else {}
        weights = [rng.lognormvariate(0, 0.6) for _ in range(reps)]
        total = 0.0
        self.cum_weights = []
        for w in weights:
            total += w
            self.cum_weights.append(total)
        self.industries = list(config.industries)
        self.regions = list(config.regions)
        self.sizes = list(config.company_sizes)
        self.currency = currency
        self.others = [c for c in ("EUR", "GBP", "USD") if c != currency]
        self.customers = [f"{p} {s}{r}" for p in PREFIXES for s in SUFFIXES for r in REGIONS_OF_CUSTOMER]
        self.next_change_id = 1
        self.next_follow_up_id = 1

    def owner(self) -> str:
        return self.reps[bisect.bisect_left(self.cum_weights, self.rng.random() * self.cum_weights[-1])]

    def at(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, tz=UTC)

    def history(self, created: float) -> tuple[list[tuple[int | None, str | None, int, str, float]], str, int]:
        """[(from_index, from_status, to_index, to_status, ts)], final status, final stage index."""
        rng = self.rng
        changes: list[tuple[int | None, str | None, int, str, float]] = [(None, None, 0, "open", created)]
        stage, t = 0, created
        while len(changes) < MAX_CHANGES:
            t_next = t + rng.lognormvariate(math.log(self.median_days[stage]), 0.8) * DAY
            if t_next >= self.now_ts:
                return changes, "open", stage
            r = rng.random()
            if r < P_ADVANCE[min(stage, len(P_ADVANCE) - 1)]:
                if stage == len(self.stage_ids) - 1:
                    changes.append((stage, "open", stage, "won", t_next))
                    return changes, "won", stage
                changes.append((stage, "open", stage + 1, "open", t_next))
                stage += 1
            elif stage > 0 and r < P_ADVANCE[min(stage, len(P_ADVANCE) - 1)] + P_BACK:
                changes.append((stage, "open", stage - 1, "open", t_next))
                stage -= 1
            elif r < P_ADVANCE[min(stage, len(P_ADVANCE) - 1)] + P_BACK + P_ABANDON:
                return changes, "open", stage
            else:
                changes.append((stage, "open", stage, "lost", t_next))
                return changes, "lost", stage
            t = t_next
        return changes, "open", stage

    def amount(self) -> Decimal | None:
        rng = self.rng
        if rng.random() < 0.04:
            return None
        value = min(rng.lognormvariate(math.log(20_000), 1.1), 50_000_000)
        if rng.random() < 0.7:
            return Decimal(int(round(value, -2)) or 100)
        return Decimal(f"{value:.2f}")

    def maybe(self, p: float, choices) -> str | None:
        return self.rng.choice(choices) if self.rng.random() < p else None

    def notes(self) -> str | None:
        rng = self.rng
        if rng.random() >= 0.25:
            return None
        return " ".join(rng.choice(NOTE_WORDS) for _ in range(rng.randint(8, 120))).capitalize() + "."

    def deal(self, opp_id: int, number: int, created: float):
        """One opportunity row, its stage changes and its follow-ups (tuples in OPP_COLUMNS / CHANGE_COLUMNS / FOLLOW_UP_COLUMNS order)."""
        rng = self.rng
        owner = self.owner()
        manager = self.manager_of.get(owner)
        if len(self.pipelines) > 1:  # one pipeline draws nothing here: its data stays what it was before pipelines
            home = self.pipeline_of.get(owner, 0)
            pipeline = home if rng.random() >= OTHER_PIPELINE else rng.choice([p for p in range(len(self.pipelines)) if p != home])
            self.stage_ids, self.median_days = self.pipelines[pipeline]
        changes, status, stage = self.history(created)
        last_ts = changes[-1][4]
        customer = rng.choice(self.customers)
        amount = self.amount()
        currency = self.currency if rng.random() < 0.9 else rng.choice(self.others)
        created_at = self.at(created)
        entered_at = self.at(last_ts)
        closed_at = entered_at if status != "open" else None
        if status == "open":
            close_date = (self.at(max(created + rng.uniform(30, 180) * DAY, self.now_ts + rng.uniform(-20, 120) * DAY))).date()
        else:
            close_date = entered_at.date()
        if rng.random() < 0.1:
            close_date = None
        updated = last_ts if status != "open" else min(self.now_ts, last_ts + rng.uniform(0, 5) * DAY)
        opp = (
            opp_id, TEAM_ID, number, f"{customer} — {rng.choice(PRODUCTS)}"[:150], customer, amount, currency, close_date,
            self.stage_ids[stage], status, rng.choice(LOST_REASONS) if status == "lost" else None, owner, owner,
            self.maybe(0.9, self.industries), self.maybe(0.9, self.regions), self.maybe(0.85, self.sizes), self.maybe(0.7, SOURCES),
            self.maybe(0.5, ("foreseen", "unexpected")), self.maybe(0.5, ("strategic", "tactical")),
            self.maybe(0.5, ("explicit", "latent")), self.maybe(0.4, ("political", "economic", "seasonal", "time_bound", "other")),
            self.maybe(0.4 if status == "open" else 0.1, NEXT_STEPS), self.notes(),
            created_at, self.at(updated), entered_at, closed_at, False,
        )
        change_rows = []
        for from_index, from_status, to_index, to_status, ts in changes:
            by = manager if manager is not None and from_index is not None and rng.random() < 0.1 else owner
            change_rows.append((
                self.next_change_id, TEAM_ID, opp_id, None if from_index is None else self.stage_ids[from_index], from_status,
                self.stage_ids[to_index], to_status, by, owner, self.at(ts),
            ))
            self.next_change_id += 1
        follow_rows = []
        end = last_ts if status != "open" else self.now_ts
        for _ in range(rng.choice((0, 0, 1, 1, 2))):  # done ones, over the deal's life
            due = rng.uniform(created, end)
            done = min(end, due + rng.uniform(0, 2) * DAY)
            follow_rows.append(self.follow_up(opp_id, owner, due, max(created, due - 3 * DAY), "done", done))
        if status == "open":
            pending = 1 if rng.random() < 0.88 else 0
            if pending and rng.random() < 0.08:
                pending = 2
            for k in range(pending):
                due = self.now_ts + rng.uniform(-10, 20) * DAY + k * 7 * DAY
                made = max(created, min(self.now_ts, due) - rng.uniform(0, 10) * DAY)
                follow_rows.append(self.follow_up(opp_id, owner, due, made, "pending", None))
        return opp, change_rows, follow_rows

    def follow_up(self, opp_id: int, owner: str, due: float, made: float, status: str, done: float | None):
        row = (self.next_follow_up_id, TEAM_ID, opp_id, self.rng.choice(FOLLOW_UP_TEXTS), self.at(due), owner, status, owner,
               self.at(made), self.at(done) if done is not None else None, owner if done is not None else None)
        self.next_follow_up_id += 1
        return row


OPP_COLUMNS = ("id", "team_id", "number", "name", "customer", "amount", "currency", "close_date", "stage_id", "status", "lost_reason",
               "owner_id", "created_by", "industry", "region", "company_size", "source", "found", "reach", "visibility", "change_kind",
               "next_step", "notes", "created_at", "updated_at", "stage_entered_at", "closed_at", "needs_owner")
CHANGE_COLUMNS = ("id", "team_id", "opportunity_id", "from_stage_id", "from_status", "to_stage_id", "to_status", "changed_by",
                  "owner_id", "changed_at")
FOLLOW_UP_COLUMNS = ("id", "team_id", "opportunity_id", "text", "due_at", "assignee_id", "status", "created_by", "created_at",
                     "done_at", "done_by")


# ----- writing ------------------------------------------------------------------------------------

class CopyWriter:
    """PostgreSQL: COPY FROM STDIN on one psycopg connection, one transaction."""

    def __init__(self, engine) -> None:
        self.raw = engine.raw_connection()
        self.conn = self.raw.driver_connection
        with self.conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def finish(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("SET session_replication_role = DEFAULT")
        self.conn.commit()
        self.raw.close()


class InsertWriter:
    """SQLAlchemy Core insert() executemany, batches of 10k rows, one transaction."""

    TABLES = {"opportunity": Opportunity.__table__, "stage_change": StageChange.__table__, "follow_up": FollowUp.__table__}

    def __init__(self, engine) -> None:
        self.connection = engine.connect().execution_options(oppbot_write=True)
        self.transaction = self.connection.begin()

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        statement = insert(self.TABLES[table])
        for start in range(0, len(rows), 10_000):
            self.connection.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows[start:start + 10_000]])

    def finish(self) -> None:
        self.transaction.commit()
        self.connection.close()


def main() -> None:
    args = parse_args()
    url = database_url(args.database_url)
    postgres = is_postgres(url)
    now = datetime.fromisoformat(args.now).replace(tzinfo=UTC) if args.now else \
        datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    started = time.perf_counter()

    recreate_database(url)
    engine = make_engine(url)
    upgrade(engine)
    config = build_config(args.reps, args.teams, args.pipelines)
    services = build_services(engine, FakeClock(now - timedelta(days=HISTORY_DAYS + 1)), config, NoSlack(), NoSlack())
    services.workspaces.ensure_workspace(TEAM_ID)
    with UnitOfWork(engine) as uow:
        workspace = uow.workspaces.get_workspace(TEAM_ID)
        pipelines = [([s.id for s in p.stages], [s.max_days for s in p.stages]) for p in uow.workspaces.pipelines(TEAM_ID).active]

    rng = random.Random(args.seed)
    people = [rep_id(i) for i in range(args.reps)] + [manager_id(t) for t in range(args.teams)] + [ADMIN_ID]
    with UnitOfWork(engine, write=True) as uow:
        for user in people:
            uow.session.add(Member(team_id=TEAM_ID, user_id=user, name=user.lower(), tz=rng.choice(TIMEZONES), fetched_at=now))
        uow.commit()

    generator = Generator(rng, now, pipelines, args.reps, args.teams, config, workspace.currency)
    span = HISTORY_DAYS * DAY
    created = sorted(now.timestamp() - rng.random() * span for _ in range(args.opportunities))

    method = args.method or ("copy" if postgres else "insert")
    writer = CopyWriter(engine) if method == "copy" else InsertWriter(engine)
    counts = {"opportunity": 0, "stage_change": 0, "follow_up": 0}
    open_count = 0
    load_started = time.perf_counter()
    for start in range(0, args.opportunities, CHUNK):
        opps, changes, follow_ups = [], [], []
        for index in range(start, min(start + CHUNK, args.opportunities)):
            opp, change_rows, follow_rows = generator.deal(index + 1, index + 1, created[index])
            opps.append(opp)
            changes.extend(change_rows)
            follow_ups.extend(follow_rows)
            open_count += opp[9] == "open"
        writer.write("opportunity", OPP_COLUMNS, opps)
        writer.write("stage_change", CHANGE_COLUMNS, changes)
        writer.write("follow_up", FOLLOW_UP_COLUMNS, follow_ups)
        counts["opportunity"] += len(opps)
        counts["stage_change"] += len(changes)
        counts["follow_up"] += len(follow_ups)
    writer.finish()
    load_seconds = time.perf_counter() - load_started
    derive_started = time.perf_counter()
    with engine.begin() as connection:
        visits.derive(connection, TEAM_ID)  # what the app keeps with each change, derived for the bulk-loaded history
    derive_seconds = time.perf_counter() - derive_started

    with engine.begin() as connection:
        connection.execute(update(Workspace).where(Workspace.team_id == TEAM_ID).values(last_opp_number=args.opportunities))
        if postgres:
            for table in counts:
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1))"))
    analyze_started = time.perf_counter()
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    elif not args.no_analyze:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    analyze_seconds = time.perf_counter() - analyze_started

    with engine.connect() as connection:
        tables = ["workspace", "pipeline", "stage", "sales_team", "sales_team_member", "member", "opportunity", "stage_change", "follow_up"]
        rows = {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
    total = time.perf_counter() - started
    print(f"seeded {url.split('@')[-1]} ({'COPY' if method == 'copy' else 'Core insert executemany'}), now={now.isoformat()}, seed={args.seed}")
    for table in tables:
        print(f"  {table:18} {rows[table]:>10,}")
    print(f"  open opportunities {open_count:>10,}")
    print(f"load {load_seconds:.1f} s, derive visits {derive_seconds:.1f} s, analyze {analyze_seconds:.1f} s, total {total:.1f} s")
    engine.dispose()


if __name__ == "__main__":
    main()
