"""Opportunity, stage history and posted card queries. Each takes the workspace's team_id; none commits."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, func, select, update
from sqlmodel import Session

from storage.models import (
    OPEN,
    Opportunity,
    PostedCard,
    Stage,
    StageChange,
    Workspace,
)


class DealRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

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


    def opportunity_by_id(self, team_id: str, opp_id: int, *, for_update: bool = False) -> Opportunity | None:
        query = select(Opportunity).where(Opportunity.team_id == team_id, Opportunity.id == opp_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalars(query).first()


    def open_opportunities(self, team_id: str, owner_id: str, *, stage_id: int | None, offset: int, limit: int) -> tuple[list[Opportunity], int]:
        """An owner's open deals, by stage order, oldest in stage first; and how many there are.

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
            select(Opportunity).join(Stage, Stage.id == Opportunity.stage_id).where(*where)
            .order_by(Stage.position, Opportunity.stage_entered_at, Opportunity.number)
            .offset(offset).limit(limit)
        )
        return list(rows), total


    def open_pipeline_by_stage(self, team_id: str, owner_id: str) -> list[tuple[int, str, int, Decimal | None]]:
        """(stage_id, currency, count, amount) of an owner's open deals."""
        rows = self.session.execute(
            select(Opportunity.stage_id, Opportunity.currency, func.count(), func.sum(Opportunity.amount))
            .where(Opportunity.team_id == team_id, Opportunity.owner_id == owner_id, Opportunity.status == OPEN)
            .group_by(Opportunity.stage_id, Opportunity.currency)
        )
        return [(stage_id, currency, count, amount) for stage_id, currency, count, amount in rows]


    def history(self, team_id: str, opportunity_id: int, limit: int = 200) -> list[StageChange]:
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
        return {o.id: o for o in self.session.scalars(select(Opportunity).where(Opportunity.team_id == team_id, Opportunity.id.in_(ids)))}  # type: ignore[misc]


    def first_posted_card(self, team_id: str, opportunity_id: int) -> PostedCard | None:
        return self.session.scalars(
            select(PostedCard).where(PostedCard.team_id == team_id, PostedCard.opportunity_id == opportunity_id).order_by(PostedCard.id).limit(1)
        ).first()
