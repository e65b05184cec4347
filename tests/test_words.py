"""Numbers in words: the plural helper and the phrases built on it, each expected string written by hand."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from bot.digests.views import average_cycle, rep_pace
from bot.domain.money import Money
from bot.domain.values import Pipeline, StageInfo
from bot.domain.words import count, days, plural
from bot.i18n import ENGLISH, translator
from bot.reports.views import report_outcomes
from storage import analytics

EN = translator(ENGLISH)


def test_count_puts_the_noun_in_the_number_s_form():
    assert count(1, "deal", "deals") == "1 deal"
    assert count(2, "deal", "deals") == "2 deals"
    assert count(0, "deal", "deals") == "0 deals"
    assert count(1, "overdue follow-up", "overdue follow-ups") == "1 overdue follow-up"
    assert count(12_500, "open opportunity", "open opportunities") == "12,500 open opportunities"
    assert count(0, "open deal", "open deals", zero="no open deals") == "no open deals"
    assert count(3, "open deal", "open deals", zero="no open deals") == "3 open deals"


def test_plural_picks_the_whole_sentence():
    one, many = "{n} deal in another currency is counted.", "{n} deals in other currencies are counted."
    assert plural(1, one, many) == "1 deal in another currency is counted."
    assert plural(3, one, many) == "3 deals in other currencies are counted."
    assert plural(0, one, many) == "0 deals in other currencies are counted."


def test_days_never_reads_zero_days():
    assert days(0) == "under a day"
    assert days(0.4) == "under a day"
    assert days(1) == "1 day"
    assert days(1.4) == "1 day"
    assert days(1.5) == "2 days"
    assert days(12.2) == "12 days"


def test_a_report_row_says_when_nothing_has_closed_or_been_won():
    def row(won, lost, rate, cycle, won_amount="0"):
        return SimpleNamespace(won_count=won, lost_count=lost, win_rate=rate, avg_cycle_days=cycle,
                               won_amount=Money("CNY", Decimal(won_amount), (("EUR", Decimal(500)),) if won == 3 else ()))

    assert report_outcomes(row(0, 0, None, None), t=EN) == "none closed"
    assert report_outcomes(row(0, 2, 0.0, None), t=EN) == "won 0 of 2 closed (0%) · no wins"
    assert report_outcomes(row(1, 0, 1.0, 0.0, "9000"), t=EN) == "won 1 of 1 closed (100%), CNY 9,000 · cycle 0.0 d"
    assert report_outcomes(row(3, 1, 0.75, 12.25, "12345.5"), t=EN) == "won 3 of 4 closed (75%), CNY 12,345.50 + EUR 500 · cycle 12.2 d"


def test_the_digest_cycle_line_says_when_there_is_nothing_to_average():
    assert average_cycle(analytics.CycleLength(0, None), t=EN) == "no won deals yet"
    assert average_cycle(analytics.CycleLength(1, 4.0), t=EN) == "4.0 d over 1 won deal"
    assert average_cycle(analytics.CycleLength(3, 0.0), t=EN) == "0.0 d over 3 won deals"


def test_a_rep_s_pace_against_the_team():
    stages = Pipeline((StageInfo(1, 0, "Prospect", 10, 14), StageInfo(2, 1, "Negotiation & terms", 50, 30)))

    def rep(ratio, finished=True):
        return analytics.RepFunnel("U0RAY", (analytics.RepStage(1, 2, 3, 1, 1 / 3, 3, 2.0, 2, 2.0 if finished else None),),
                                   1 if ratio else None, ratio)

    assert rep_pace(rep(1.3), stages, t=EN) == "deals stay 1.3× the team's time in *Prospect*"
    assert rep_pace(rep(1.01), stages, t=EN) == "keeps the team's pace in every stage"  # 1.0× would read as no difference
    assert rep_pace(rep(None), stages, t=EN) == "keeps the team's pace in every stage"
    assert rep_pace(rep(None, finished=False), stages, t=EN) == "no finished stage to compare with the team yet"
    slow_in_negotiation = analytics.RepFunnel("U0RAY", (), 2, 2.25)
    assert rep_pace(slow_in_negotiation, stages, t=EN) == "deals stay 2.2× the team's time in *Negotiation &amp; terms*"
