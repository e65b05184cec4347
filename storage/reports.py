"""The CSV export's queries: a batch of deals at a time, and their histories."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from storage.models import (
    Opportunity,
    Stage,
    StageChange,
)


class ReportRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def export_batch(self, team_id: str, *, after_id: int, limit: int, status: str | None, stage_id: int | None,
                     owner_ids: tuple[str, ...] | None, industry: str | None, region: str | None, since: datetime | None,
                     pipeline_id: int | None = None) -> list[Opportunity]:
        """Keyset pagination by id, so each batch is one indexed range scan however far the export has got.
        `pipeline_id`: the deals now in that pipeline (their stage's); None: every pipeline."""
        query = select(Opportunity).where(Opportunity.team_id == team_id, Opportunity.id > after_id)
        if pipeline_id is not None:
            query = query.where(Opportunity.stage_id.in_(select(Stage.id).where(Stage.team_id == team_id, Stage.pipeline_id == pipeline_id)))
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
        return list(self.session.scalars(query.order_by(Opportunity.id).limit(limit)))


    def history_of_many(self, team_id: str, opportunity_ids: list[int]) -> dict[int, list[StageChange]]:
        found: dict[int, list[StageChange]] = {}
        if not opportunity_ids:
            return found
        for change in self.session.scalars(select(StageChange).where(StageChange.team_id == team_id, StageChange.opportunity_id.in_(opportunity_ids))
                                      .order_by(StageChange.opportunity_id, StageChange.changed_at, StageChange.id)):
            found.setdefault(change.opportunity_id, []).append(change)
        return found
