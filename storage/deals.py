"""Opportunities, their stage history and their posted cards: queries and writes, as domain values where a
service reads them. Each takes the workspace's team_id; none commits (the unit of work does)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import Row, delete, func, select, update
from sqlmodel import Session

from bot.domain.values import (
    LOST,
    OPEN,
    WON,
    Card,
    FollowUpView,
    HistoryEntry,
    OpportunityDraft,
    OpportunityView,
)
from storage import visits
from storage.models import (
    FollowUp,
    Opportunity,
    OwnerChange,
    Pipeline,
    PostedCard,
    Stage,
    StageChange,
    Workspace,
)

# The latest stage changes a card's history shows.
HISTORY_SHOWN = 200


def to_view(opp: Opportunity | Row) -> OpportunityView:
    """From the mapped object, or from a plain row of the table's columns (the reminder's read)."""
    assert opp.id is not None
    return OpportunityView(**{name: getattr(opp, name) for name in OpportunityView.__dataclass_fields__})


def follow_up_view(row: FollowUp | Row) -> FollowUpView:
    assert row.id is not None
    return FollowUpView(row.id, row.team_id, row.opportunity_id, row.text, row.due_at, row.assignee_id, row.status,
                        row.created_by, row.done_by, row.done_at)


def history_entry(row: StageChange) -> HistoryEntry:
    return HistoryEntry(row.from_stage_id, row.from_status, row.to_stage_id, row.to_status, row.changed_by, row.changed_at)


class DealRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # ----- writes -----------------------------------------------------------------------------

    def add(self, team_id: str, draft: OpportunityDraft, created_by: str, now: datetime) -> tuple[Opportunity, StageChange]:
        """A new opportunity (numbered OPP-n in its workspace) and its first stage change."""
        number = self.next_opportunity_number(team_id)
        opp = Opportunity(team_id=team_id, number=number, status=OPEN, created_by=created_by, created_at=now, updated_at=now,
                          stage_entered_at=now, **asdict(draft))
        self.session.add(opp)
        self.session.flush()
        assert opp.id is not None
        change = StageChange(team_id=team_id, opportunity_id=opp.id, from_stage_id=None, from_status=None, to_stage_id=draft.stage_id,
                             to_status=OPEN, changed_by=created_by, owner_id=draft.owner_id, changed_at=now)
        self.session.add(change)
        self.session.flush()
        visits.derive(self.session, team_id, opportunity_id=opp.id)
        return opp, change

    def change_stage(self, opp: Opportunity, *, to_stage_id: int, to_status: str, changed_by: str, now: datetime,
                     lost_reason: str | None = None) -> StageChange:
        """Record a stage change (kept forever) and move the deal; its stage visits are derived again."""
        assert opp.id is not None
        change = StageChange(team_id=opp.team_id, opportunity_id=opp.id, from_stage_id=opp.stage_id, from_status=opp.status,
                             to_stage_id=to_stage_id, to_status=to_status, changed_by=changed_by, owner_id=opp.owner_id, changed_at=now,
                             lost_reason=(lost_reason or None) if to_status == LOST else None)
        self.session.add(change)
        self.session.flush()
        visits.derive(self.session, opp.team_id, opportunity_id=opp.id)
        if to_stage_id != opp.stage_id or opp.status != to_status:
            opp.stage_entered_at = now
        opp.stage_id = to_stage_id
        opp.status = to_status
        opp.lost_reason = lost_reason if to_status == LOST else None
        opp.closed_at = now if to_status in (WON, LOST) else None
        opp.updated_at = now
        self.session.add(opp)
        return change

    def set_lost_reason(self, opp: Opportunity, reason: str, now: datetime) -> None:
        """A new reason for the deal's current loss: the card's and that close's in the history (no new close)."""
        assert opp.id is not None
        latest = (select(StageChange.id)
                  .where(StageChange.team_id == opp.team_id, StageChange.opportunity_id == opp.id, StageChange.to_status == LOST)
                  .order_by(StageChange.changed_at.desc(), StageChange.id.desc())
                  .limit(1)
                  .scalar_subquery())
        self.session.execute(update(StageChange).where(StageChange.id == latest).values(lost_reason=reason))
        opp.lost_reason, opp.updated_at = reason, now
        self.session.add(opp)

    def set_owner(self, opp: Opportunity, owner_id: str, *, changed_by: str, how: str, now: datetime) -> None:
        """Hand the deal to `owner_id`, recorded with who and how ("assigned", "automatic")."""
        assert opp.id is not None
        self.session.add(OwnerChange(team_id=opp.team_id, opportunity_id=opp.id, from_owner=opp.owner_id, to_owner=owner_id,
                                     changed_by=changed_by, how=how, changed_at=now))
        opp.owner_id, opp.needs_owner, opp.updated_at = owner_id, False, now
        self.session.add(opp)

    def flag_needs_owner(self, opp: Opportunity) -> None:
        opp.needs_owner = True
        self.session.add(opp)

    def remember_card(self, team_id: str, opportunity_id: int, channel_id: str, ts: str, now: datetime) -> None:
        self.session.add(PostedCard(team_id=team_id, opportunity_id=opportunity_id, channel_id=channel_id, ts=ts, posted_at=now))

    # ----- reads as values --------------------------------------------------------------------

    def view(self, team_id: str, opp_id: int) -> OpportunityView | None:
        row = self.opportunity_by_id(team_id, opp_id)
        return to_view(row) if row is not None else None

    def card(self, opp: OpportunityView, *, with_history: bool = False) -> Card:
        """What a card shows besides the deal: its next follow-up, who took its alerts, and its history."""
        follow_up = self.next_follow_ups(opp.team_id, [opp.id]).get(opp.id)
        from storage.alerts import AlertRepository

        collaborators = tuple((c.user_id, c.stage_id) for c in AlertRepository(self.session).active_collaborators(opp.team_id, opp.id))
        history: tuple[HistoryEntry, ...] = ()
        omitted = 0
        if with_history:
            history = tuple(history_entry(r) for r in self.history(opp.team_id, opp.id, HISTORY_SHOWN))
            omitted = max(0, self.history_count(opp.team_id, opp.id) - len(history)) if len(history) == HISTORY_SHOWN else 0
        return Card(opp, follow_up_view(follow_up) if follow_up is not None else None, collaborators, history, omitted)

    def next_follow_ups(self, team_id: str, opportunity_ids: list[int]) -> dict[int, FollowUp]:
        from storage.followups import FollowUpRepository

        return FollowUpRepository(self.session).next_follow_ups(team_id, opportunity_ids)

    def posted_card_ids(self, team_id: str, opportunity_id: int) -> list[int]:
        return [c.id for c in self.posted_cards(team_id, opportunity_id) if c.id is not None]

    def posted_card(self, team_id: str, card_id: int) -> PostedCard | None:
        return self.session.scalars(select(PostedCard).where(PostedCard.team_id == team_id, PostedCard.id == card_id)).first()

    def next_opportunity_number(self, team_id: str) -> int:
        """Numbers OPP-1, OPP-2, … per workspace; the UPDATE serialises concurrent creators."""
        return self.session.execute(
            update(Workspace).where(Workspace.team_id == team_id)
            .values(last_opp_number=Workspace.last_opp_number + 1)
            .returning(Workspace.last_opp_number)
        ).scalar_one()


    def opportunity_by_number(self, team_id: str, number: int, *, for_update: bool = False) -> Opportunity | None:
        query = select(Opportunity).where(Opportunity.team_id == team_id, Opportunity.number == number)
        if for_update:
            query = query.with_for_update()
        return self.session.scalars(query).first()


    def locked(self, team_id: str, *, opp_id: int | None = None, number: int | None = None) -> Opportunity | None:
        """The deal a change is about, by id or by number, locked until the transaction ends."""
        if opp_id is not None:
            return self.opportunity_by_id(team_id, opp_id, for_update=True)
        return self.opportunity_by_number(team_id, number or 0, for_update=True)

    def opportunity_by_id(self, team_id: str, opp_id: int, *, for_update: bool = False) -> Opportunity | None:
        query = select(Opportunity).where(Opportunity.team_id == team_id, Opportunity.id == opp_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalars(query).first()


    def open_opportunities(self, team_id: str, owner_id: str, *, stage_id: int | None, offset: int, limit: int) -> tuple[list[Opportunity], int]:
        """An owner's open deals, by pipeline then stage order (retired ones last, as `Pipelines` orders them), oldest in
        stage first; and how many there are.

        Both statements read the owner's open deals on ix_opportunity_owner_open; the page sorts them
        (a top-N sort: a few ms for a rep with thousands of open deals).
        """
        where = [Opportunity.team_id == team_id, Opportunity.owner_id == owner_id, Opportunity.status == OPEN]
        if stage_id is not None:
            where.append(Opportunity.stage_id == stage_id)
        total = self.session.execute(select(func.count()).select_from(Opportunity).where(*where)).scalar_one()
        if not total or offset >= total:
            return [], total
        rows = self.session.scalars(
            select(Opportunity).join(Stage, Stage.id == Opportunity.stage_id).join(Pipeline, Pipeline.id == Stage.pipeline_id).where(*where)
            .order_by(Pipeline.active.desc(), Pipeline.position, Stage.active.desc(), Stage.position, Opportunity.stage_entered_at,
                      Opportunity.number)
            .offset(offset).limit(limit)
        )
        return list(rows), total


    def history(self, team_id: str, opportunity_id: int, limit: int = HISTORY_SHOWN) -> list[StageChange]:
        """The latest `limit` stage changes, oldest first."""
        rows = list(self.session.scalars(
            select(StageChange).where(StageChange.team_id == team_id, StageChange.opportunity_id == opportunity_id)
            .order_by(StageChange.changed_at.desc(), StageChange.id.desc()).limit(limit)
        ))
        return rows[::-1]


    def history_count(self, team_id: str, opportunity_id: int) -> int:
        return self.session.execute(select(func.count()).select_from(StageChange).where(
            StageChange.team_id == team_id, StageChange.opportunity_id == opportunity_id)).scalar_one()


    def posted_cards(self, team_id: str, opportunity_id: int) -> list[PostedCard]:
        return list(self.session.scalars(
            select(PostedCard).where(PostedCard.team_id == team_id, PostedCard.opportunity_id == opportunity_id).order_by(PostedCard.id)
        ))


    def forget_posted_card(self, team_id: str, card_id: int) -> None:
        self.session.execute(delete(PostedCard).where(PostedCard.team_id == team_id, PostedCard.id == card_id))


    def opportunities_by_id(self, team_id: str, ids: list[int]) -> dict[int, Opportunity]:
        if not ids:
            return {}
        return {o.id or 0: o for o in self.session.scalars(select(Opportunity).where(Opportunity.team_id == team_id, Opportunity.id.in_(ids)))}


    def first_posted_card(self, team_id: str, opportunity_id: int) -> PostedCard | None:
        return self.session.scalars(
            select(PostedCard).where(PostedCard.team_id == team_id, PostedCard.opportunity_id == opportunity_id).order_by(PostedCard.id).limit(1)
        ).first()
