"""Open pipeline: open deals per stage, and open deals expected to close in a date range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    and_,
    case,
    func,
    or_,
    select,
)
from sqlmodel import Session

from bot.domain.money import Rates
from bot.domain.values import OPEN
from storage.analytics._sql import (
    _at,
    _cents,
    _per_team_and_stage,
    _Scopes,
    _summed_cent_percents,
    _summed_cents,
    _Totals,
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

    def pipeline_by_stage(self, scope: Scope, rates: Rates) -> list[StagePipeline]:
        """Open deals per stage: count, amount and weighted amount (Σ amount × the stage's probability),
        converted into the workspace currency with `rates` (a currency without a rate: its own subtotal).

        Every active stage appears, in position order, even with no deals; a retired stage appears
        after them only while open deals still sit in it.
        """
        return self.pipeline_by_stage_each([scope], rates)[0]

    def pipeline_by_stage_each(self, scopes: Sequence[Scope], rates: Rates) -> list[list[StagePipeline]]:
        group = _Scopes(self.session, scopes)
        members = group.members()
        counts: dict[tuple[int, int], int] = {}
        cents: dict[tuple[int, int], dict[str, int]] = {}
        for r in group.execute(
            select(
                members.c.grp,
                Opportunity.stage_id,
                Opportunity.currency,
                func.count().label("count"),
                func.sum(_cents(Opportunity.amount)).label("cents"),
            )
            .select_from(Opportunity)
            .join(members, group.on(members, Opportunity.owner_id))
            .where(*group.deal_filters(), Opportunity.status == OPEN)
            .group_by(members.c.grp, Opportunity.stage_id, Opportunity.currency)
        ):
            key = (r.grp, r.stage_id)
            counts[key] = counts.get(key, 0) + r.count
            if r.cents is not None:
                cents.setdefault(key, {})[r.currency] = int(r.cents)

        def line(stage: Any, key: Any) -> StagePipeline:
            by_currency = cents.get(key, {})
            return StagePipeline(
                stage_id=stage.id, count=counts.get(key, 0),
                amount=rates.total({c: _summed_cents(v) for c, v in by_currency.items()}),
                weighted_amount=rates.total({c: _summed_cent_percents(v * stage.probability) for c, v in by_currency.items()}),
            )

        return _per_team_and_stage(self.session, group, {key: key for key in counts}, line)

    # ----- 9. expected closes --------------------------------------------------------------------

    def expected_closes(self, scope: Scope, rates: Rates, start: date, end: date) -> ExpectedCloses:
        """Open deals expected to close in [start, end): count, amount and weighted amount, converted with `rates`."""
        return self.expected_closes_each([scope], rates, start, end)[0]

    def expected_closes_each(self, scopes: Sequence[Scope], rates: Rates, start: date, end: date) -> list[ExpectedCloses]:
        group = _Scopes(self.session, scopes)
        members = group.members()
        counts: dict[int, int] = {}
        amounts, weighted = _Totals(rates), _Totals(rates)
        for r in group.execute(
            select(
                members.c.grp,
                Opportunity.currency,
                func.count().label("count"),
                func.sum(_cents(Opportunity.amount)).label("cents"),
                func.sum(_cents(Opportunity.amount) * Stage.probability).label("cent_percent"),
            )
            .select_from(Opportunity)
            .join(members, group.on(members, Opportunity.owner_id))
            .join(Stage, and_(Stage.id == Opportunity.stage_id, Stage.team_id == Opportunity.team_id))
            .where(*group.deal_filters(), Opportunity.status == OPEN, Opportunity.close_date >= start, Opportunity.close_date < end)
            .group_by(members.c.grp, Opportunity.currency)
        ):
            counts[r.grp] = counts.get(r.grp, 0) + r.count
            if r.cents is not None:
                amounts.add(r.grp, r.currency, _summed_cents(r.cents))
                weighted.add(r.grp, r.currency, _summed_cent_percents(r.cent_percent))
        return [ExpectedCloses(count=counts.get(grp, 0), amount=amounts.money(grp), weighted_amount=weighted.money(grp))
                for grp in range(len(group))]

    # ----- the pipelines a team works in ----------------------------------------------------------

    def pipelines_in_use_each(self, scopes: Sequence[Scope], sinces: Sequence[datetime]) -> list[set[int]]:
        """Per scope, the pipelines in which its deals are open now or changed stage (or closed) since that
        scope's `since`: the pipeline a deal is now in (its stage's). One statement for every scope, whatever
        their windows: the latest change per scope and pipeline is compared with each scope's `since` here."""
        if len(sinces) != len(scopes):
            raise ValueError("one since per scope")
        group = _Scopes(self.session, scopes)
        members = group.members()
        used: list[set[int]] = [set() for _ in scopes]
        for r in group.execute(
            select(
                members.c.grp,
                Stage.pipeline_id,
                func.count(case((Opportunity.status == OPEN, 1))).label("open"),
                func.max(Opportunity.stage_entered_at).label("changed_at"),
            )
            .select_from(Opportunity)
            .join(members, group.on(members, Opportunity.owner_id))
            .join(Stage, and_(Stage.id == Opportunity.stage_id, Stage.team_id == Opportunity.team_id))
            .where(*group.deal_filters(), or_(Opportunity.status == OPEN, Opportunity.stage_entered_at >= _at(min(sinces))))
            .group_by(members.c.grp, Stage.pipeline_id)
        ):
            changed_at = r.changed_at  # MAX keeps the column's type: an aware UTC datetime on both databases
            if r.open or (changed_at is not None and changed_at >= sinces[r.grp]):
                used[r.grp].add(r.pipeline_id)
        return used
