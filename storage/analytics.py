"""Pipeline analytics: the figures behind the manager's digest, `/opp funnel` and `/opp report`.

Every figure is one SQL statement (two for `rep_funnels`) whose aggregates — counts, sums,
averages, medians, first/last changes — are computed by the database with GROUP BY, window
functions and CTEs; Python only turns the few result rows (one per stage, rep or group) into
frozen dataclasses of plain values. The number of statements never depends on the data size.

Conventions
- `Scope` says whose deals count: always one workspace (team_id); optionally some owners and an
  industry / region / company size. Owners are the opportunity's current owner, except in
  `rep_funnels`, which attributes each stage visit to `stage_change.owner_id`, the owner at the time.
- Amounts are summed in one currency (the `currency` argument, normally the workspace's); deals
  in another currency still count in counts, and `other_currency` says how many priced deals were
  left out of the amounts. Amounts are summed as whole cents (exact on SQLite, which keeps NUMERIC
  as REAL); weighted amounts (amount × stage probability / 100) are rounded half-up to the cent.
- Days are floats (fractions of a day count). Rates are floats in 0..1, or None when nothing was
  there to divide.
- A stage *visit* starts with a stage change that leaves the deal open in a stage (creation, a
  move, a reopen) and ends at the deal's next change (move, won, lost); a visit with no next
  change is still going and counts until `now`.
- Stages are ordered by `position` among the active ones. Retired stages (kept for history, with
  parked positions) rank nowhere: moves into or out of them are neither advances nor moves back.
- The window arguments `since`/`until` are half-open: since <= t < until.

SQLite and PostgreSQL differ in date arithmetic and in formatting; `_days_between` and
`_month_of` hide that, nothing else does.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    column,
    distinct,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session

from storage.models import (
    LOST,
    OPEN,
    PENDING,
    WON,
    FollowUp,
    Opportunity,
    Stage,
    StageChange,
)
from storage.types import UTCDateTime
from storage.visits import rank_of

T = TypeVar("T")

CENT = Decimal("0.01")
MIN_VISITS_FOR_MEDIAN = 5  # `stalled` only trusts a stage's median with at least this many visits
NONE_LABEL = "(none)"
TAG_COLUMNS = ("found", "reach", "visibility", "change_kind")
DIMENSIONS = ("industry", "region", "size", "tag", "month", "rep")


# ----- scope and result types --------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Whose deals a figure covers: one workspace, optionally narrowed. owner_ids None = everyone."""

    team_id: str
    owner_ids: tuple[str, ...] | None = None
    industry: str | None = None
    region: str | None = None
    company_size: str | None = None


@dataclass(frozen=True)
class StagePipeline:
    stage_id: int
    count: int
    amount: Decimal
    weighted_amount: Decimal
    other_currency: int


@dataclass(frozen=True)
class ChangedDeal:
    opportunity_id: int
    number: int
    name: str
    owner_id: str
    amount: Decimal | None
    currency: str
    from_stage_id: int | None
    to_stage_id: int
    changed_at: datetime
    lost_reason: str | None = None


@dataclass(frozen=True)
class ChangeList:
    total: int  # deals in this category, even when `deals` was cut to a limit
    deals: tuple[ChangedDeal, ...]


@dataclass(frozen=True)
class Changes:
    new: ChangeList
    advanced: ChangeList
    moved_back: ChangeList
    won: ChangeList
    lost: ChangeList
    reopened: ChangeList


@dataclass(frozen=True)
class WinRate:
    won_count: int
    lost_count: int
    won_amount: Decimal
    lost_amount: Decimal
    other_currency: int
    rate_by_count: float | None
    rate_by_amount: float | None


@dataclass(frozen=True)
class StageStep:
    stage_id: int
    next_stage_id: int | None  # None: the step from the last stage to Won
    entered: int
    advanced: int
    rate: float | None


@dataclass(frozen=True)
class StageDwell:
    stage_id: int
    visits: int
    avg_days: float | None
    median_days: float | None
    finished_visits: int
    finished_avg_days: float | None
    finished_median_days: float | None


@dataclass(frozen=True)
class CycleLength:
    count: int
    avg_days: float | None


@dataclass(frozen=True)
class StalledDeal:
    opportunity_id: int
    number: int
    name: str
    owner_id: str
    stage_id: int
    days_in_stage: float
    reason: str  # "max_days" (wins when both apply) or "median"
    max_days: int
    median_days: float | None  # the stage's median visit in this scope; None under MIN_VISITS_FOR_MEDIAN visits


@dataclass(frozen=True)
class Stalled:
    total: int
    deals: tuple[StalledDeal, ...]


@dataclass(frozen=True)
class RepStage:
    stage_id: int
    next_stage_id: int | None
    entered: int
    advanced: int
    rate: float | None
    visits: int
    avg_days: float | None
    finished_visits: int
    finished_avg_days: float | None


@dataclass(frozen=True)
class RepFunnel:
    owner_id: str | None  # None: the whole scope (the team)
    stages: tuple[RepStage, ...]
    stall_stage_id: int | None = None  # where this rep's finished visits exceed the team's by the largest ratio
    stall_ratio: float | None = None


@dataclass(frozen=True)
class RepFunnels:
    team: RepFunnel
    reps: tuple[RepFunnel, ...]


@dataclass(frozen=True)
class ExpectedCloses:
    count: int
    amount: Decimal
    weighted_amount: Decimal
    other_currency: int


@dataclass(frozen=True)
class OverdueFollowUps:
    assignee_id: str
    count: int
    oldest_due_at: datetime


@dataclass(frozen=True)
class DealRef:
    opportunity_id: int
    number: int
    name: str
    owner_id: str
    stage_id: int
    stage_entered_at: datetime


@dataclass(frozen=True)
class OpenWithoutFollowUp:
    total: int
    deals: tuple[DealRef, ...]


@dataclass(frozen=True)
class ReportRow:
    key: str
    count: int
    amount: Decimal
    other_currency: int
    weighted_open_amount: Decimal
    won_count: int
    lost_count: int
    win_rate: float | None
    avg_cycle_days: float | None


# ----- helpers -----------------------------------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _days_between(session: Session, start: Any, end: Any) -> Any:
    """SQL for the days (a float) from `start` to `end`.

    SQLite stores these columns as naive UTC text, which julianday() reads; PostgreSQL has
    timestamptz, whose difference is an interval.
    """
    if _dialect(session) == "sqlite":
        return type_coerce(func.julianday(end) - func.julianday(start), Float)
    # date_part gives a double; EXTRACT gives numeric (PostgreSQL 14+), several times slower to
    # compute with over millions of visits, for the same value once cast
    return type_coerce(func.date_part("epoch", end - start), Float) / 86400.0


def _month_of(session: Session, column: Any) -> Any:
    """SQL for the UTC month of a timestamp, as 'YYYY-MM'."""
    if _dialect(session) == "sqlite":
        return func.strftime("%Y-%m", column)
    # to_char would format a timestamptz in the session's time zone: convert to UTC first.
    return func.to_char(func.timezone("UTC", column), "YYYY-MM")


def _at(moment: datetime) -> Any:
    """A datetime parameter stored the way the columns are (naive UTC text on SQLite)."""
    return literal(moment, UTCDateTime())


def _cents(amount: Any) -> Any:
    """An amount as whole cents: integer sums are exact on both databases."""
    return cast(func.round(amount * 100), BigInteger)


def _money(cents: Any) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(CENT)


def _weighted_money(cent_percent: Any) -> Decimal:
    """Σ cents × probability (percent) → an amount, rounded half-up to the cent."""
    return (Decimal(int(cent_percent or 0)) / 10000).quantize(CENT, rounding=ROUND_HALF_UP)


def _ratio(part: float | Decimal | int, whole: float | Decimal | int) -> float | None:
    return float(part) / float(whole) if whole else None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


LITERAL_ROWS = 64  # above this many rows, `_rows` writes them into the SQL instead of binding them


def _rows(session: Session, name: str, columns: Sequence[tuple[str, Any]], rows: Sequence[tuple]) -> Any:
    """A subquery of given rows (owners per scope, medians per scope and stage) as a VALUES list.

    Up to LITERAL_ROWS rows (one team) the values are bind parameters, so the SQL is the same from
    team to team and stays in the statement cache. A batch's rows are written into the SQL as
    literals, each by its type's literal processor: as parameters, the 5,000 owners of 1,000 teams
    cost SQLAlchemy and psycopg more to compile and send (~0.2 s a statement) than most statements
    take to run. (PostgreSQL plans a VALUES list better than an unnested array: it hashes the list.)
    """
    names = [column_name for column_name, _ in columns]
    typed = [column(column_name, column_type) for column_name, column_type in columns]
    select_list = ", ".join(f"column{i + 1} AS {c}" for i, c in enumerate(names))
    if len(rows) <= LITERAL_ROWS:
        values = ", ".join("(" + ", ".join(f":{name}_{r}_{i}" for i in range(len(columns))) + ")" for r in range(len(rows)))
        return (text(f"SELECT {select_list} FROM (VALUES {values}) AS {name}_values")
                .bindparams(**{f"{name}_{r}_{i}": value for r, row in enumerate(rows) for i, value in enumerate(row)})
                .columns(*typed).subquery(name))
    dialect = session.get_bind().dialect
    processors = [column_type().literal_processor(dialect) for _, column_type in columns]
    # A literal processor doubles "%" for a DBAPI with %-style parameters, as text() will do again;
    # and text() reads ":name" as a bind parameter, so a colon inside a value is escaped for it.
    doubled = getattr(dialect.identifier_preparer, "_double_percents", False)

    def render(process: Any, value: Any) -> str:
        literal = process(value)
        return (literal.replace("%%", "%") if doubled else literal).replace(":", "\\:")

    values = ", ".join("(" + ", ".join(render(p, value) for p, value in zip(processors, row)) + ")" for row in rows)
    return text(f"SELECT {select_list} FROM (VALUES {values}) AS {name}_values").columns(*typed).subquery(name)


def _deal_filters(scope: Scope, *, by_owner: bool = True) -> list[Any]:
    """WHERE clauses putting `Opportunity` rows in one scope (by current owner unless by_owner=False)."""
    where = [Opportunity.team_id == scope.team_id]
    if by_owner and scope.owner_ids is not None:
        where.append(Opportunity.owner_id.in_(scope.owner_ids))
    for col, value in ((Opportunity.industry, scope.industry), (Opportunity.region, scope.region),
                       (Opportunity.company_size, scope.company_size)):
        if value is not None:
            where.append(col == value)
    return where


def _deal_of_change(change: Any = StageChange) -> Any:
    return and_(Opportunity.id == change.opportunity_id, Opportunity.team_id == change.team_id)


def _in_currency(currency: str) -> Any:
    return Opportunity.currency == currency


def _other_currency(currency: str) -> Any:
    """A priced deal whose amount is left out of sums in `currency`."""
    return and_(Opportunity.currency != currency, Opportunity.amount.is_not(None))


def _per_team_and_stage(session: Session, group: "_Scopes", figures: dict[tuple[int, int], Any],
                        line: Callable[[Any, Any], T], stages: list[Any] | None = None) -> list[list[T]]:
    """Each team's lines, one per stage: every active stage in position order (`line(stage, None)`
    when the team has no row for it), then the retired stages the team still has a row for.
    `stages`: the workspace's `_stages`, when the caller has them already."""
    stages = _stages(session, group.team_id) if stages is None else stages
    return [[line(stage, figures.get((grp, stage.id))) for stage in stages if stage.active or (grp, stage.id) in figures]
            for grp in range(len(group))]


def _stages(session: Session, team_id: str) -> list[Any]:
    """Every stage of the workspace: active ones in position order, then retired ones."""
    return list(session.execute(
        select(Stage.id, Stage.active, Stage.probability)
        .where(Stage.team_id == team_id)
        .order_by(Stage.active.desc(), Stage.position, Stage.id)
    ))


def _active_stages(session: Session, team_id: str) -> list[int]:
    return [s.id for s in _stages(session, team_id) if s.active]


# ----- several scopes at once --------------------------------------------------------------------

SMALL_OWNER_SET = 64  # up to this many owners, statements also filter `owner_id IN (...)` to start from the owner indexes


class _Scopes:
    """Several scopes of one workspace (e.g. every sales team whose digest is due), computed together.

    Each scope is numbered by its place in the list (`grp`). A statement joins the scopes' owners as
    (grp, owner_id) rows — a VALUES list, which SQLite and PostgreSQL both name column1, column2 —
    and groups by grp, so N teams cost one pass over the workspace's rows instead of N passes.
    One scope is the same statement with one group. A scope of everyone (owner_ids None) has no
    owners to join: it is computed on its own, as group 0 joined to every row.

    Scopes computed together have no owner in common (as sales teams: a rep is on one team), so a
    row joins at most one scope and window functions over a deal's rows are not disturbed by the join.
    """

    def __init__(self, session: Session, scopes: Sequence[Scope]) -> None:
        self.session = session
        if not scopes:
            raise ValueError("no scope given")
        first = scopes[0]
        shared = (first.team_id, first.industry, first.region, first.company_size)
        if any((s.team_id, s.industry, s.region, s.company_size) != shared for s in scopes):
            raise ValueError("scopes computed together share the workspace and the industry, region and size filters")
        self.everyone = first.owner_ids is None
        if any(s.owner_ids is None for s in scopes) and len(scopes) > 1:
            raise ValueError("a scope of everyone is computed on its own")
        self.scopes = tuple(scopes)
        self.first = first
        self.team_id = first.team_id
        self.pairs = [] if self.everyone else [(grp, owner) for grp, s in enumerate(scopes) for owner in dict.fromkeys(s.owner_ids)]
        self.owners = sorted({owner for _, owner in self.pairs})
        if len(self.owners) != len(self.pairs):
            raise ValueError("scopes computed together cannot share an owner")
        self._names = itertools.count()

    def __len__(self) -> int:
        return len(self.scopes)

    def members(self) -> Any:
        """A fresh (grp, owner_id) selectable; for everyone, one row (grp 0) that joins on true.

        PostgreSQL gets a VALUES list (`_rows`), which it hashes. SQLite would loop over a VALUES list
        for every row it joins (it has no index on it and misjudges the join order), so there it is a
        temporary table with owner_id as its key, filled once per transaction and set of scopes (a
        write to the connection's temp schema only: the database itself is not locked).
        """
        n = next(self._names)
        if self.everyone:
            return select(literal_column("0", Integer).label("grp")).subquery(f"members{n}")
        pairs = self.pairs or [(-1, "")]  # scopes without owners: a row that matches nothing
        if _dialect(self.session) == "sqlite":
            return self._temporary_table(pairs)
        return _rows(self.session, f"members{n}", (("grp", Integer), ("owner_id", String)), pairs)

    def _temporary_table(self, pairs: list[tuple[int, str]]) -> Any:
        digest = hashlib.sha1(repr(pairs).encode()).hexdigest()[:16]
        table = Table(f"scope_members_{digest}", MetaData(), Column("owner_id", String, primary_key=True),
                      Column("grp", Integer, nullable=False), prefixes=["TEMPORARY"])
        connection = self.session.connection()
        exists_already = connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_temp_master WHERE type = 'table' AND name = ?", (table.name,)).first()
        if exists_already is None:
            table.create(connection)
            connection.execute(table.insert(), [{"grp": grp, "owner_id": owner} for grp, owner in pairs])
        return table.alias(f"members{next(self._names)}")

    def execute(self, statement: Any) -> Any:
        """Run a statement of these scopes. A batch's SQL embeds its owners (and medians) as literal
        rows (`_rows`), so it differs from batch to batch: it is compiled afresh rather than kept in the
        engine's statement cache, which it would churn through with large entries. One team's SQL has
        its few owners as parameters and is cached like any other statement."""
        literal = len(self.scopes) > 1 or len(self.pairs) > LITERAL_ROWS
        return self.session.execute(statement, execution_options={"compiled_cache": None} if literal else {})

    def on(self, members: Any, owner: Any) -> Any:
        """The join condition putting a row owned by `owner` in its scopes."""
        return true() if self.everyone else members.c.owner_id == owner

    def deal_filters(self, *, by_owner: bool = True) -> list[Any]:
        """WHERE clauses on `Opportunity` that every scope shares; the owners come from the join."""
        where = _deal_filters(self.first, by_owner=False)
        if by_owner and not self.everyone and len(self.owners) <= SMALL_OWNER_SET:
            where.append(Opportunity.owner_id.in_(self.owners))  # redundant with the join; lets the planner start from the owner index
        return where


def _visits(session: Session, scopes: _Scopes, now: datetime | None, *, attribute_to_change_owner: bool = False,
            created_since: datetime | None = None) -> Any:
    """A subquery with one row per stage visit in each scope.

    Columns: grp (the scope), opportunity_id, stage_id, owner_id (the owner when the visit started),
    advanced (the deal later reached a higher-ranked stage or was won), first_visit and
    first_visit_of_owner (see storage.visits), finished (the visit has ended) and, when `now` is
    given, days (until the next change, or until `now` for a visit still going). A visit is in a
    scope by the deal's current owner, or with `attribute_to_change_owner` by `owner_id`. What a
    visit needs is stored with each change (storage.visits), so this is a join and a filter, not a
    window over the deals' histories.
    """
    where = [StageChange.team_id == scopes.team_id, StageChange.to_status == OPEN]
    members = scopes.members()
    columns = [
        members.c.grp,
        StageChange.opportunity_id,
        StageChange.to_stage_id.label("stage_id"),
        StageChange.owner_id,
        StageChange.advanced,
        StageChange.first_visit,
        StageChange.first_visit_of_owner,
        StageChange.left_at.is_not(None).label("finished"),
    ]
    if now is not None:
        columns.append(_days_between(session, StageChange.changed_at, func.coalesce(StageChange.left_at, _at(now))).label("days"))
    query = select(*columns).select_from(StageChange)
    if attribute_to_change_owner:
        query = query.join(members, scopes.on(members, StageChange.owner_id))
        if not scopes.everyone and len(scopes.owners) <= SMALL_OWNER_SET:
            where.append(StageChange.owner_id.in_(scopes.owners))  # redundant with the join; starts from ix_stage_change_owner
        deal_filters = scopes.deal_filters(by_owner=False)
        if len(deal_filters) > 1 or created_since is not None:  # more than the workspace: the deal's attributes count
            query = query.join(Opportunity, _deal_of_change())
            where.extend(deal_filters)
    else:
        query = query.join(Opportunity, _deal_of_change()).join(members, scopes.on(members, Opportunity.owner_id))
        where.extend(scopes.deal_filters())
    if created_since is not None:
        where.append(Opportunity.created_at >= created_since)
    return query.where(*where).subquery("visits")


def _funnel_figures(visits: Any, *keys: Any, per_owner: bool) -> list[Any]:
    """Aggregates of visits grouped by `keys` (and stage): deals entered and advanced, visit counts
    and average days. Per owner, a deal counts once per owner by its owner's first visit (which has
    advanced when any of that owner's visits there has); across owners, distinct deals are counted."""
    finished_days = case((visits.c.finished, visits.c.days))
    if per_owner:
        entered = func.count(case((visits.c.first_visit_of_owner, 1)))
        advanced = func.count(case((and_(visits.c.first_visit_of_owner, visits.c.advanced), 1)))
    else:
        entered = func.count(distinct(visits.c.opportunity_id))
        advanced = func.count(distinct(case((visits.c.advanced, visits.c.opportunity_id))))
    return [
        *keys,
        visits.c.stage_id,
        entered.label("entered"),
        advanced.label("advanced"),
        func.count().label("visits"),
        func.avg(visits.c.days).label("avg_days"),
        func.count(finished_days).label("finished_visits"),
        func.avg(finished_days).label("finished_avg_days"),
    ]


def _entered_and_advanced(visits: Any) -> list[Any]:
    """Deals that entered the stage, and of those the ones that advanced, counted by their first visit."""
    return [
        func.count(case((visits.c.first_visit, 1))).label("entered"),
        func.count(case((and_(visits.c.first_visit, visits.c.advanced), 1))).label("advanced"),
    ]


def _days_stats(session: Session, visits: Any) -> Any:
    """A subquery per scope and stage: visits, avg_days and median_days of all visits, the same of
    finished visits (finished_visits, finished_avg_days, finished_median_days), and the deals that
    entered the stage and advanced from it (entered, advanced; see `stage_conversion`).

    PostgreSQL takes the medians with percentile_cont, in the one GROUP BY. SQLite has no such
    aggregate: there the visits are ranked 1..n by days, the middle rows are those with
    n <= 2·rank <= n + 2 (one row when n is odd, two when even) and the median is their average.
    """
    finished_days = case((visits.c.finished, visits.c.days))
    if _dialect(session) == "postgresql":
        return (
            select(
                visits.c.grp,
                visits.c.stage_id,
                *_entered_and_advanced(visits),
                func.count().label("visits"),
                func.avg(visits.c.days).label("avg_days"),
                func.percentile_cont(0.5).within_group(visits.c.days).label("median_days"),
                func.count(finished_days).label("finished_visits"),
                func.avg(finished_days).label("finished_avg_days"),
                func.percentile_cont(0.5).within_group(finished_days).label("finished_median_days"),
            )
            .group_by(visits.c.grp, visits.c.stage_id)
            .subquery()
        )

    def ranked_stats(finished_only: bool) -> Any:
        ranked = select(
            visits.c.grp,
            visits.c.stage_id,
            visits.c.days,
            visits.c.first_visit,
            visits.c.advanced,
            func.row_number().over(partition_by=(visits.c.grp, visits.c.stage_id), order_by=visits.c.days).label("rank"),
            func.count().over(partition_by=(visits.c.grp, visits.c.stage_id)).label("n"),
        )
        if finished_only:
            ranked = ranked.where(visits.c.finished)
        ranked = ranked.subquery()
        middle = and_(ranked.c.rank * 2 >= ranked.c.n, ranked.c.rank * 2 <= ranked.c.n + 2)
        return (
            select(
                ranked.c.grp,
                ranked.c.stage_id,
                *_entered_and_advanced(ranked),
                func.count().label("visits"),
                func.avg(ranked.c.days).label("avg_days"),
                func.avg(case((middle, ranked.c.days))).label("median_days"),
            )
            .group_by(ranked.c.grp, ranked.c.stage_id)
            .subquery()
        )

    every, finished = ranked_stats(False), ranked_stats(True)
    return (
        select(every.c.grp, every.c.stage_id, every.c.entered, every.c.advanced, every.c.visits, every.c.avg_days, every.c.median_days,
               func.coalesce(finished.c.visits, 0).label("finished_visits"), finished.c.avg_days.label("finished_avg_days"),
               finished.c.median_days.label("finished_median_days"))
        .outerjoin(finished, and_(finished.c.grp == every.c.grp, finished.c.stage_id == every.c.stage_id))
        .subquery()
    )


def _final_closes(scopes: _Scopes, since: datetime, until: datetime) -> Any:
    """A subquery of deals whose last change is a win or loss made in [since, until), per scope.

    A deal closed in the window but reopened since is left out; a deal won, reopened and lost
    counts once, by its last outcome. Columns: grp, opportunity_id, outcome, closed_at, created_at,
    amount, currency.
    """
    members = scopes.members()
    return (
        select(
            members.c.grp,
            StageChange.opportunity_id,
            StageChange.to_status.label("outcome"),
            StageChange.changed_at.label("closed_at"),
            Opportunity.created_at,
            Opportunity.amount,
            Opportunity.currency,
        )
        .select_from(StageChange)
        .join(Opportunity, _deal_of_change())
        .join(members, scopes.on(members, Opportunity.owner_id))
        .where(
            StageChange.team_id == scopes.team_id,
            StageChange.to_status.in_((WON, LOST)),
            StageChange.changed_at >= since,
            StageChange.changed_at < until,
            StageChange.left_at.is_(None),  # the deal's latest change
            *scopes.deal_filters(),
        )
        .subquery()
    )


# Every figure below has a `…_each(session, scopes, …)` form, one statement for any number of scopes
# of one workspace returning one result per scope in order, and the one-scope form, which is it
# with a list of one.


# ----- 1. pipeline by stage ----------------------------------------------------------------------


def pipeline_by_stage(session: Session, scope: Scope, currency: str) -> list[StagePipeline]:
    """Open deals per stage: count, amount and weighted amount in `currency`.

    Every active stage appears, in position order, even with no deals; a retired stage appears
    after them only while open deals still sit in it.
    """
    return pipeline_by_stage_each(session, [scope], currency)[0]


def pipeline_by_stage_each(session: Session, scopes: Sequence[Scope], currency: str) -> list[list[StagePipeline]]:
    group = _Scopes(session, scopes)
    members = group.members()
    figures = {(r.grp, r.stage_id): r for r in group.execute(
        select(
            members.c.grp,
            Opportunity.stage_id,
            func.count().label("count"),
            func.sum(case((_in_currency(currency), _cents(Opportunity.amount)))).label("cents"),
            func.count(case((_other_currency(currency), 1))).label("other_currency"),
        )
        .select_from(Opportunity)
        .join(members, group.on(members, Opportunity.owner_id))
        .where(*group.deal_filters(), Opportunity.status == OPEN)
        .group_by(members.c.grp, Opportunity.stage_id)
    )}

    def line(stage: Any, r: Any) -> StagePipeline:
        cents = None if r is None else r.cents
        return StagePipeline(
            stage_id=stage.id, count=r.count if r else 0, amount=_money(cents),
            weighted_amount=_weighted_money(None if cents is None else int(cents) * stage.probability),
            other_currency=r.other_currency if r else 0,
        )

    return _per_team_and_stage(session, group, figures, line)


# ----- 2. what changed ---------------------------------------------------------------------------

CHANGE_KINDS = ("new", "advanced", "moved_back", "won", "lost", "reopened")


def changes_between(session: Session, scope: Scope, since: datetime, until: datetime, *, limit: int | None = None) -> Changes:
    """Deals that were created, advanced, moved back, won, lost or reopened in [since, until).

    A deal appears at most once per category, with its latest change of that kind in the window
    (so a deal won and later lost in the window is in both lists). Newest first; `limit` cuts
    each list, `total` still counts all. The lost reason is the deal's current one, so it is
    given only while the deal is still lost (stage changes do not keep reasons).
    """
    return changes_between_each(session, [scope], since, until, limit=limit)[0]


def changes_between_each(session: Session, scopes: Sequence[Scope], since: datetime, until: datetime, *,
                         limit: int | None = None) -> list[Changes]:
    group = _Scopes(session, scopes)
    members = group.members()
    from_stage, to_stage = aliased(Stage), aliased(Stage)
    kind = case(
        (StageChange.from_status.is_(None), "new"),
        (StageChange.to_status == WON, "won"),
        (StageChange.to_status == LOST, "lost"),
        (StageChange.from_status != OPEN, "reopened"),
        (rank_of(to_stage) > rank_of(from_stage), "advanced"),
        (rank_of(to_stage) < rank_of(from_stage), "moved_back"),
    )
    newest_first = (StageChange.changed_at.desc(), StageChange.id.desc())
    classified = (
        select(
            members.c.grp,
            StageChange.id.label("change_id"),
            StageChange.opportunity_id,
            StageChange.from_stage_id,
            StageChange.to_stage_id,
            StageChange.changed_at,
            kind.label("kind"),
            func.row_number().over(partition_by=(members.c.grp, StageChange.opportunity_id, kind), order_by=newest_first).label("nth"),
        )
        .select_from(StageChange)
        .join(Opportunity, _deal_of_change())
        .join(members, group.on(members, Opportunity.owner_id))
        .join(to_stage, and_(to_stage.id == StageChange.to_stage_id, to_stage.team_id == StageChange.team_id))
        .outerjoin(from_stage, and_(from_stage.id == StageChange.from_stage_id, from_stage.team_id == StageChange.team_id))
        .where(StageChange.team_id == group.team_id, StageChange.changed_at >= since, StageChange.changed_at < until,
               *group.deal_filters())
        .cte("classified")
    )
    latest = (
        select(
            classified,
            func.row_number().over(partition_by=(classified.c.grp, classified.c.kind),
                                   order_by=(classified.c.changed_at.desc(), classified.c.change_id.desc())).label("place"),
            func.count().over(partition_by=(classified.c.grp, classified.c.kind)).label("total"),
        )
        .where(classified.c.nth == 1, classified.c.kind.is_not(None))
        .cte("latest")
    )
    query = (
        select(
            latest.c.grp, latest.c.kind, latest.c.total, latest.c.opportunity_id, latest.c.from_stage_id, latest.c.to_stage_id,
            latest.c.changed_at, Opportunity.number, Opportunity.name, Opportunity.owner_id, Opportunity.amount,
            Opportunity.currency, case((Opportunity.status == LOST, Opportunity.lost_reason)).label("lost_reason"),
        )
        .join(Opportunity, and_(Opportunity.id == latest.c.opportunity_id, Opportunity.team_id == group.team_id))
        .order_by(latest.c.grp, latest.c.kind, latest.c.place)
    )
    if limit is not None:
        query = query.where(latest.c.place <= limit)
    totals: list[dict[str, int]] = [{} for _ in scopes]
    deals: list[dict[str, list[ChangedDeal]]] = [{k: [] for k in CHANGE_KINDS} for _ in scopes]
    for r in group.execute(query):
        totals[r.grp][r.kind] = r.total
        deals[r.grp][r.kind].append(ChangedDeal(
            opportunity_id=r.opportunity_id, number=r.number, name=r.name, owner_id=r.owner_id, amount=r.amount,
            currency=r.currency, from_stage_id=r.from_stage_id, to_stage_id=r.to_stage_id, changed_at=r.changed_at,
            lost_reason=r.lost_reason if r.kind == "lost" else None,
        ))
    return [Changes(**{k: ChangeList(total=totals[grp].get(k, 0), deals=tuple(deals[grp][k])) for k in CHANGE_KINDS})
            for grp in range(len(group))]


# ----- 3. win rate -------------------------------------------------------------------------------


def win_rate(session: Session, scope: Scope, since: datetime, until: datetime, currency: str) -> WinRate:
    """Deals whose final outcome (won or lost, not reopened since) was decided in [since, until).

    rate_by_count = won / (won + lost); rate_by_amount the same over amounts in `currency`.
    """
    return win_rate_each(session, [scope], since, until, currency)[0]


def win_rate_each(session: Session, scopes: Sequence[Scope], since: datetime, until: datetime, currency: str) -> list[WinRate]:
    group = _Scopes(session, scopes)
    closes = _final_closes(group, since, until)
    is_won, is_lost = closes.c.outcome == WON, closes.c.outcome == LOST
    in_currency = closes.c.currency == currency
    cents = _cents(closes.c.amount)
    rows = {r.grp: r for r in group.execute(
        select(
            closes.c.grp,
            func.count(case((is_won, 1))).label("won"),
            func.count(case((is_lost, 1))).label("lost"),
            func.sum(case((and_(is_won, in_currency), cents))).label("won_cents"),
            func.sum(case((and_(is_lost, in_currency), cents))).label("lost_cents"),
            func.count(case((and_(~in_currency, closes.c.amount.is_not(None)), 1))).label("other_currency"),
        )
        .group_by(closes.c.grp)
    )}
    result = []
    for grp in range(len(group)):
        r = rows.get(grp)
        won, lost = (r.won, r.lost) if r else (0, 0)
        won_amount, lost_amount = (_money(r.won_cents), _money(r.lost_cents)) if r else (_money(None), _money(None))
        result.append(WinRate(
            won_count=won, lost_count=lost, won_amount=won_amount, lost_amount=lost_amount,
            other_currency=r.other_currency if r else 0, rate_by_count=_ratio(won, won + lost),
            rate_by_amount=_ratio(won_amount, won_amount + lost_amount),
        ))
    return result


# ----- 4. stage conversion -----------------------------------------------------------------------


def stage_conversion(session: Session, scope: Scope, since: datetime | None = None) -> list[StageStep]:
    """Stage-to-stage conversion along the active stages, the last one converting to Won.

    entered: distinct deals that ever entered the stage (created in it, moved or reopened into
    it); advanced: of those, the ones that afterwards entered a later stage or were won. With
    `since`, only deals created at or after it count.
    """
    return stage_conversion_each(session, [scope], since)[0]


def stage_conversion_each(session: Session, scopes: Sequence[Scope], since: datetime | None = None) -> list[list[StageStep]]:
    group = _Scopes(session, scopes)
    visits = _visits(session, group, None, created_since=since)
    figures = {(r.grp, r.stage_id): r for r in group.execute(
        select(visits.c.grp, visits.c.stage_id, *_entered_and_advanced(visits))
        .group_by(visits.c.grp, visits.c.stage_id)
    )}
    return _conversion_steps(group, figures, _active_stages(session, group.team_id))


def _conversion_steps(group: _Scopes, figures: dict[tuple[int, int], Any], stage_ids: list[int]) -> list[list[StageStep]]:
    """Each scope's steps along the active stages from (grp, stage_id) rows with entered and advanced."""
    result = []
    for grp in range(len(group)):
        steps = []
        for i, stage_id in enumerate(stage_ids):
            r = figures.get((grp, stage_id))
            entered, advanced = (r.entered, r.advanced) if r else (0, 0)
            steps.append(StageStep(stage_id=stage_id, next_stage_id=stage_ids[i + 1] if i + 1 < len(stage_ids) else None,
                                   entered=entered, advanced=advanced, rate=_ratio(advanced, entered)))
        result.append(steps)
    return result


# ----- 5. time in stage --------------------------------------------------------------------------


def stage_dwell(session: Session, scope: Scope, now: datetime) -> list[StageDwell]:
    """Days per stage visit, per stage: count, average and median of all visits (the ones still
    going count until `now`) and of finished visits only.

    Active stages in position order, then retired stages that have visits.
    """
    return stage_dwell_each(session, [scope], now)[0]


def stage_dwell_each(session: Session, scopes: Sequence[Scope], now: datetime) -> list[list[StageDwell]]:
    return [list(figures.dwell) for figures in stage_figures_each(session, scopes, now)]


@dataclass(frozen=True)
class StageFigures:
    dwell: tuple[StageDwell, ...]
    conversion: tuple[StageStep, ...]


def stage_figures(session: Session, scope: Scope, now: datetime) -> StageFigures:
    """`stage_dwell` and `stage_conversion` (of every deal: no `since`) of one scope, from one pass
    over its stage visits."""
    return stage_figures_each(session, [scope], now)[0]


def stage_figures_each(session: Session, scopes: Sequence[Scope], now: datetime) -> list[StageFigures]:
    group = _Scopes(session, scopes)
    stats = _days_stats(session, _visits(session, group, now))
    figures = {(r.grp, r.stage_id): r for r in group.execute(select(stats))}

    def line(stage: Any, r: Any) -> StageDwell:
        return StageDwell(
            stage_id=stage.id, visits=r.visits if r else 0, avg_days=_float(r.avg_days) if r else None,
            median_days=_float(r.median_days) if r else None, finished_visits=r.finished_visits if r else 0,
            finished_avg_days=_float(r.finished_avg_days) if r else None,
            finished_median_days=_float(r.finished_median_days) if r else None,
        )

    stages = _stages(session, group.team_id)
    dwell = _per_team_and_stage(session, group, figures, line, stages)
    conversion = _conversion_steps(group, figures, [stage.id for stage in stages if stage.active])
    return [StageFigures(dwell=tuple(d), conversion=tuple(c)) for d, c in zip(dwell, conversion)]


# ----- 6. sales cycle ----------------------------------------------------------------------------


def cycle_length(session: Session, scope: Scope, since: datetime, until: datetime) -> CycleLength:
    """Days from creation to the win, averaged over deals won in [since, until) and still won."""
    return cycle_length_each(session, [scope], since, until)[0]


def cycle_length_each(session: Session, scopes: Sequence[Scope], since: datetime, until: datetime) -> list[CycleLength]:
    group = _Scopes(session, scopes)
    closes = _final_closes(group, since, until)
    rows = {r.grp: r for r in group.execute(
        select(closes.c.grp, func.count().label("count"),
               func.avg(_days_between(session, closes.c.created_at, closes.c.closed_at)).label("avg_days"))
        .where(closes.c.outcome == WON)
        .group_by(closes.c.grp)
    )}
    return [CycleLength(count=rows[grp].count, avg_days=_float(rows[grp].avg_days)) if grp in rows else CycleLength(count=0, avg_days=None)
            for grp in range(len(group))]


# ----- 7. stalled deals --------------------------------------------------------------------------


def stage_medians(session: Session, scope: Scope, now: datetime) -> dict[int, tuple[int, float | None]]:
    """{stage_id: (visits, median days)} of the scope's stage visits, finished and ongoing (until `now`):
    what `stalled` compares against. It reads the scope's whole stage history, O(history), so a caller
    that asks often (the App Home) computes it once in a while and hands it to `stalled`.
    """
    return stage_medians_each(session, [scope], now)[0]


def stage_medians_each(session: Session, scopes: Sequence[Scope], now: datetime) -> list[dict[int, tuple[int, float | None]]]:
    group = _Scopes(session, scopes)
    stats = _days_stats(session, _visits(session, group, now))
    result: list[dict[int, tuple[int, float | None]]] = [{} for _ in scopes]
    for r in group.execute(select(stats.c.grp, stats.c.stage_id, stats.c.visits, stats.c.median_days)):
        result[r.grp][r.stage_id] = (r.visits, _float(r.median_days))
    return result


def medians_of(dwell: Sequence[StageDwell]) -> dict[int, tuple[int, float | None]]:
    """`stage_medians` read off `stage_dwell` of the same scope and `now` (the same visits)."""
    return {s.stage_id: (s.visits, s.median_days) for s in dwell if s.visits}


def stalled(session: Session, scope: Scope, now: datetime, multiplier: float = 2, limit: int = 10, *,
            medians: dict[int, tuple[int, float | None]] | None = None, max_days: dict[int, int] | None = None) -> Stalled:
    """Open deals sitting in their stage too long: longer than the stage's max_days ("max_days"),
    or longer than `multiplier` × the median visit of that stage in this scope, finished and
    ongoing visits alike, when the stage has at least MIN_VISITS_FOR_MEDIAN visits ("median").

    The longest first; `total` counts them all, `deals` holds the first `limit` (at least 1).
    The medians are `stage_medians` (one pass over the scope's stage history) unless given.

    Given `medians` and every stage's `max_days`, the stage table is not joined either: each
    stage's limit becomes one range on ix_opportunity_owner_open's stage_entered_at.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if medians is not None and max_days is not None:
        return _stalled_by_limits(session, scope, now, multiplier, limit, medians, max_days)
    return stalled_each(session, [scope], now, multiplier, limit, medians=None if medians is None else [medians])[0]


def stalled_each(session: Session, scopes: Sequence[Scope], now: datetime, multiplier: float = 2, limit: int = 10, *,
                 medians: Sequence[dict[int, tuple[int, float | None]]] | None = None) -> list[Stalled]:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    group = _Scopes(session, scopes)
    if medians is None:
        medians = stage_medians_each(session, scopes, now)
    # The medians that count (enough visits) as (grp, stage_id, median) rows (`_rows`), read back as
    # the same doubles the database computed (a float's repr round-trips).
    trusted = [(grp, stage_id, float(median)) for grp, stages in enumerate(medians) for stage_id, (visits, median) in stages.items()
               if visits >= MIN_VISITS_FOR_MEDIAN and median is not None] or [(-1, -1, 0.0)]
    limits = _rows(session, "medians", (("grp", Integer), ("stage_id", Integer), ("median_days", Float)), trusted)
    members = group.members()
    days_in_stage = _days_between(session, Opportunity.stage_entered_at, _at(now))
    over_max = days_in_stage > Stage.max_days
    over_median = days_in_stage > limits.c.median_days * literal(float(multiplier), Float)
    ranked = (
        select(
            members.c.grp, Opportunity.id, Opportunity.number, Opportunity.name, Opportunity.owner_id, Opportunity.stage_id,
            days_in_stage.label("days_in_stage"),
            case((over_max, "max_days"), else_="median").label("reason"),
            Stage.max_days,
            func.row_number().over(partition_by=members.c.grp, order_by=(days_in_stage.desc(), Opportunity.number)).label("place"),
            func.count().over(partition_by=members.c.grp).label("total"),
        )
        .select_from(Opportunity)
        .join(members, group.on(members, Opportunity.owner_id))
        .join(Stage, and_(Stage.id == Opportunity.stage_id, Stage.team_id == Opportunity.team_id))
        .outerjoin(limits, and_(limits.c.grp == members.c.grp, limits.c.stage_id == Opportunity.stage_id))
        .where(*group.deal_filters(), Opportunity.status == OPEN, or_(over_max, over_median))
        .subquery()
    )
    found: list[list[Any]] = [[] for _ in scopes]
    for r in group.execute(select(ranked).where(ranked.c.place <= limit).order_by(ranked.c.grp, ranked.c.place)):
        found[r.grp].append(r)
    result = []
    for grp, rows in enumerate(found):
        deals = []
        for r in rows:
            visits, median = medians[grp].get(r.stage_id, (0, None))
            deals.append(StalledDeal(opportunity_id=r.id, number=r.number, name=r.name, owner_id=r.owner_id, stage_id=r.stage_id,
                                     days_in_stage=float(r.days_in_stage), reason=r.reason, max_days=r.max_days,
                                     median_days=median if visits >= MIN_VISITS_FOR_MEDIAN else None))
        result.append(Stalled(total=rows[0].total if rows else 0, deals=tuple(deals)))
    return result


def _stalled_by_limits(session: Session, scope: Scope, now: datetime, multiplier: float, limit: int,
                       medians: dict[int, tuple[int, float | None]], max_days: dict[int, int]) -> Stalled:
    limits: dict[int, tuple[int, float | None]] = {}
    ranges = []
    for stage_id, stage_max in max_days.items():
        visits, median = medians.get(stage_id, (0, None))
        median = median if visits >= MIN_VISITS_FOR_MEDIAN and median is not None else None
        limits[stage_id] = (stage_max, median)
        days = float(stage_max) if median is None else min(float(stage_max), median * multiplier)
        ranges.append(and_(Opportunity.stage_id == stage_id, Opportunity.stage_entered_at < _at(now - timedelta(days=days))))
    if not ranges:
        return Stalled(total=0, deals=())
    days_in_stage = _days_between(session, Opportunity.stage_entered_at, _at(now))
    rows = session.execute(
        select(Opportunity.id, Opportunity.number, Opportunity.name, Opportunity.owner_id, Opportunity.stage_id,
               days_in_stage.label("days_in_stage"), func.count().over().label("total"))
        .where(*_deal_filters(scope), Opportunity.status == OPEN, or_(*ranges))
        .order_by(Opportunity.stage_entered_at, Opportunity.number)  # = days in stage, longest first
        .limit(limit)
    ).all()
    deals = []
    for r in rows:
        stage_max, median = limits[r.stage_id]
        days = float(r.days_in_stage)
        deals.append(StalledDeal(opportunity_id=r.id, number=r.number, name=r.name, owner_id=r.owner_id, stage_id=r.stage_id,
                                 days_in_stage=days, reason="max_days" if days > stage_max else "median", max_days=stage_max,
                                 median_days=median))
    return Stalled(total=rows[0].total if rows else 0, deals=tuple(deals))


# ----- 8. reps side by side ----------------------------------------------------------------------


def rep_funnels(session: Session, scope: Scope, now: datetime) -> RepFunnels:
    """Each rep's funnel next to the team's.

    A stage visit belongs to the rep who owned the deal when the visit started
    (`stage_change.owner_id`), and `scope.owner_ids` selects visits by that owner. Per active
    stage: deals entered, advanced (later entered a later stage or won), conversion rate, visits
    and average days (ongoing visits until `now`), finished visits and their average days.

    The team line counts each deal once. A rep's stall pointer is the stage where the rep's average
    finished visit is longest compared with the team's, when that ratio is above 1.
    Reps: `scope.owner_ids` in the order given, else everyone with visits, by id.
    """
    return rep_funnels_each(session, [scope], now)[0]


def rep_funnels_each(session: Session, scopes: Sequence[Scope], now: datetime) -> list[RepFunnels]:
    group = _Scopes(session, scopes)
    stage_ids = _active_stages(session, group.team_id)
    visits = _visits(session, group, now, attribute_to_change_owner=True)
    per_rep = (select(*_funnel_figures(visits, visits.c.grp, visits.c.owner_id, per_owner=True))
               .group_by(visits.c.grp, visits.c.owner_id, visits.c.stage_id))
    team = (select(*_funnel_figures(visits, visits.c.grp, cast(null(), String).label("owner_id"), per_owner=False))
            .group_by(visits.c.grp, visits.c.stage_id))
    figures: list[dict[str | None, dict[int, Any]]] = [{} for _ in scopes]
    for r in group.execute(union_all(per_rep, team)):
        figures[r.grp].setdefault(r.owner_id, {})[r.stage_id] = r
    return [_rep_funnels(stage_ids, scope, mine) for scope, mine in zip(scopes, figures)]


def _rep_funnels(stage_ids: list[int], scope: Scope, figures: dict[str | None, dict[int, Any]]) -> RepFunnels:
    def funnel(owner_id: str | None) -> RepFunnel:
        mine = figures.get(owner_id, {})
        stages = []
        for i, stage_id in enumerate(stage_ids):
            r = mine.get(stage_id)
            entered, advanced = (r.entered, r.advanced) if r else (0, 0)
            stages.append(RepStage(
                stage_id=stage_id, next_stage_id=stage_ids[i + 1] if i + 1 < len(stage_ids) else None,
                entered=entered, advanced=advanced, rate=_ratio(advanced, entered),
                visits=r.visits if r else 0, avg_days=_float(r.avg_days) if r else None,
                finished_visits=r.finished_visits if r else 0,
                finished_avg_days=_float(r.finished_avg_days) if r else None,
            ))
        return RepFunnel(owner_id=owner_id, stages=tuple(stages))

    team_funnel = funnel(None)
    team_days = {s.stage_id: s.finished_avg_days for s in team_funnel.stages}
    owners = scope.owner_ids if scope.owner_ids is not None else tuple(sorted(k for k in figures if k is not None))
    reps = []
    for owner_id in owners:
        rep = funnel(owner_id)
        ratios = [(s.finished_avg_days / team_days[s.stage_id], s.stage_id) for s in rep.stages
                  if s.finished_avg_days is not None and team_days[s.stage_id]]
        worst = max(ratios, key=lambda pair: pair[0], default=None)
        if worst is not None and worst[0] > 1:
            rep = RepFunnel(owner_id=owner_id, stages=rep.stages, stall_stage_id=worst[1], stall_ratio=worst[0])
        reps.append(rep)
    return RepFunnels(team=team_funnel, reps=tuple(reps))


# ----- 9. expected closes ------------------------------------------------------------------------


def expected_closes(session: Session, scope: Scope, currency: str, start: date, end: date) -> ExpectedCloses:
    """Open deals expected to close in [start, end): count, amount and weighted amount in `currency`."""
    return expected_closes_each(session, [scope], currency, start, end)[0]


def expected_closes_each(session: Session, scopes: Sequence[Scope], currency: str, start: date, end: date) -> list[ExpectedCloses]:
    group = _Scopes(session, scopes)
    members = group.members()
    in_currency = _in_currency(currency)
    rows = {r.grp: r for r in group.execute(
        select(
            members.c.grp,
            func.count().label("count"),
            func.sum(case((in_currency, _cents(Opportunity.amount)))).label("cents"),
            func.sum(case((in_currency, _cents(Opportunity.amount) * Stage.probability))).label("cent_percent"),
            func.count(case((_other_currency(currency), 1))).label("other_currency"),
        )
        .select_from(Opportunity)
        .join(members, group.on(members, Opportunity.owner_id))
        .join(Stage, and_(Stage.id == Opportunity.stage_id, Stage.team_id == Opportunity.team_id))
        .where(*group.deal_filters(), Opportunity.status == OPEN, Opportunity.close_date >= start, Opportunity.close_date < end)
        .group_by(members.c.grp)
    )}
    return [ExpectedCloses(count=rows[grp].count, amount=_money(rows[grp].cents), weighted_amount=_weighted_money(rows[grp].cent_percent),
                           other_currency=rows[grp].other_currency) if grp in rows
            else ExpectedCloses(count=0, amount=_money(None), weighted_amount=_weighted_money(None), other_currency=0)
            for grp in range(len(group))]


# ----- 10. follow-up hygiene ---------------------------------------------------------------------


def overdue_follow_ups_by_rep(session: Session, scope: Scope, now: datetime) -> list[OverdueFollowUps]:
    """Pending follow-ups due before `now` on the scope's deals, per assignee (who may be outside
    the scope's owners): how many and the oldest due time. Most overdue first."""
    return overdue_follow_ups_each(session, [scope], now)[0]


def overdue_follow_ups_each(session: Session, scopes: Sequence[Scope], now: datetime) -> list[list[OverdueFollowUps]]:
    group = _Scopes(session, scopes)
    members = group.members()
    oldest = func.min(FollowUp.due_at)
    rows = group.execute(
        select(members.c.grp, FollowUp.assignee_id, func.count().label("count"), oldest.label("oldest_due_at"))
        .select_from(FollowUp)
        .join(Opportunity, and_(Opportunity.id == FollowUp.opportunity_id, Opportunity.team_id == FollowUp.team_id))
        .join(members, group.on(members, Opportunity.owner_id))
        .where(FollowUp.team_id == group.team_id, FollowUp.status == PENDING, FollowUp.due_at < now, *group.deal_filters())
        .group_by(members.c.grp, FollowUp.assignee_id)
        .order_by(members.c.grp, func.count().desc(), oldest, FollowUp.assignee_id)
    )
    result: list[list[OverdueFollowUps]] = [[] for _ in scopes]
    for r in rows:
        result[r.grp].append(OverdueFollowUps(assignee_id=r.assignee_id, count=r.count, oldest_due_at=r.oldest_due_at))
    return result


def open_without_follow_up(session: Session, scope: Scope, limit: int = 10) -> OpenWithoutFollowUp:
    """Open deals with no pending follow-up: how many, and the first `limit` (at least 1), longest in
    their stage first."""
    return open_without_follow_up_each(session, [scope], limit)[0]


def open_without_follow_up_each(session: Session, scopes: Sequence[Scope], limit: int = 10) -> list[OpenWithoutFollowUp]:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    group = _Scopes(session, scopes)
    members = group.members()
    pending = exists().where(FollowUp.team_id == Opportunity.team_id, FollowUp.opportunity_id == Opportunity.id,
                             FollowUp.status == PENDING)
    ranked = (
        select(members.c.grp, Opportunity.id, Opportunity.number, Opportunity.name, Opportunity.owner_id, Opportunity.stage_id,
               Opportunity.stage_entered_at,
               func.row_number().over(partition_by=members.c.grp, order_by=(Opportunity.stage_entered_at, Opportunity.number)).label("place"),
               func.count().over(partition_by=members.c.grp).label("total"))
        .select_from(Opportunity)
        .join(members, group.on(members, Opportunity.owner_id))
        .where(*group.deal_filters(), Opportunity.status == OPEN, ~pending)
        .subquery()
    )
    found: list[list[Any]] = [[] for _ in scopes]
    for r in group.execute(select(ranked).where(ranked.c.place <= limit).order_by(ranked.c.grp, ranked.c.place)):
        found[r.grp].append(r)
    return [OpenWithoutFollowUp(
        total=rows[0].total if rows else 0,
        deals=tuple(DealRef(opportunity_id=r.id, number=r.number, name=r.name, owner_id=r.owner_id,
                            stage_id=r.stage_id, stage_entered_at=r.stage_entered_at) for r in rows),
    ) for rows in found]


# ----- 11. breakdowns ----------------------------------------------------------------------------


def report(session: Session, scope: Scope, dimension: str, since: datetime, until: datetime, currency: str) -> list[ReportRow]:
    """Deals created in [since, until), grouped by `dimension`, and what became of them so far.

    dimension: industry | region | size | month (UTC month of creation) | rep (current owner) |
    tag (each deal in one group per tag column, e.g. "reach: strategic"). A missing value is
    grouped as "(none)". Per group: deals, their amount in `currency`, the weighted amount of
    those still open, won and lost counts and the win rate among the closed, the average days
    from creation to the win of the won ones.
    Groups by size, largest first (month: chronological).
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; expected one of {', '.join(DIMENSIONS)}")
    won_at = (
        select(StageChange.opportunity_id, func.max(StageChange.changed_at).label("won_at"))
        .where(StageChange.team_id == scope.team_id, StageChange.to_status == WON)
        .group_by(StageChange.opportunity_id)
        .subquery()
    )
    in_currency = _in_currency(currency)
    cohort = (
        select(
            Opportunity.id, Opportunity.owner_id, Opportunity.industry, Opportunity.region, Opportunity.company_size,
            Opportunity.found, Opportunity.reach, Opportunity.visibility, Opportunity.change_kind,
            Opportunity.created_at, Opportunity.status,
            case((in_currency, _cents(Opportunity.amount))).label("cents"),
            case((_other_currency(currency), 1)).label("other_currency"),
            case((and_(in_currency, Opportunity.status == OPEN), _cents(Opportunity.amount) * Stage.probability))
            .label("open_cent_percent"),
            case((Opportunity.status == WON, _days_between(session, Opportunity.created_at, won_at.c.won_at)))
            .label("cycle_days"),
        )
        .join(Stage, and_(Stage.id == Opportunity.stage_id, Stage.team_id == Opportunity.team_id))
        .outerjoin(won_at, won_at.c.opportunity_id == Opportunity.id)
        .where(*_deal_filters(scope), Opportunity.created_at >= since, Opportunity.created_at < until)
        .cte("cohort")
    )

    def named(column: Any) -> Any:
        return func.coalesce(column, NONE_LABEL)

    if dimension == "tag":
        keys = [literal(f"{tag}: ", String) + named(cohort.c[tag]) for tag in TAG_COLUMNS]
    else:
        keys = [{
            "industry": named(cohort.c.industry),
            "region": named(cohort.c.region),
            "size": named(cohort.c.company_size),
            "month": _month_of(session, cohort.c.created_at),
            "rep": cohort.c.owner_id,
        }[dimension]]
    keyed = union_all(*[select(cohort, key.label("key")) for key in keys]).subquery()
    rows = session.execute(
        select(
            keyed.c.key,
            func.count().label("count"),
            func.sum(keyed.c.cents).label("cents"),
            func.count(keyed.c.other_currency).label("other_currency"),
            func.sum(keyed.c.open_cent_percent).label("open_cent_percent"),
            func.count(case((keyed.c.status == WON, 1))).label("won"),
            func.count(case((keyed.c.status == LOST, 1))).label("lost"),
            func.avg(keyed.c.cycle_days).label("avg_cycle_days"),
        )
        .group_by(keyed.c.key)
    ).all()
    result = [
        ReportRow(key=r.key, count=r.count, amount=_money(r.cents), other_currency=r.other_currency,
                  weighted_open_amount=_weighted_money(r.open_cent_percent), won_count=r.won, lost_count=r.lost,
                  win_rate=_ratio(r.won, r.won + r.lost), avg_cycle_days=_float(r.avg_cycle_days))
        for r in rows
    ]
    # Sorted here, not in SQL, so that "(none)" sorts the same under every database collation.
    if dimension == "month":
        return sorted(result, key=lambda row: row.key)
    return sorted(result, key=lambda row: (-row.count, row.key))


# ----- assignment ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Similar:
    """What makes a closed deal similar to the one being assigned (None: not known, not compared)."""

    industry: str | None = None
    region: str | None = None
    company_size: str | None = None
    amount_band: tuple[Decimal, Decimal] | None = None  # [low, high) in the workspace currency


@dataclass(frozen=True)
class RepRecord:
    owner_id: str
    closed: int            # deals closed in the window, any kind
    won: int
    similar_closed: int    # closed deals matching every known attribute
    similar_won: int
    weighted_closed: float  # Σ similarity (0..1) over closed deals
    weighted_won: float
    weighted_cycle_days: float  # Σ similarity × days to win, over won deals


@dataclass(frozen=True)
class RepLoad:
    owner_id: str
    open_count: int
    weighted_open_amount: Decimal
    overdue_follow_ups: int


def rep_records(session: Session, team_id: str, owner_ids: tuple[str, ...], since: datetime, similar: Similar, currency: str) -> list[RepRecord]:
    """Each rep's closed deals in the window, weighted by how similar each is to the deal being assigned."""
    matches = []
    if similar.industry:
        matches.append(case((Opportunity.industry == similar.industry, 1.0), else_=0.0))
    if similar.region:
        matches.append(case((Opportunity.region == similar.region, 1.0), else_=0.0))
    if similar.company_size:
        matches.append(case((Opportunity.company_size == similar.company_size, 1.0), else_=0.0))
    if similar.amount_band is not None:
        low, high = similar.amount_band
        matches.append(case(((Opportunity.currency == currency) & (Opportunity.amount >= low) & (Opportunity.amount < high), 1.0), else_=0.0))
    weight = (sum(matches[1:], matches[0]) / float(len(matches))) if matches else literal(1.0)
    exact = case((weight >= 0.999, 1), else_=0)
    won = case((Opportunity.status == WON, 1), else_=0)
    days = _days_between(session, Opportunity.created_at, Opportunity.closed_at)
    rows = session.execute(
        select(Opportunity.owner_id, func.count(), func.sum(won), func.sum(exact), func.sum(exact * won),
               func.sum(weight), func.sum(weight * won), func.sum(case((Opportunity.status == WON, weight * days), else_=0.0)))
        .where(Opportunity.team_id == team_id, Opportunity.owner_id.in_(owner_ids), Opportunity.status.in_((WON, LOST)),
               Opportunity.closed_at >= _at(since))
        .group_by(Opportunity.owner_id)
    )
    return [RepRecord(owner, int(n), int(w or 0), int(sn or 0), int(sw or 0), float(wc or 0), float(ww or 0), float(wd or 0))
            for owner, n, w, sn, sw, wc, ww, wd in rows]


def rep_loads(session: Session, team_id: str, owner_ids: tuple[str, ...], now: datetime) -> list[RepLoad]:
    """Each rep's open deals, their weighted amount (amount × stage probability) and overdue follow-ups."""
    open_rows = session.execute(
        select(Opportunity.owner_id, func.count(), func.sum(_cents(func.coalesce(Opportunity.amount, 0)) * Stage.probability))
        .join(Stage, Stage.id == Opportunity.stage_id)
        # a deal waiting for an owner is only held by its creator: it is nobody's load
        .where(Opportunity.team_id == team_id, Opportunity.owner_id.in_(owner_ids), Opportunity.status == OPEN, Opportunity.needs_owner.is_(False))
        .group_by(Opportunity.owner_id)
    )
    loads = {owner: (int(n), _weighted_money(w)) for owner, n, w in open_rows}
    overdue = dict(session.execute(
        select(FollowUp.assignee_id, func.count())
        .where(FollowUp.team_id == team_id, FollowUp.assignee_id.in_(owner_ids), FollowUp.status == PENDING, FollowUp.due_at < _at(now))
        .group_by(FollowUp.assignee_id)
    ).all())
    return [RepLoad(owner, loads.get(owner, (0, Decimal(0)))[0], loads.get(owner, (0, Decimal("0.00")))[1], int(overdue.get(owner, 0)))
            for owner in owner_ids]
