"""SQL helpers shared by the figure families: dialect differences, amounts, scopes and stage visits.

They stay plain functions taking the session where they need one; the figures are methods of
`storage.analytics.Figures`.

SQLite and PostgreSQL differ in date arithmetic and in formatting; `_days_between` and
`_month_of` hide that, nothing else does.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
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
    func,
    literal,
    literal_column,
    select,
    text,
    true,
    type_coerce,
)
from sqlmodel import Session

from bot.domain.money import Money, Rates
from bot.domain.values import OPEN
from storage.analytics.values import Scope
from storage.models import Opportunity, Stage, StageChange
from storage.types import UTCDateTime

T = TypeVar("T")

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
    if scope.pipeline_id is not None:
        where.append(Opportunity.stage_id.in_(_pipeline_stage_ids(scope)))
    if by_owner and scope.owner_ids is not None:
        where.append(Opportunity.owner_id.in_(scope.owner_ids))
    for col, value in ((Opportunity.industry, scope.industry), (Opportunity.region, scope.region),
                       (Opportunity.company_size, scope.company_size)):
        if value is not None:
            where.append(col == value)
    return where


def _pipeline_stage_ids(scope: Scope) -> Any:
    """The ids of the scope's pipeline's stages, retired ones included, as a subquery (the stage table is small)."""
    return select(Stage.id).where(Stage.team_id == scope.team_id, Stage.pipeline_id == scope.pipeline_id).scalar_subquery()


def _deal_of_change(change: Any = StageChange) -> Any:
    return and_(Opportunity.id == change.opportunity_id, Opportunity.team_id == change.team_id)


def _summed_cents(cents: Any) -> Decimal:
    """A SUM of `_cents` as the exact amount."""
    return Decimal(int(cents or 0)) / 100


def _summed_cent_percents(cent_percent: Any) -> Decimal:
    """A SUM of `_cents` × probability (percent) as the exact weighted amount (not yet rounded)."""
    return Decimal(int(cent_percent or 0)) / 10000


class _Totals:
    """Exact per-currency sums for each key (a scope, a stage, a group), made into Money with the workspace's
    rates: one conversion and one rounding per figure, in Python's Decimal, the same on both databases."""

    def __init__(self, rates: Rates) -> None:
        self.rates = rates
        self._sums: dict[Any, dict[str, Decimal]] = {}

    def add(self, key: Any, currency: str, amount: Decimal) -> None:
        sums = self._sums.setdefault(key, {})
        sums[currency] = sums.get(currency, Decimal(0)) + amount

    def money(self, key: Any) -> Money:
        return self.rates.total(self._sums.get(key, {}))


def _per_team_and_stage(session: Session, group: _Scopes, figures: dict[tuple[int, int], Any],
                        line: Callable[[Any, Any], T], stages: list[Any] | None = None) -> list[list[T]]:
    """Each team's lines, one per stage: every active stage in position order (`line(stage, None)`
    when the team has no row for it), then the retired stages the team still has a row for.
    `stages`: the scopes' pipeline's `_stages`, when the caller has them already."""
    stages = _stages(session, group.team_id, group.first.pipeline_id) if stages is None else stages
    return [[line(stage, figures.get((grp, stage.id))) for stage in stages if stage.active or (grp, stage.id) in figures]
            for grp in range(len(group))]


def _stages(session: Session, team_id: str, pipeline_id: int | None) -> list[Any]:
    """Every stage of the pipeline (None: of every pipeline): active ones in position order, then retired ones."""
    where = [Stage.team_id == team_id] if pipeline_id is None else [Stage.team_id == team_id, Stage.pipeline_id == pipeline_id]
    return list(session.execute(
        select(Stage.id, Stage.active, Stage.probability, Stage.position)
        .where(*where)
        .order_by(Stage.active.desc(), Stage.position, Stage.id)
    ))


def _active_stages(session: Session, team_id: str, pipeline_id: int | None) -> list[int]:
    return [s.id for s in _stages(session, team_id, pipeline_id) if s.active]


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
        shared = (first.team_id, first.industry, first.region, first.company_size, first.pipeline_id)
        if any((s.team_id, s.industry, s.region, s.company_size, s.pipeline_id) != shared for s in scopes):
            raise ValueError("scopes computed together share the workspace, the pipeline and the industry, region and size filters")
        self.everyone = first.owner_ids is None
        if any(s.owner_ids is None for s in scopes) and len(scopes) > 1:
            raise ValueError("a scope of everyone is computed on its own")
        self.scopes = tuple(scopes)
        self.first = first
        self.team_id = first.team_id
        self.pairs = [] if self.everyone else [(grp, owner) for grp, s in enumerate(scopes) for owner in dict.fromkeys(s.owner_ids or ())]
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
    advanced (the deal later reached a higher-ranked stage or was won), first_visit,
    first_visit_of_owner and furthest_visit (see storage.visits), finished (the visit has ended) and, when `now` is
    given, days (until the next change, or until `now` for a visit still going). A visit is in a
    scope by the deal's current owner, or with `attribute_to_change_owner` by `owner_id`. What a
    visit needs is stored with each change (storage.visits), so this is a join and a filter, not a
    window over the deals' histories.
    """
    where = [StageChange.team_id == scopes.team_id, StageChange.to_status == OPEN]
    if scopes.first.pipeline_id is not None:  # a deal moved from another pipeline brings no visit of it
        where.append(StageChange.to_stage_id.in_(_pipeline_stage_ids(scopes.first)))
    members = scopes.members()
    columns = [
        members.c.grp,
        StageChange.opportunity_id,
        StageChange.to_stage_id.label("stage_id"),
        StageChange.owner_id,
        StageChange.advanced,
        StageChange.first_visit,
        StageChange.first_visit_of_owner,
        StageChange.furthest_visit,
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
        if len(deal_filters) > 1 or created_since is not None:  # more than the workspace: the deal's attributes (and pipeline) count
            query = query.join(Opportunity, _deal_of_change())
            where.extend(deal_filters)
    else:
        query = query.join(Opportunity, _deal_of_change()).join(members, scopes.on(members, Opportunity.owner_id))
        where.extend(scopes.deal_filters())
    if created_since is not None:
        where.append(Opportunity.created_at >= created_since)
    return query.where(*where).subquery("visits")


def _entered_and_advanced(visits: Any) -> list[Any]:
    """Deals that entered the stage, and of those the ones that advanced, counted by their first visit;
    the deals whose furthest visit is here, and of those the ones that advanced (see storage.visits)."""
    return [
        func.count(case((visits.c.first_visit, 1))).label("entered"),
        func.count(case((and_(visits.c.first_visit, visits.c.advanced), 1))).label("advanced"),
        *_furthest_counts(visits),
    ]


def _furthest_counts(visits: Any) -> list[Any]:
    """The deals whose furthest visit is in the stage (furthest), and of those the ones that advanced (furthest_advanced)."""
    return [
        func.count(case((visits.c.furthest_visit, 1))).label("furthest"),
        func.count(case((and_(visits.c.furthest_visit, visits.c.advanced), 1))).label("furthest_advanced"),
    ]


def _days_stats(session: Session, visits: Any) -> Any:
    """A subquery per scope and stage: visits, avg_days and median_days of all visits, the same of
    finished visits (finished_visits, finished_avg_days, finished_median_days), and the deals that
    entered the stage and advanced from it (entered, advanced: counted by first visit).

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
        query = select(
            visits.c.grp,
            visits.c.stage_id,
            visits.c.days,
            visits.c.first_visit,
            visits.c.advanced,
            visits.c.furthest_visit,
            func.row_number().over(partition_by=(visits.c.grp, visits.c.stage_id), order_by=visits.c.days).label("rank"),
            func.count().over(partition_by=(visits.c.grp, visits.c.stage_id)).label("n"),
        )
        if finished_only:
            query = query.where(visits.c.finished)
        ranked = query.subquery()
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
        select(every.c.grp, every.c.stage_id, every.c.entered, every.c.advanced, every.c.furthest, every.c.furthest_advanced, every.c.visits, every.c.avg_days, every.c.median_days,
               func.coalesce(finished.c.visits, 0).label("finished_visits"), finished.c.avg_days.label("finished_avg_days"),
               finished.c.median_days.label("finished_median_days"))
        .outerjoin(finished, and_(finished.c.grp == every.c.grp, finished.c.stage_id == every.c.stage_id))
        .subquery()
    )
