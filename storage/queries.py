"""Query functions. Each takes a session and the workspace's team_id; none commits."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import Row, delete, func, select, update
from sqlmodel import Session

from storage.models import (
    OPEN,
    PENDING,
    Collaborator,
    Delivery,
    FollowUp,
    Member,
    Opportunity,
    OwnerChange,
    PostedCard,
    SalesTeam,
    SalesTeamMember,
    Stage,
    StageChange,
    Workspace,
)


def get_workspace(session: Session, team_id: str) -> Workspace | None:
    return session.get(Workspace, team_id)


def all_team_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Workspace.team_id)))


def stages(session: Session, team_id: str) -> list[Stage]:
    return list(session.scalars(select(Stage).where(Stage.team_id == team_id).order_by(Stage.active.desc(), Stage.position)))


def next_opportunity_number(session: Session, team_id: str) -> int:
    """Numbers OPP-1, OPP-2, … per workspace; the UPDATE serialises concurrent creators."""
    return session.execute(
        update(Workspace).where(Workspace.team_id == team_id)
        .values(last_opp_number=Workspace.last_opp_number + 1)
        .returning(Workspace.last_opp_number)
    ).scalar_one()


def opportunity_by_number(session: Session, team_id: str, number: int, *, for_update: bool = False) -> Opportunity | None:
    query = select(Opportunity).where(Opportunity.team_id == team_id, Opportunity.number == number)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).first()


def opportunity_by_id(session: Session, team_id: str, opp_id: int, *, for_update: bool = False) -> Opportunity | None:
    query = select(Opportunity).where(Opportunity.team_id == team_id, Opportunity.id == opp_id)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).first()


def open_opportunities(session: Session, team_id: str, owner_id: str, *, stage_id: int | None, offset: int, limit: int) -> tuple[list[Opportunity], int]:
    """An owner's open deals, by stage order, oldest in stage first; and how many there are.

    Both statements read the owner's open deals on ix_opportunity_owner_open; the page sorts them
    (a top-N sort: a few ms for a rep with thousands of open deals).
    """
    where = [Opportunity.team_id == team_id, Opportunity.owner_id == owner_id, Opportunity.status == OPEN]
    if stage_id is not None:
        where.append(Opportunity.stage_id == stage_id)
    total = session.execute(select(func.count()).select_from(Opportunity).where(*where)).scalar_one()
    if not total or offset >= total:
        return [], total
    rows = session.scalars(
        select(Opportunity).join(Stage, Stage.id == Opportunity.stage_id).where(*where)
        .order_by(Stage.position, Opportunity.stage_entered_at, Opportunity.number)
        .offset(offset).limit(limit)
    )
    return list(rows), total


def open_pipeline_by_stage(session: Session, team_id: str, owner_id: str) -> list[tuple[int, str, int, Decimal | None]]:
    """(stage_id, currency, count, amount) of an owner's open deals."""
    rows = session.execute(
        select(Opportunity.stage_id, Opportunity.currency, func.count(), func.sum(Opportunity.amount))
        .where(Opportunity.team_id == team_id, Opportunity.owner_id == owner_id, Opportunity.status == OPEN)
        .group_by(Opportunity.stage_id, Opportunity.currency)
    )
    return [(stage_id, currency, count, amount) for stage_id, currency, count, amount in rows]


def history(session: Session, team_id: str, opportunity_id: int, limit: int = 200) -> list[StageChange]:
    """The latest `limit` stage changes, oldest first."""
    rows = list(session.scalars(
        select(StageChange).where(StageChange.team_id == team_id, StageChange.opportunity_id == opportunity_id)
        .order_by(StageChange.changed_at.desc(), StageChange.id.desc()).limit(limit)
    ))
    return rows[::-1]


def history_count(session: Session, team_id: str, opportunity_id: int) -> int:
    return session.execute(select(func.count()).select_from(StageChange).where(
        StageChange.team_id == team_id, StageChange.opportunity_id == opportunity_id)).scalar_one()


def posted_cards(session: Session, team_id: str, opportunity_id: int) -> list[PostedCard]:
    return list(session.scalars(
        select(PostedCard).where(PostedCard.team_id == team_id, PostedCard.opportunity_id == opportunity_id).order_by(PostedCard.id)
    ))


def forget_posted_card(session: Session, team_id: str, card_id: int) -> None:
    session.execute(delete(PostedCard).where(PostedCard.team_id == team_id, PostedCard.id == card_id))


def member(session: Session, team_id: str, user_id: str) -> Member | None:
    return session.get(Member, (team_id, user_id))


def managed_user_ids(session: Session, team_id: str, manager_id: str) -> set[str]:
    rows = session.scalars(
        select(SalesTeamMember.user_id).join(SalesTeam, SalesTeam.id == SalesTeamMember.sales_team_id)
        .where(SalesTeam.team_id == team_id, SalesTeamMember.team_id == team_id, SalesTeam.manager_id == manager_id)
    )
    return set(rows)


def sales_teams(session: Session, team_id: str) -> list[SalesTeam]:
    return list(session.scalars(select(SalesTeam).where(SalesTeam.team_id == team_id).order_by(SalesTeam.name)))


def replace_team_members(session: Session, team_id: str, sales_team_id: int, user_ids: list[str]) -> None:
    session.execute(delete(SalesTeamMember).where(SalesTeamMember.team_id == team_id, SalesTeamMember.sales_team_id == sales_team_id))
    for user_id in user_ids:
        session.add(SalesTeamMember(team_id=team_id, sales_team_id=sales_team_id, user_id=user_id))


def next_follow_ups(session: Session, team_id: str, opportunity_ids: list[int]) -> dict[int, FollowUp]:
    """The earliest pending follow-up of each given opportunity, in one query."""
    if not opportunity_ids:
        return {}
    earliest = (
        select(FollowUp.opportunity_id, func.min(FollowUp.due_at).label("due_at"))
        .where(FollowUp.team_id == team_id, FollowUp.opportunity_id.in_(opportunity_ids), FollowUp.status == PENDING)
        .group_by(FollowUp.opportunity_id)
        .subquery()
    )
    rows = session.scalars(
        select(FollowUp).join(earliest, (FollowUp.opportunity_id == earliest.c.opportunity_id) & (FollowUp.due_at == earliest.c.due_at))
        # the IN list again: without it a planner may read every pending follow-up of the workspace
        .where(FollowUp.team_id == team_id, FollowUp.opportunity_id.in_(opportunity_ids), FollowUp.status == PENDING)
        .order_by(FollowUp.id)
    )
    found: dict[int, FollowUp] = {}
    for row in rows:
        found.setdefault(row.opportunity_id, row)
    return found


def follow_up_and_opportunity(session: Session, team_id: str, follow_up_id: int) -> tuple[Row, Row] | None:
    """A follow-up and its deal as plain rows (the columns by name), for sending a reminder: two
    primary-key reads without the ORM, whose loading was a third of the CPU a reminder cost."""
    follow_ups, opportunities = FollowUp.__table__, Opportunity.__table__
    follow_up_row = session.execute(select(follow_ups).where(follow_ups.c.team_id == team_id, follow_ups.c.id == follow_up_id)).first()
    if follow_up_row is None:
        return None
    opportunity_row = session.execute(select(opportunities).where(
        opportunities.c.team_id == team_id, opportunities.c.id == follow_up_row.opportunity_id)).first()
    return (follow_up_row, opportunity_row) if opportunity_row is not None else None


def follow_up(session: Session, team_id: str, follow_up_id: int, *, for_update: bool = False) -> FollowUp | None:
    query = select(FollowUp).where(FollowUp.team_id == team_id, FollowUp.id == follow_up_id)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).first()


def pending_follow_ups_of(session: Session, team_id: str, assignee_id: str, *, due_before: datetime, limit: int) -> list[FollowUp]:
    return list(session.scalars(
        select(FollowUp).where(FollowUp.team_id == team_id, FollowUp.assignee_id == assignee_id, FollowUp.status == PENDING,
                               FollowUp.due_at < due_before)
        .order_by(FollowUp.due_at, FollowUp.id).limit(limit)
    ))


def opportunities_by_id(session: Session, team_id: str, ids: list[int]) -> dict[int, Opportunity]:
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(Opportunity).where(Opportunity.team_id == team_id, Opportunity.id.in_(ids)))}  # type: ignore[misc]


def open_deliveries(session: Session, team_id: str, *, limit: int) -> list[tuple[Delivery, FollowUp | None, Opportunity | None]]:
    """Pending and failed deliveries, soonest first, with the follow-up and opportunity they are about."""
    follow_up_kinds = ("reminder", "nudge")
    rows = session.execute(
        select(Delivery, FollowUp, Opportunity)
        .outerjoin(FollowUp, (FollowUp.id == Delivery.subject_id) & Delivery.kind.in_(follow_up_kinds) & (FollowUp.team_id == team_id))
        .outerjoin(Opportunity, (Opportunity.team_id == team_id) & (
            ((Opportunity.id == FollowUp.opportunity_id) & Delivery.kind.in_(follow_up_kinds))
            | ((Opportunity.id == Delivery.subject_id) & Delivery.kind.not_in(follow_up_kinds))))
        .where(Delivery.team_id == team_id, Delivery.status.in_(("pending", "failed")))
        .order_by(Delivery.status.desc(), Delivery.due_at, Delivery.id).limit(limit)
    )
    return [(d, f, o) for d, f, o in rows]


def active_collaborators(session: Session, team_id: str, opportunity_id: int) -> list[Collaborator]:
    return list(session.scalars(
        select(Collaborator).where(Collaborator.team_id == team_id, Collaborator.opportunity_id == opportunity_id, Collaborator.released_at.is_(None))
        .order_by(Collaborator.taken_at, Collaborator.id)
    ))


def active_collaborator_of_change(session: Session, team_id: str, stage_change_id: int) -> Collaborator | None:
    return session.scalars(
        select(Collaborator).where(Collaborator.team_id == team_id, Collaborator.stage_change_id == stage_change_id, Collaborator.released_at.is_(None))
    ).first()


def stage_change(session: Session, team_id: str, change_id: int) -> StageChange | None:
    return session.scalars(select(StageChange).where(StageChange.team_id == team_id, StageChange.id == change_id)).first()


def first_posted_card(session: Session, team_id: str, opportunity_id: int) -> PostedCard | None:
    return session.scalars(
        select(PostedCard).where(PostedCard.team_id == team_id, PostedCard.opportunity_id == opportunity_id).order_by(PostedCard.id).limit(1)
    ).first()


def remove_team_member(session: Session, team_id: str, sales_team_id: int, user_id: str) -> None:
    session.execute(delete(SalesTeamMember).where(
        SalesTeamMember.team_id == team_id, SalesTeamMember.sales_team_id == sales_team_id, SalesTeamMember.user_id == user_id))


def export_batch(session: Session, team_id: str, *, after_id: int, limit: int, status: str | None, stage_id: int | None,
                 owner_ids: tuple[str, ...] | None, industry: str | None, region: str | None, since: datetime | None) -> list[Opportunity]:
    """Keyset pagination by id, so each batch is one indexed range scan however far the export has got."""
    query = select(Opportunity).where(Opportunity.team_id == team_id, Opportunity.id > after_id)
    if status:
        query = query.where(Opportunity.status == status)
    if stage_id is not None:
        query = query.where(Opportunity.stage_id == stage_id)
    if owner_ids is not None:
        query = query.where(Opportunity.owner_id.in_(owner_ids))
    if industry:
        query = query.where(Opportunity.industry == industry)
    if region:
        query = query.where(Opportunity.region == region)
    if since is not None:
        query = query.where(Opportunity.created_at >= since)
    return list(session.scalars(query.order_by(Opportunity.id).limit(limit)))


def history_of_many(session: Session, team_id: str, opportunity_ids: list[int]) -> dict[int, list[StageChange]]:
    found: dict[int, list[StageChange]] = {}
    if not opportunity_ids:
        return found
    for change in session.scalars(select(StageChange).where(StageChange.team_id == team_id, StageChange.opportunity_id.in_(opportunity_ids))
                                  .order_by(StageChange.opportunity_id, StageChange.changed_at, StageChange.id)):
        found.setdefault(change.opportunity_id, []).append(change)
    return found


def last_digest_periods(session: Session, team_id: str) -> dict[int, datetime]:
    """Each sales team's latest scheduled digest period, read from the dedupe keys, in one query.

    Keys are "digest:<team>:scheduled:<epoch seconds>", ten digits until the year 2286, so the
    greatest key is the latest period.
    """
    rows = session.execute(
        select(Delivery.subject_id, func.max(Delivery.dedupe_key))
        .where(Delivery.team_id == team_id, Delivery.kind == "digest", Delivery.dedupe_key.like("digest:%:scheduled:%"))
        .group_by(Delivery.subject_id)
    )
    return {subject: datetime.fromtimestamp(int(key.rsplit(":", 1)[1]), tz=timezone.utc) for subject, key in rows}

def away_until(session: Session, team_id: str, user_ids: tuple[str, ...]) -> dict[str, datetime]:
    return {user: until for user, until in session.execute(
        select(Member.user_id, Member.away_until).where(Member.team_id == team_id, Member.user_id.in_(user_ids), Member.away_until.is_not(None)))}


def last_assigned(session: Session, team_id: str, user_ids: tuple[str, ...]) -> dict[str, datetime]:
    return dict(session.execute(
        select(OwnerChange.to_owner, func.max(OwnerChange.changed_at)).where(OwnerChange.team_id == team_id, OwnerChange.to_owner.in_(user_ids))
        .group_by(OwnerChange.to_owner)).all())


def members_by_sales_team(session: Session, team_id: str) -> dict[int, list[str]]:
    """Every sales team's reps, in one query."""
    found: dict[int, list[str]] = {}
    for sales_team_id, user_id in session.execute(
            select(SalesTeamMember.sales_team_id, SalesTeamMember.user_id).where(SalesTeamMember.team_id == team_id)):
        found.setdefault(sales_team_id, []).append(user_id)
    return found
