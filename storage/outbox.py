"""The outbox's SQL: recording, claiming and settling deliveries."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from storage.models import CANCELLED, FAILED, PENDING, Delivery, FollowUp, Opportunity
from storage.types import UTCDateTime

# The sending path writes through the table and its columns (not the mapped class): an ORM-enabled
# UPDATE or INSERT costs several times the CPU of a plain one, and each message makes two.
DELIVERY: Any = Delivery.__table__


def _unheld(team_id: str, now: datetime, kinds: tuple[str, ...] | None, skip: tuple[str, ...]) -> list:
    """WHERE clauses for a workspace's pending rows of these kinds (or all but `skip`) that no process holds."""
    where = [Delivery.team_id == team_id, Delivery.status == PENDING,
             or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now)]
    if kinds is not None:
        where.append(Delivery.kind.in_(kinds))
    if skip:
        where.append(Delivery.kind.not_in(skip))
    return where


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def schedule(self, *, team_id: str, kind: str, subject_id: int, dedupe_key: str, due_at: datetime, now: datetime,
                 payload: dict | None = None, status: str = PENDING) -> bool:
        """Record work inside the caller's transaction; the same dedupe_key is recorded once (False: it was already)."""
        return self.schedule_many([dict(team_id=team_id, kind=kind, subject_id=subject_id, dedupe_key=dedupe_key, due_at=due_at,
                                        payload=payload, status=status)], now=now) == 1

    def schedule_many(self, rows: list[dict], *, now: datetime) -> int:
        """`schedule` for many rows (each a dict of its keyword arguments) in one statement.

        ON CONFLICT DO NOTHING on (team_id, dedupe_key): a key already recorded, by this transaction or
        a concurrent one, is skipped rather than looked up first (one statement on the sending path).
        """
        if not rows:
            return 0
        values = [dict(team_id=row["team_id"], kind=row["kind"], subject_id=row["subject_id"], dedupe_key=row["dedupe_key"],
                       payload=row.get("payload") or {}, due_at=row["due_at"], scheduled_for=row["due_at"], created_at=now,
                       status=row.get("status") or PENDING, attempts=0) for row in rows]
        dialect_insert = postgresql_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = dialect_insert(DELIVERY).on_conflict_do_nothing(index_elements=["team_id", "dedupe_key"])
        if len(values) == 1:  # one row: RETURNING says whether it was recorded (psycopg's rowcount here is -1)
            return 0 if self.session.execute(statement.values(values[0]).returning(DELIVERY.c.id)).first() is None else 1
        self.session.execute(statement, values)
        return len(values)  # an upper bound: executemany's rowcount isn't reliable on every driver

    def unclaimed_pending_subjects(self, team_id: str, kind: str, subject_ids: list[int], now: datetime) -> set[int]:
        """Which of these subjects already have a pending row of `kind` that no process holds (so is sent later,
        with whatever is current then): how refreshes coalesce."""
        if not subject_ids:
            return set()
        return set(self.session.scalars(select(Delivery.subject_id).where(
            *_unheld(team_id, now, (kind,), ()), Delivery.subject_id.in_(subject_ids))))

    def is_pending(self, team_id: str, kind: str, subject_id: int) -> bool:
        """Whether a row of `kind` about `subject_id` is still to be sent (held by a process or not)."""
        return self.session.scalar(select(Delivery.id).where(
            Delivery.team_id == team_id, Delivery.kind == kind, Delivery.subject_id == subject_id, Delivery.status == PENDING).limit(1)) is not None

    def cancel_pending(self, *, team_id: str, kinds: tuple[str, ...], subject_id: int) -> None:
        self.session.execute(update(DELIVERY).where(
            DELIVERY.c.team_id == team_id, DELIVERY.c.kind.in_(kinds), DELIVERY.c.subject_id == subject_id, DELIVERY.c.status == PENDING,
        ).values(status=CANCELLED))

    def claim(self, team_id: str, now: datetime, *, owner: str, until: datetime, limit: int,
              kinds: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()) -> list[Delivery]:
        """Take a lease on a batch of due rows (skipping rows another process holds) and return them.

        The lease's UPDATE also marks each row in doubt from `now`, unless it already is: until the
        outcome is recorded, nobody knows what this attempt posted. The rows returned carry the values
        read before it, so `in_doubt_since` says whether an earlier attempt's outcome is unknown.
        """
        query = (
            select(Delivery)
            .where(*_unheld(team_id, now, kinds, skip), Delivery.due_at <= now)
            .order_by(Delivery.due_at, Delivery.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(self.session.scalars(query))
        if rows:
            self.session.execute(update(DELIVERY).where(DELIVERY.c.team_id == team_id, DELIVERY.c.id.in_([r.id for r in rows]))
                                 .values(claimed_by=owner, claimed_until=until,
                                         in_doubt_since=func.coalesce(DELIVERY.c.in_doubt_since, literal(now, UTCDateTime))))
        return rows

    def settle(self, delivery: Delivery, owner: str, values: dict) -> None:
        """Record a claimed row's outcome and release the claim (only while this process still holds it)."""
        self.session.execute(update(DELIVERY).where(
            DELIVERY.c.team_id == delivery.team_id, DELIVERY.c.id == delivery.id, DELIVERY.c.claimed_by == owner).values(**values))

    def next_due(self, team_id: str, now: datetime, *, kinds: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()) -> datetime | None:
        due = self.session.scalar(select(Delivery.due_at).where(*_unheld(team_id, now, kinds, skip))
                                  .order_by(Delivery.due_at).limit(1))
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=timezone.utc)
        return due

    def backlog(self, now: datetime) -> tuple[dict[tuple[str, str], int], float]:
        """{(kind, state): rows} of pending and failed deliveries, and the age in seconds of the oldest pending row
        that is due (0 when none is), in one query: what this instance's /metrics and /healthz report, so over every
        workspace of its database (an instance serves one)."""
        rows = self.session.execute(select(Delivery.kind, Delivery.status, func.count(), func.min(Delivery.due_at))
                                    .where(Delivery.status.in_((PENDING, FAILED))).group_by(Delivery.kind, Delivery.status)).all()
        counts: dict[tuple[str, str], int] = {}
        oldest = 0.0
        for kind, status, count, due in rows:
            counts[(kind, status)] = count
            if status == PENDING and due is not None:
                if due.tzinfo is None:
                    due = due.replace(tzinfo=timezone.utc)
                oldest = max(oldest, (now - due).total_seconds())
        return counts, oldest

    def wake_waiting(self, team_id: str, kinds: tuple[str, ...], error_prefix: str, now: datetime) -> None:
        """Pending rows of these kinds that wait, with a last error starting so, are due now."""
        self.session.execute(update(Delivery).where(
            Delivery.team_id == team_id, Delivery.kind.in_(kinds), Delivery.status == PENDING, Delivery.due_at > now,
            Delivery.last_error.startswith(error_prefix),
        ).values(due_at=now))

    def failed_count(self, team_id: str) -> int:
        return self.session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.team_id == team_id, Delivery.status == FAILED)) or 0

    def open_deliveries(self, team_id: str, *, limit: int, follow_up_kinds: tuple[str, ...]) -> list[tuple[Delivery, FollowUp | None, Opportunity | None]]:
        """Pending and failed deliveries, soonest first, with the follow-up (for `follow_up_kinds`) or opportunity they are about."""
        rows = self.session.execute(
            select(Delivery, FollowUp, Opportunity)
            .outerjoin(FollowUp, (FollowUp.id == Delivery.subject_id) & Delivery.kind.in_(follow_up_kinds) & (FollowUp.team_id == team_id))
            .outerjoin(Opportunity, (Opportunity.team_id == team_id) & (
                ((Opportunity.id == FollowUp.opportunity_id) & Delivery.kind.in_(follow_up_kinds))
                | ((Opportunity.id == Delivery.subject_id) & Delivery.kind.not_in(follow_up_kinds))))
            .where(Delivery.team_id == team_id, Delivery.status.in_((PENDING, FAILED)))
            .order_by(Delivery.status.desc(), Delivery.due_at, Delivery.id).limit(limit)
        )
        return [(d, f, o) for d, f, o in rows]

    def release(self, team_id: str, owner: str, now: datetime) -> int:
        """Let go of the rows `owner` holds, due `now`; in_doubt_since is left as it is. Returns how many."""
        # the session's connection, whose execute() returns a CursorResult (with its rowcount)
        return self.session.connection().execute(update(DELIVERY).where(DELIVERY.c.team_id == team_id, DELIVERY.c.claimed_by == owner)
                                                 .values(claimed_by=None, claimed_until=None, due_at=now)).rowcount
