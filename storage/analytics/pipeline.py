"""Open pipeline: open deals per stage, and open deals expected to close in a date range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    and_,
    case,
    func,
    select,
)
from sqlmodel import Session

from bot.domain.values import OPEN
from storage.analytics._sql import (
    _cents,
    _in_currency,
    _money,
    _other_currency,
    _per_team_and_stage,
    _Scopes,
    _weighted_money,
)
from storage.analytics.values import (
    ExpectedCloses,
    Scope,
    StagePipeline,
)
from storage.models import Opportunity, Stage


class PipelineFigures:
    """Open deals per stage and expected closes."""

    session: Session

    # ----- 1. pipeline by stage ------------------------------------------------------------------

    def pipeline_by_stage(self, scope: Scope, currency: str) -> list[StagePipeline]:
        """Open deals per stage: count, amount and weighted amount in `currency`.

        Every active stage appears, in position order, even with no deals; a retired stage appears
        after them only while open deals still sit in it.
        """
        return self.pipeline_by_stage_each([scope], currency)[0]

    def pipeline_by_stage_each(self, scopes: Sequence[Scope], currency: str) -> list[list[StagePipeline]]:
        group = _Scopes(self.session, scopes)
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

        return _per_team_and_stage(self.session, group, figures, line)

    # ----- 9. expected closes --------------------------------------------------------------------

    def expected_closes(self, scope: Scope, currency: str, start: date, end: date) -> ExpectedCloses:
        """Open deals expected to close in [start, end): count, amount and weighted amount in `currency`."""
        return self.expected_closes_each([scope], currency, start, end)[0]

    def expected_closes_each(self, scopes: Sequence[Scope], currency: str, start: date, end: date) -> list[ExpectedCloses]:
        group = _Scopes(self.session, scopes)
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
