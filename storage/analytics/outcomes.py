"""Outcomes: win rate and sales cycle of the deals whose final outcome fell in a window; loss reasons."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    case,
    func,
    select,
)
from sqlmodel import Session

from bot.domain.money import Rates
from bot.domain.values import LOST, WON
from storage.analytics._sql import (
    _cents,
    _days_between,
    _deal_of_change,
    _float,
    _ratio,
    _Scopes,
    _summed_cents,
    _Totals,
)
from storage.analytics.values import (
    CycleLength,
    LostReason,
    Scope,
    WinRate,
)
from storage.models import Opportunity, StageChange

# The window the win rate and the cycle length look back over, wherever they are shown.
WIN_RATE_WINDOW = timedelta(days=90)


def final_closes(scopes: _Scopes, since: datetime, until: datetime, *extra: Any) -> Any:
    """A subquery of the closes that the win rate, the sales cycle, `/opp report` and assignment count:
    deals whose last change is a win or loss made in [since, until), per scope.

    A deal closed in the window but reopened since is left out; a deal won, reopened and lost
    counts once, by its last outcome. Columns: grp, opportunity_id, outcome, closed_at, created_at,
    amount, currency, and any `extra` Opportunity columns.
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
            *extra,
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


def cycle_days(session: Session, closes: Any) -> Any:
    """A sales cycle, for a row of `final_closes`: days (with fractions) from the deal's creation to its close."""
    return _days_between(session, closes.c.created_at, closes.c.closed_at)


class OutcomeFigures:
    """Win rate and cycle length."""

    session: Session

    # ----- 3. win rate ---------------------------------------------------------------------------

    def win_rate(self, scope: Scope, since: datetime, until: datetime, rates: Rates) -> WinRate:
        """Deals whose final outcome (won or lost, not reopened since) was decided in [since, until).

        rate_by_count = won / (won + lost); rate_by_amount the same over their amounts converted into
        the workspace currency with `rates` (a currency without a rate is left out of the ratio, and
        shown apart in won_amount / lost_amount).
        """
        return self.win_rate_each([scope], since, until, rates)[0]

    def win_rate_each(self, scopes: Sequence[Scope], since: datetime, until: datetime, rates: Rates) -> list[WinRate]:
        group = _Scopes(self.session, scopes)
        closes = final_closes(group, since, until)
        is_won, is_lost = closes.c.outcome == WON, closes.c.outcome == LOST
        cents = _cents(closes.c.amount)
        won = dict.fromkeys(range(len(group)), 0)
        lost = dict.fromkeys(range(len(group)), 0)
        won_amounts, lost_amounts = _Totals(rates), _Totals(rates)
        for r in group.execute(
            select(
                closes.c.grp,
                closes.c.currency,
                func.count(case((is_won, 1))).label("won"),
                func.count(case((is_lost, 1))).label("lost"),
                func.sum(case((is_won, cents))).label("won_cents"),
                func.sum(case((is_lost, cents))).label("lost_cents"),
            )
            .group_by(closes.c.grp, closes.c.currency)
        ):
            won[r.grp] += r.won
            lost[r.grp] += r.lost
            if r.won_cents is not None:
                won_amounts.add(r.grp, r.currency, _summed_cents(r.won_cents))
            if r.lost_cents is not None:
                lost_amounts.add(r.grp, r.currency, _summed_cents(r.lost_cents))
        result = []
        for grp in range(len(group)):
            won_amount, lost_amount = won_amounts.money(grp), lost_amounts.money(grp)
            result.append(WinRate(
                won_count=won[grp], lost_count=lost[grp], won_amount=won_amount, lost_amount=lost_amount,
                rate_by_count=_ratio(won[grp], won[grp] + lost[grp]),
                rate_by_amount=_ratio(won_amount.amount, won_amount.amount + lost_amount.amount),
            ))
        return result

    # ----- 6. sales cycle ------------------------------------------------------------------------

    def cycle_length(self, scope: Scope, since: datetime, until: datetime) -> CycleLength:
        """Days from creation to the win, averaged over deals won in [since, until) and still won."""
        return self.cycle_length_each([scope], since, until)[0]

    def cycle_length_each(self, scopes: Sequence[Scope], since: datetime, until: datetime) -> list[CycleLength]:
        group = _Scopes(self.session, scopes)
        closes = final_closes(group, since, until)
        rows = {r.grp: r for r in group.execute(
            select(closes.c.grp, func.count().label("count"),
                   func.avg(cycle_days(self.session, closes)).label("avg_days"))
            .where(closes.c.outcome == WON)
            .group_by(closes.c.grp)
        )}
        return [CycleLength(count=rows[grp].count, avg_days=_float(rows[grp].avg_days)) if grp in rows else CycleLength(count=0, avg_days=None)
                for grp in range(len(group))]

    # ----- loss reasons ----------------------------------------------------------------------------

    def lost_reasons(self, scope: Scope, since: datetime, until: datetime) -> tuple[LostReason, ...]:
        """Why deals were lost in [since, until): every change to Lost in the window, each with the
        reason recorded with it in the history (a deal lost, reopened and lost again counts twice,
        once per reason; a reopened deal's old loss still counts). Most frequent first, then by
        reason; closes with no reason recorded are one entry with reason None, last.
        """
        return self.lost_reasons_each([scope], since, until)[0]

    def lost_reasons_each(self, scopes: Sequence[Scope], since: datetime, until: datetime) -> list[tuple[LostReason, ...]]:
        group = _Scopes(self.session, scopes)
        members = group.members()
        query = (
            select(members.c.grp, StageChange.lost_reason, func.count().label("count"))
            .select_from(StageChange)
            .join(Opportunity, _deal_of_change())
            .join(members, group.on(members, Opportunity.owner_id))
            .where(StageChange.team_id == group.team_id, StageChange.to_status == LOST,
                   StageChange.changed_at >= since, StageChange.changed_at < until, *group.deal_filters())
            .group_by(members.c.grp, StageChange.lost_reason)
        )
        result: list[list[LostReason]] = [[] for _ in scopes]
        for r in group.execute(query):
            result[r.grp].append(LostReason(reason=r.lost_reason, count=r.count))
        return [tuple(sorted(reasons, key=lambda x: (x.reason is None, -x.count, x.reason or ""))) for reasons in result]
