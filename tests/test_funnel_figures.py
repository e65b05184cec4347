"""The funnel's one definition (storage/analytics/funnel.py, `Figures.stage_conversion`) and the
surfaces that show it: `/opp funnel` and its chart, the digest and its chart, the App Home's team funnel.

Reached: a deal has reached stage k when it ever was in stage k or a later open stage, or was ever won.
Conversion k → k+1 = reached(k+1) / reached(k); the last open stage → Won = won / reached(last).
Won and Lost are outcomes (the deals' status now), counted apart from the stages.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from bot.digests.views import digest_message
from bot.home.views import home_page_view
from bot.i18n import ENGLISH, translator
from bot.reports.charts import chart_from_data, chart_title, funnel_chart_data
from storage import visits
from storage.analytics import Figures, Funnel, Scope, StageStep
from storage.models import Delivery, Workspace
from tests.support import rows
from tests.test_analytics import add_deal, add_stages
from tests.test_digest import add_deal as add_live_deal
from tests.test_digest import pipeline_of, team

EN = translator(ENGLISH)

TEAM = "T0FUNNEL"
BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)

# Stages 1..4 as in tests/test_analytics.py: Prospect, Solution design, Technical evaluation, Negotiation.
# Each case is one owner's deals: (histories, reached per stage, won, lost).
CASES = {
    "skips stages": ([[("new", 1, 1), ("move", 2, 3)]], [1, 1, 1, 0], 0, 0),
    "won, skipping the last open stage": ([[("new", 1, 1), ("move", 2, 2), ("move", 3, 3), ("won", 4)]], [1, 1, 1, 1], 1, 0),
    "won straight from the first stage": ([[("new", 1, 1), ("won", 2)]], [1, 1, 1, 1], 1, 0),
    "lost": ([[("new", 1, 1), ("move", 2, 2), ("lost", 3, "Budget")]], [1, 1, 0, 0], 0, 1),
    "moved back: counted to its furthest stage": ([[("new", 1, 1), ("move", 2, 3), ("move", 3, 2)]], [1, 1, 1, 0], 0, 0),
    "won, reopened and lost: reached every stage": ([[("new", 1, 1), ("won", 2), ("reopen", 3, 2), ("lost", 4, "No")]], [1, 1, 1, 1], 0, 1),
    "created in a later stage": ([[("new", 1, 3)]], [1, 1, 1, 0], 0, 0),
    "empty team": ([], [0, 0, 0, 0], 0, 0),
    "one deal": ([[("new", 1, 1)]], [1, 0, 0, 0], 0, 0),
    "all lost": ([[("new", 1, 1), ("lost", 2, "a")],
                  [("new", 1, 1), ("move", 2, 2), ("lost", 3, "b")],
                  [("new", 1, 1), ("move", 2, 2), ("move", 3, 3), ("move", 4, 4), ("lost", 5, "c")]], [3, 2, 1, 1], 0, 3),
    "a mixed team": ([[("new", 1, 1), ("move", 2, 2), ("move", 3, 3), ("won", 4)],  # skipped Negotiation
                      [("new", 1, 1), ("move", 2, 4), ("won", 3)],
                      [("new", 1, 1), ("move", 2, 2), ("lost", 3, "x")],
                      [("new", 1, 1)],
                      [("new", 1, 3)]], [5, 4, 3, 2], 2, 1),
}


def expected(stage: dict[int, int], reached: list[int], won: int, lost: int) -> Funnel:
    """The funnel from hand-counted reached figures, by the formula."""
    steps = []
    for k in range(4):
        converted = reached[k + 1] if k < 3 else won
        steps.append(StageStep(stage[k + 1], stage[k + 2] if k < 3 else None, reached[k], converted,
                               converted / reached[k] if reached[k] else None))
    return Funnel(steps=tuple(steps), won=won, lost=lost)


@pytest.fixture
def seeded(engine):
    """Every case in one workspace, one owner per case; returns (session, stage ids, scope per case)."""
    with Session(engine) as session:
        session.add(Workspace(team_id=TEAM, currency="USD", timezone="UTC", created_at=BASE))
        stage = add_stages(session, TEAM)
        scopes, number = {}, 0
        for i, (name, (histories, *_)) in enumerate(CASES.items()):
            owner = f"U0CASE{i}"
            scopes[name] = Scope(TEAM, owner_ids=(owner,))
            for history in histories:
                number += 1
                add_deal(session, TEAM, stage, number, owner, "100",
                         [(kind, day, *rest) for kind, day, *rest in history])
        visits.derive(session)
        session.commit()
        yield session, stage, scopes


@pytest.mark.parametrize("case", list(CASES))
def test_reached_and_conversion_by_hand(seeded, case):
    session, stage, scopes = seeded
    _, reached, won, lost = CASES[case]
    funnel = Figures(session).stage_conversion(scopes[case])
    assert funnel == expected(stage, reached, won, lost)
    counts = [step.reached for step in funnel.steps]
    assert counts == sorted(counts, reverse=True)  # never more down the funnel
    assert funnel.steps[-1].converted == funnel.won


def test_the_hand_counted_examples_read_as_the_issue_expects(seeded):
    session, _, scopes = seeded
    skipped = Figures(session).stage_conversion(scopes["won, skipping the last open stage"]).steps
    # was "Technical evaluation → Negotiation: 1 of 1" then "Negotiation → Won: 0 of 0"
    assert [(s.converted, s.reached, s.rate) for s in skipped[2:]] == [(1, 1, 1.0), (1, 1, 1.0)]
    empty = Figures(session).stage_conversion(scopes["empty team"])
    assert all(s.rate is None for s in empty.steps) and (empty.won, empty.lost) == (0, 0)
    mixed = Figures(session).stage_conversion(scopes["a mixed team"]).steps
    assert [round(s.rate, 2) for s in mixed if s.rate is not None] == [0.8, 0.75, 0.67, 1.0]


def test_many_scopes_at_once_equal_each_alone(seeded):
    """The digest computes every team in one statement: the same funnels as one by one."""
    session, _, scopes = seeded
    figures = Figures(session)
    together = figures.stage_conversion_each(list(scopes.values()))
    assert together == [figures.stage_conversion(scope) for scope in scopes.values()]
    now = BASE + timedelta(days=10)
    assert [f.funnel for f in figures.stage_figures_each(list(scopes.values()), now)] == together
    # everyone: every case's deals added up
    everyone = figures.stage_conversion(Scope(TEAM))
    assert [s.reached for s in everyone.steps] == [sum(c[1][k] for c in CASES.values()) for k in range(4)]
    assert (everyone.won, everyone.lost) == (sum(c[2] for c in CASES.values()), sum(c[3] for c in CASES.values()))


def test_the_cohort_since_counts_deals_created_from_then(seeded):
    session, stage, scopes = seeded
    later = Figures(session).stage_conversion(scopes["all lost"], since=BASE + timedelta(days=2))
    assert later == expected(stage, [0, 0, 0, 0], 0, 0)  # all three were created on day 1
    assert Figures(session).stage_conversion(scopes["all lost"], since=BASE + timedelta(days=1)) == expected(stage, [3, 2, 1, 1], 0, 3)


# ----- every surface shows the one result --------------------------------------------------------

LINES = ["Prospect → Solution design: 4 of 5 (80%)", "Solution design → Technical evaluation: 3 of 4 (75%)",
         "Technical evaluation → Negotiation: 2 of 3 (67%)", "Negotiation → Won: 2 of 2 (100%)", "Lost: 1"]


def test_funnel_text_chart_digest_and_app_home_agree(slack):
    """Team East: one deal won having skipped Negotiation, one won from Negotiation having skipped two
    stages, one lost in Solution design, one open in Prospect, one created in Technical evaluation."""
    pipeline = pipeline_of(slack)
    stages = pipeline.workspaces.pipelines("T0TEST").default
    s = stages.stages
    rep1, rep2 = (pipeline.workspaces.context("T0TEST", user) for user in ("U0REP1", "U0REP2"))
    skipped_last = add_live_deal(slack)
    for stage in s[1:3]:
        pipeline.deals.move(rep1, opp_id=skipped_last.id, stage_id=stage.id)
    pipeline.deals.win(rep1, opp_id=skipped_last.id)
    jumped = add_live_deal(slack)
    pipeline.deals.move(rep1, opp_id=jumped.id, stage_id=s[3].id)
    pipeline.deals.win(rep1, opp_id=jumped.id)
    lost = add_live_deal(slack, owner="U0REP2")
    pipeline.deals.move(rep2, opp_id=lost.id, stage_id=s[1].id)
    pipeline.deals.lose(rep2, "Budget", opp_id=lost.id)
    add_live_deal(slack, owner="U0REP2")
    add_live_deal(slack, stage=2)

    # the one result
    with Session(slack.oppbot.engine) as session:
        funnel = Figures(session).stage_conversion(Scope("T0TEST", owner_ids=("U0REP1", "U0REP2")))
    assert [(st.reached, st.converted) for st in funnel.steps] == [(5, 4), (4, 3), (3, 2), (2, 2)]
    assert (funnel.won, funnel.lost) == (2, 1)

    # /opp funnel: the text...
    slack.command("funnel", user="U0MGR")
    text = slack.last_response()["text"]
    for line in LINES:
        assert line in text
    assert "Open now: 2 deals" in text
    # ...and its chart: the same funnel's data, drawn
    [chart_row] = rows(slack, Delivery, kind="funnel_chart")
    data = funnel_chart_data(funnel, stages)
    assert chart_row.payload["chart"] == {"steps": [list(row) for row in data["steps"]], "rates": data["rates"],
                                          "outcomes": [["Won", 2], ["Lost", 1]]}
    assert [count for _, count in data["steps"]] == [5, 4, 3, 2]
    slack.clock.advance(seconds=10)  # the cards went to the same DM first: the chart waits for its slot there
    slack.deliver()
    file_id = slack.fake.calls("files.getUploadURLExternal")[-1].response["file_id"]
    assert slack.fake.uploaded(file_id) == chart_from_data(chart_title("East", t=EN), data, t=EN)

    # the digest: the same funnel in its message and its chart
    digest = pipeline.digests.build("T0TEST", team(slack), slack.clock.now() - timedelta(days=1))
    assert digest.own.funnel == funnel
    digest_text = str(digest_message(digest, stages, t=EN)[1])
    assert ("Prospect → Solution design 80% (4 of 5) · Solution design → Technical evaluation 75% (3 of 4) · "
            "Technical evaluation → Negotiation 67% (2 of 3) · Negotiation → Won 100% (2 of 2) · Lost: 1") in digest_text
    assert funnel_chart_data(digest.own.funnel, stages) == data

    # the App Home's team funnel
    page = pipeline.home.page(pipeline.workspaces.context("T0TEST", "U0MGR"))
    assert page.team is not None and page.team[0] == funnel
    slack.event({"type": "app_home_opened", "user": "U0MGR", "tab": "home"})
    home = str(slack.fake.home_view("U0MGR"))
    assert ("Prospect 5 → 80% · Solution design 4 → 75% · Technical evaluation 3 → 67% · Negotiation 2 → 100% · Won 2 · Lost 1") in home
    assert home_page_view(page, stages, t=translator("en"))["blocks"] == slack.fake.home_view("U0MGR")["blocks"]
