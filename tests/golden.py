"""The golden pipeline: 40 deals of three reps in two sales teams, with known histories, and every
figure oppbot shows of them worked out BY HAND (tests/test_golden_pipeline.py checks them on every
surface). Nothing in EXPECTED is computed from DEALS: each number comes with its arithmetic.

Time: NOW = 2026-11-30 12:00 UTC. Every change is written as "d", the days BEFORE NOW (d30 = NOW - 30
days = 2026-10-31 12:00 UTC; d(23/24) = 23 hours before NOW). The win-rate window is [d90, d0); `/opp
report ... last 90 days` (for people in UTC) is [2026-09-02 00:00, 2026-12-01 00:00) = [d89.5, d-0.5),
so no change falls between d89.5 and d90: both windows hold the same closes.

Workspace T0TEST, currency CNY, time zone UTC; USD has a rate of 7.2 (set 2026-11-30, in CONFIG), EUR none.
Two pipelines. Sales, the first (everyone's home pipeline but the Accounts team's), stages (position, win probability,
max_days): Prospect P (0, 10 %, 14), Solution design S (1, 30 %, 21), Technical evaluation T (2, 50 %, 30), Negotiation N
(3, 80 %, 21). Renewals: Renewal due RD (0, 40 %, 30), Quote sent Q (1, 70 %, 14), Negotiation RN (2, 90 %, 10) — the
same name as Sales' N on purpose.
Sales teams: North (manager U0MGRN; reps A = U0REPA, B = U0REPB), South (manager U0MGRS; rep C = U0REPC,
who has no closed deal), Accounts (manager U0MGRA; reps REP_D = U0REPD, REP_E = U0REPE; its pipeline is Renewals).
U0ADMIN is an oppbot admin.

#1-#40 are Sales deals of A, B and C; #41-#53 are Renewals deals of D and E, one of them (#47) made in Sales and moved
into Renewals. Why the Renewals deals have reps of their own rather than A, B and C: the Slack surfaces the golden
tests read (the digest, the App Home, `/opp report`, `/opp funnel`) are being reworked for several pipelines as this
is written: the digest and a manager's App Home add a section for each other pipeline the team's reps have deals in,
and a rep's App Home sums their open deals across pipelines; with Renewals deals on A, B or C the North and South
expectations would depend on that work in progress. On reps of their own, no North or South surface can see them,
and the storage checks still test the pipeline filter itself: the first pipeline's figures of the whole
workspace (no owner filter, `Scope(pipeline_id=Sales)`) must leave out every Renewals deal, #47 included, although
it was created in Sales and still has its Sales visits (see SALES_WORKSPACE). `/opp export` is of the asker's
pipeline too: the admin's has the 40 Sales deals.

History entries: ("new", d, stage) creation in a stage; ("move", d, stage); ("won", d); ("lost", d, reason);
("reopen", d, stage). The changes are by the owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import update
from sqlmodel import Session, select

from bot.domain.values import LOST, OPEN, WON
from storage import visits
from storage.models import Opportunity, Pipeline, Stage, StageChange, Workspace

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
TEAM = "T0TEST"
A, B, C = "U0REPA", "U0REPB", "U0REPC"
REP_D, REP_E = "U0REPD", "U0REPE"  # the Accounts team's reps: their deals are in Renewals (one came from Sales)
MGR_NORTH, MGR_SOUTH, MGR_ACCOUNTS, ADMIN = "U0MGRN", "U0MGRS", "U0MGRA", "U0ADMIN"
USERS = (A, B, C, REP_D, REP_E, MGR_NORTH, MGR_SOUTH, MGR_ACCOUNTS, ADMIN)
SALES, RENEWALS = "Sales", "Renewals"  # the two pipelines, in this order
P, S, T, N = "Prospect", "Solution design", "Technical evaluation", "Negotiation"
# Renewals' stages, as DEALS name them ("Renewals/…": Renewals' Negotiation has the name of Sales' on purpose)
RD, Q, RN = "Renewals/Renewal due", "Renewals/Quote sent", "Renewals/Negotiation"
H23 = 23 / 24  # 23 hours, in days
USD_RATE = "7.2"

CONFIG = """
[workspace]
currency = "CNY"
timezone = "UTC"
admins = ["U0ADMIN"]

[[pipelines]]
name = "Sales"

[[pipelines.stages]]
name = "Prospect"
probability = 10
max_days = 14

[[pipelines.stages]]
name = "Solution design"
probability = 30
max_days = 21

[[pipelines.stages]]
name = "Technical evaluation"
probability = 50
max_days = 30

[[pipelines.stages]]
name = "Negotiation"
probability = 80
max_days = 21

[[pipelines]]
name = "Renewals"

[[pipelines.stages]]
name = "Renewal due"
probability = 40
max_days = 30

[[pipelines.stages]]
name = "Quote sent"
probability = 70
max_days = 14

[[pipelines.stages]]
name = "Negotiation"
probability = 90
max_days = 10

[exchange_rates]
USD = { rate = 7.2, set_on = 2026-11-30 }

[[teams]]
name = "North"
manager = "U0MGRN"
members = ["U0REPA", "U0REPB"]
channel = "C0NORTH"
timezone = "UTC"

[[teams]]
name = "South"
manager = "U0MGRS"
members = ["U0REPC"]
channel = "C0SOUTH"
timezone = "UTC"

[[teams]]
name = "Accounts"
manager = "U0MGRA"
members = ["U0REPD", "U0REPE"]
timezone = "UTC"
pipeline = "Renewals"
"""


@dataclass(frozen=True)
class Deal:
    number: int  # OPP-n, and its name "Deal n"
    owner: str
    amount: str | None
    currency: str
    history: tuple[tuple, ...]
    close: date | None = None  # expected close date
    note: str = ""
    extra: dict = field(default_factory=dict)


def _deal(number, owner, amount, currency, *history, close=None, note=""):
    return Deal(number, owner, amount, currency, tuple(history), close, note)


# fmt: off
# ----------------------------------------------------------------------------------------------------------------------------
#  OPP owner amount   cur   history (d = days before NOW)                                          expected close  what it is
# ----------------------------------------------------------------------------------------------------------------------------
DEALS = (
    # --- North, rep A ---------------------------------------------------------------------------------------------------------
    _deal(1,  A, "10000", "CNY", ("new", 60, P), ("move", 57, S), ("move", 50, T), ("move", 40, N), ("won", 30),
          note="won through every stage"),
    _deal(2,  A, "20000", "CNY", ("new", 50, P), ("move", 47, S), ("won", 20), close=date(2026, 11, 10),
          note="won from S: skipped T and the last open stage N; its close date no longer counts (won)"),
    _deal(3,  A, "5000",  "USD", ("new", 45, P), ("move", 42, T), ("lost", 30, "Budget"),
          note="skipped S, lost in T"),
    _deal(4,  A, "8000",  "CNY", ("new", 200, P), ("move", 197, S), ("lost", 150, "Budget"),
          note="lost before the 90-day window"),
    _deal(5,  A, "12000", "CNY", ("new", 130, P), ("move", 127, S), ("move", 120, T), ("won", 100),
          note="won before the 90-day window (d100)"),
    _deal(6,  A, "30000", "CNY", ("new", 80, P), ("move", 76, S), ("lost", 60, "Budget"), ("reopen", 55, S), ("move", 50, T),
          ("lost", 40, "Went with competitor"), note="lost twice, two reasons"),
    _deal(7,  A, "15000", "CNY", ("new", 70, P), ("move", 68, S), ("won", 50), ("reopen", 20, S),
          note="won, reopened: open in S for 20 days (the norm's boundary: 20 > 2 x 7 = 14)"),
    _deal(8,  A, "40000", "CNY", ("new", 40, P), ("move", 37, S), ("move", 30, T), ("move", 25, S), close=date(2026, 12, 15),
          note="moved back T -> S, 25 days in S > 21"),
    _deal(9,  A, "0",     "CNY", ("new", 10, P), ("move", 7, S), close=date(2026, 11, 20),
          note="zero amount"),
    _deal(10, A, None,    "CNY", ("new", 6, P),
          note="no amount; 6 days in P = 2 x the norm 3: not stalled"),
    _deal(11, A, "6000",  "USD", ("new", 7, P), close=date(2026, 12, 5),
          note="7 days in P > 2 x 3: stalled by the norm"),
    _deal(12, A, "50000", "EUR", ("new", 30, P), ("move", 27, S), ("move", 20, T), ("move", 10, N), close=date(2026, 11, 28),
          note="EUR, no rate"),
    _deal(13, A, "22000", "CNY", ("new", 40, P), ("move", 38, S), ("move", 35, T), ("move", 21, N), close=date(2026, 11, 15),
          note="exactly 21 days in N (max_days 21): not stalled"),
    _deal(14, A, "1000",  "USD", ("new", 20, P), ("move", 17, S), ("move", 14, T), ("move", 12, N), ("lost", 2, "Went with competitor"),
          note="lost from the last open stage"),
    _deal(15, A, "2500",  "EUR", ("new", 12, P), ("won", 11),
          note="EUR, won straight from P"),
    # --- North, rep B ---------------------------------------------------------------------------------------------------------
    _deal(16, B, "9000",  "CNY", ("new", 35, P), ("move", 31, S), ("move", 27, T), ("move", 22, N), close=date(2026, 12, 20),
          note="22 days in N > 21: stalled"),
    _deal(17, B, "7000",  "USD", ("new", 60, P), ("move", 55, S), ("move", 45, T), ("won", 25),
          note="won from T, skipping the last open stage N"),
    _deal(18, B, "11000", "CNY", ("new", 50, P), ("move", 45, S), ("lost", 35, "No decision")),
    _deal(19, B, "3000",  "CNY", ("new", 40, T), ("move", 30, N), ("won", 10),
          note="created in T"),
    _deal(20, B, "0",     "CNY", ("new", 20, P), ("lost", 18, "No decision"),
          note="zero amount, lost"),
    _deal(21, B, "25000", "CNY", ("new", 100, P), ("move", 95, S), ("won", 80), ("reopen", 70, S), ("lost", 60, "Timing"),
          note="created before the report's period; won, reopened and lost: its final close is the loss (d60)"),
    _deal(22, B, "4000",  "EUR", ("new", 15, P), ("move", 12, S)),
    _deal(23, B, "16000", "CNY", ("new", 3, P)),
    _deal(24, B, "2000",  "CNY", ("new", 95, P), ("lost", 92, "Budget"),
          note="lost before the window (d92)"),
    _deal(25, B, "5000",  "CNY", ("new", 89, P), ("move", 86, S), ("won", 80),
          note="created at d89: inside the report's period"),
    _deal(26, B, "18000", "CNY", ("new", 25, P), ("move", 20, N), ("won", 5),
          note="skipped S and T"),
    _deal(27, B, None,    "CNY", ("new", 9, P), ("move", 6, S), ("move", 4, T),
          note="no amount"),
    # --- South, rep C: nothing closed -------------------------------------------------------------------------------------------
    _deal(28, C, "10000", "CNY", ("new", 14, P),
          note="exactly 14 days in P (max_days 14): not stalled"),
    _deal(29, C, "20000", "CNY", ("new", 15, P),
          note="15 days in P: stalled"),
    _deal(30, C, "3000",  "USD", ("new", 7, P),
          note="7 days in P: stalled in North (norm), not here (South's P norm is unusable)"),
    _deal(31, C, "8000",  "CNY", ("new", 10, P), ("move", 5, S), ("move", H23, T), close=date(2026, 11, 30),
          note="23 hours in T: 0 days"),
    _deal(32, C, None,    "CNY", ("new", 40, P), ("move", 36, S), ("move", 30, P),
          note="moved back S -> P, 30 days in P"),
    _deal(33, C, "12000", "USD", ("new", 20, S), ("move", 16, T), ("move", 5, N), close=date(2026, 12, 1),
          note="created in S"),
    _deal(34, C, "0",     "USD", ("new", 3, P),
          note="zero amount, USD"),
    _deal(35, C, "6000",  "EUR", ("new", 50, P), ("move", 45, S), ("move", 35, T), close=date(2026, 12, 31),
          note="EUR, 35 days in T > 30"),
    _deal(36, C, "9000",  "CNY", ("new", 25, P), ("move", 22, S), ("move", 20, T), ("move", 12, N), close=date(2027, 1, 10),
          note="expected after next month"),
    _deal(37, C, "7000",  "CNY", ("new", 2, P)),
    _deal(38, C, "4500",  "CNY", ("new", 9, S), close=date(2026, 11, 25),
          note="created in S"),
    _deal(39, C, "1500",  "USD", ("new", 60, P), ("move", 58, S),
          note="58 days in S"),
    _deal(40, C, "2000",  "CNY", ("new", 1, P)),
    # --- Renewals: Accounts, rep D --------------------------------------------------------------------------------------------
    _deal(41, REP_D, "10000", "CNY", ("new", 40, RD), ("move", 30, Q), ("move", 20, RN), ("won", 10),
          note="won through every Renewals stage"),
    _deal(42, REP_D, "20000", "CNY", ("new", 50, RD), ("move", 45, RN), ("won", 35),
          note="skipped Q"),
    _deal(43, REP_D, "5000",  "USD", ("new", 60, RD), ("move", 50, Q), ("lost", 40, "Price"),
          note="lost in the window, USD"),
    _deal(44, REP_D, "8000",  "CNY", ("new", 150, RD), ("move", 140, Q), ("won", 120),
          note="won before the window"),
    _deal(45, REP_D, "6000",  "CNY", ("new", 130, RD), ("lost", 100, "Price"),
          note="lost before the window"),
    _deal(46, REP_D, "30000", "CNY", ("new", 30, RD), ("move", 25, Q), ("move", 12, RN), close=date(2026, 12, 10),
          note="12 days in Renewals' Negotiation > 10: stalled (Sales' Negotiation, 21, would not flag it)"),
    _deal(52, REP_D, "3000",  "CNY", ("new", 30, RD), close=date(2027, 1, 5),
          note="exactly 30 days in RD (max_days 30): not stalled; expected after next month"),
    _deal(53, REP_D, None,    "CNY", ("new", 5, Q),
          note="no amount, created in Q"),
    # --- Renewals: Accounts, rep E --------------------------------------------------------------------------------------------
    _deal(47, REP_E, "15000", "CNY", ("new", 40, P), ("move", 35, S), ("move", 20, T), ("move", 9, Q), close=date(2026, 11, 25),
          note="made in Sales, moved T -> Renewals' Q at d9: a Renewals deal, and no longer one of Sales; its Sales T (position 2) "
               "ranks above Q (1), which must not make its Q visit less than its furthest in Renewals"),
    _deal(48, REP_E, "12000", "CNY", ("new", 35, RD), ("move", 30, Q), ("move", 25, RN), ("move", 8, Q), close=date(2026, 12, 20),
          note="moved back RN -> Q"),
    _deal(49, REP_E, "4000",  "CNY", ("new", 20, RD), ("won", 18), close=date(2026, 11, 20),
          note="won straight from RD; its close date no longer counts (won)"),
    _deal(50, REP_E, "9000",  "CNY", ("new", 25, Q), ("lost", 5, "No budget"),
          note="created in Q, lost"),
    _deal(51, REP_E, "7000",  "CNY", ("new", 31, RD), close=date(2026, 11, 15),
          note="31 days in RD > 30: stalled"),
)
# fmt: on

NORTH_DEALS = tuple(range(1, 28))
SOUTH_DEALS = tuple(range(28, 41))
ACCOUNTS_DEALS = tuple(range(41, 54))  # Renewals
CHANGES = sum(len(deal.history) for deal in DEALS)  # the fixture's size, for the report (not an expectation)


def at(days_before: float) -> datetime:
    return NOW - timedelta(days=days_before)


def seed(session: Session, team_id: str = TEAM) -> dict[int, int]:
    """Write DEALS into the database as the app would have left them (opportunity rows, their stage_change history,
    the derived visit columns), on the stages the configuration created. Returns {OPP number: opportunity id}."""
    pipelines = {p.id: p.name for p in session.exec(select(Pipeline).where(Pipeline.team_id == team_id))}
    # Sales' stages by their names, Renewals' as "Renewals/<name>" (RD, Q, RN)
    stage_id = {(s.name if pipelines[s.pipeline_id] == SALES else f"{pipelines[s.pipeline_id]}/{s.name}"): s.id
                for s in session.exec(select(Stage).where(Stage.team_id == team_id))}
    ids = {}
    for deal in DEALS:
        changes, stage, status, created, entered, closed, reason = [], None, None, None, None, None, None
        for kind, day, *rest in deal.history:
            arg = rest[0] if rest else None
            if kind in ("new", "move", "reopen"):
                to_stage, to_status = stage_id[arg], OPEN
            else:
                to_stage, to_status = stage, (WON if kind == "won" else LOST)
            reason = arg if kind == "lost" else None
            changes.append(dict(from_stage_id=stage, from_status=status, to_stage_id=to_stage, to_status=to_status,
                                owner_id=deal.owner, changed_by=deal.owner, changed_at=at(day), lost_reason=reason))
            if kind == "new":
                created = at(day)
            if (to_stage, to_status) != (stage, status):
                entered = at(day)
            stage, status = to_stage, to_status
            closed = at(day) if status in (WON, LOST) else None
        opp = Opportunity(team_id=team_id, number=deal.number, name=f"Deal {deal.number}", customer="Golden Corp",
                          amount=Decimal(deal.amount) if deal.amount is not None else None, currency=deal.currency,
                          stage_id=stage, status=status, lost_reason=reason, owner_id=deal.owner, created_by=deal.owner,
                          created_at=created, updated_at=at(deal.history[-1][1]), stage_entered_at=entered, closed_at=closed,
                          close_date=deal.close, **deal.extra)
        session.add(opp)
        session.flush()
        for change in changes:
            session.add(StageChange(team_id=team_id, opportunity_id=opp.id, **change))
        ids[deal.number] = opp.id
    session.flush()
    session.execute(update(Workspace).where(Workspace.team_id == team_id).values(last_opp_number=len(DEALS)))
    visits.derive(session, team_id)
    return ids


def usd_rate_stored(session: Session, team_id: str = TEAM) -> bool:
    """Whether the configuration's USD rate (7.2, set on 2026-11-30) reached the workspace row."""
    workspace = session.exec(select(Workspace).where(Workspace.team_id == team_id)).one()
    entry = (workspace.exchange_rates or {}).get("USD") or {}
    return Decimal(str(entry.get("rate", "0"))) == Decimal(USD_RATE) and entry.get("set_on") == "2026-11-30"


# =============================================================================================================================
# EXPECTED: worked out by hand from the table above. P, S, T, N as above; "#n" is OPP-n.
# =============================================================================================================================

# ----- the funnel (every deal of the team by current owner, whatever its status) ---------------------------------------------
# reached(k): ever in stage k or a later one, or ever won (then every stage).
# North, 27 deals (#1-#27). Furthest stage / ever won:
#   ever won (all four): #1 #2 #5 #7 #15 #17 #19 #21 #25 #26;  furthest N: #12 #13 #14 #16;
#   furthest T: #3 #6 #8 #27;  furthest S: #4 #9 #18 #22;  furthest P only: #10 #11 #20 #23 #24.
#   reached P = 27;  S = 27 - 5 (P only) = 22;  T = 22 - 4 (S only) = 18;  N = 18 - 4 (T only) = 14 (10 won + 4).
#   won now: #1 #2 #5 #15 #17 #19 #25 #26 = 8 (#7 reopened, #21 lost since);  lost now: #3 #4 #6 #14 #18 #20 #21 #24 = 8.
#   open: #7 #8 #9 #10 #11 #12 #13 #16 #22 #23 #27 = 11.   8 + 8 + 11 = 27.
# Rep A (#1-#15): P 15; S 15 - 2 (#10 #11) = 13; T 13 - 2 (#4 #9) = 11; N 11 - 3 (#3 #6 #8) = 8; won #1 #2 #5 #15 = 4;
#   lost #3 #4 #6 #14 = 4.
# Rep B (#16-#27): P 12; S 12 - 3 (#20 #23 #24) = 9; T 9 - 2 (#18 #22) = 7; N 7 - 1 (#27) = 6; won #17 #19 #25 #26 = 4;
#   lost #18 #20 #21 #24 = 4.  (A + B: 27, 22, 18, 14, won 8, lost 8.)
# South, 13 deals (#28-#40), none closed: furthest N: #33 #36; T: #31 #35; S: #32 (moved back to P) #38 #39;
#   P only: #28 #29 #30 #34 #37 #40.  reached P 13 (#33 #38 were created in S: they reached P too); S 13 - 6 = 7;
#   T 7 - 3 = 4; N 4 - 2 = 2; won 0, lost 0.
FUNNEL = {
    # reached per stage P, S, T, N; won now; lost now
    "North": dict(reached=[27, 22, 18, 14], won=8, lost=8),
    "South": dict(reached=[13, 7, 4, 2], won=0, lost=0),
    A: dict(reached=[15, 13, 11, 8], won=4, lost=4),
    B: dict(reached=[12, 9, 7, 6], won=4, lost=4),
    C: dict(reached=[13, 7, 4, 2], won=0, lost=0),
}
# Conversions as shown (percent, rounded): North 22/27 = 81.5 % -> 81%; 18/22 = 81.8 % -> 82%; 14/18 = 77.8 % -> 78%;
# N -> Won 8/14 = 57.1 % -> 57%.  South 7/13 = 53.8 % -> 54%; 4/7 = 57.1 % -> 57%; 2/4 = 50%; 0/2 = 0%.
RATES = {
    "North": [22 / 27, 18 / 22, 14 / 18, 8 / 14],
    "South": [7 / 13, 4 / 7, 2 / 4, 0 / 2],
}
FUNNEL_LINES = {  # `/opp funnel` (one line each)
    "North": ["Prospect → Solution design: 22 of 27 (81%)", "Solution design → Technical evaluation: 18 of 22 (82%)",
              "Technical evaluation → Negotiation: 14 of 18 (78%)", "Negotiation → Won: 8 of 14 (57%)", "Lost: 8"],
    "South": ["Prospect → Solution design: 7 of 13 (54%)", "Solution design → Technical evaluation: 4 of 7 (57%)",
              "Technical evaluation → Negotiation: 2 of 4 (50%)", "Negotiation → Won: 0 of 2 (0%)", "Lost: 0"],
}
DIGEST_CONVERSION = {  # the digest's "Stage-to-stage conversion"
    "North": ("Prospect → Solution design 81% (22 of 27) · Solution design → Technical evaluation 82% (18 of 22) · "
              "Technical evaluation → Negotiation 78% (14 of 18) · Negotiation → Won 57% (8 of 14) · Lost: 8"),
    "South": ("Prospect → Solution design 54% (7 of 13) · Solution design → Technical evaluation 57% (4 of 7) · "
              "Technical evaluation → Negotiation 50% (2 of 4) · Negotiation → Won 0% (0 of 2) · Lost: 0"),
}
HOME_FUNNEL = {  # the App Home's "Your team's funnel"
    "North": "Prospect 27 → 81% · Solution design 22 → 82% · Technical evaluation 18 → 78% · Negotiation 14 → 57% · Won 8 · Lost 8",
    "South": "Prospect 13 → 54% · Solution design 7 → 57% · Technical evaluation 4 → 50% · Negotiation 2 → 0% · Won 0 · Lost 0",
}
OPEN_COUNT = {"North": 11, "South": 13}  # North: #7 #8 #9 #10 #11 #12 #13 #16 #22 #23 #27; South: all 13

# ----- win rate by count: deals whose LATEST change is a win or a loss in [d90, d0) ----------------------------------------
# North: won #1 (d30) #2 (d20) #15 (d11) #17 (d25) #19 (d10) #25 (d80) #26 (d5) = 7;
#        lost #3 (d30) #6 (d40, its 2nd loss) #14 (d2) #18 (d35) #20 (d18) #21 (d60, after its win at d80) = 6.
#        Left out: #4 (lost d150), #5 (won d100), #24 (lost d92): before the window; #7 (won d50 but reopened since).
#        7 / (7 + 6) = 7/13 = 53.8 % -> "54%".
# A: won #1 #2 #15 = 3, lost #3 #6 #14 = 3 -> 3/6 = 50 %.   B: won #17 #19 #25 #26 = 4, lost #18 #20 #21 = 3 -> 4/7 = 57.1 %.
# South: nothing closed: 0 won, 0 lost, no rate ("—").
WIN_RATE = {
    "North": dict(won=7, lost=6, rate=7 / 13, shown="54% by count (7 won, 6 lost)"),
    "South": dict(won=0, lost=0, rate=None, shown="— by count (0 won, 0 lost)"),
    A: dict(won=3, lost=3, rate=3 / 6),
    B: dict(won=4, lost=3, rate=4 / 7),
    C: dict(won=0, lost=0, rate=None),
}

# ----- sales cycle: days from creation to the win, over the same final wins ---------------------------------------------------
# North: #1 60-30 = 30; #2 50-20 = 30; #15 12-11 = 1; #17 60-25 = 35; #19 40-10 = 30; #25 89-80 = 9; #26 25-5 = 20.
#        (30 + 30 + 1 + 35 + 30 + 9 + 20) / 7 = 155 / 7 = 22.142857 -> "22.1 d over 7 won deals".
# A: (30 + 30 + 1) / 3 = 61 / 3 = 20.333;  B: (35 + 30 + 9 + 20) / 4 = 94 / 4 = 23.5.  South: none.
CYCLE = {
    "North": dict(count=7, days=155 / 7, shown="22.1 d over 7 won deals"),
    "South": dict(count=0, days=None, shown="no won deals yet"),
    A: dict(count=3, days=61 / 3),
    B: dict(count=4, days=94 / 4),
}

# ----- lost reasons: every change to Lost in [d90, d0), each with its own reason --------------------------------------------
# North: Budget: #3 (d30), #6 (d60) = 2 (#4 d150 and #24 d92 are before the window); Went with competitor: #6 (d40), #14 (d2) = 2;
#        No decision: #18 (d35), #20 (d18) = 2; Timing: #21 (d60) = 1.  #6 lost twice: counted twice, once per reason.
#        Most frequent first, ties by reason.
LOST_REASONS = {
    "North": [("Budget", 2), ("No decision", 2), ("Went with competitor", 2), ("Timing", 1)],
    "South": [],
    A: [("Budget", 2), ("Went with competitor", 2)],
    B: [("No decision", 2), ("Timing", 1)],
}
DIGEST_LOST_REASONS = {"North": "Budget ×2 · No decision ×2 · Went with competitor ×2 · Timing ×1", "South": "—"}

# ----- time in stage (visits; ongoing ones until NOW) -----------------------------------------------------------------------
# North, Prospect: finished visits (days): #1 3, #2 3, #3 3, #4 3, #5 3, #6 4, #7 2, #8 3, #9 3, #12 3, #13 2, #14 3, #15 1,
#   #16 4, #17 5, #18 5, #20 2, #21 5, #22 3, #24 3, #25 3, #26 5, #27 3 = 23 visits (#19 never was in P).
#   = one 1, three 2s, thirteen 3s, two 4s, four 5s: sum 1 + 6 + 39 + 8 + 20 = 74; average 74/23 = 3.217;
#   median: the 12th of 23 sorted = 3 (1, 2, 2, 2, then 3s from the 5th to the 17th).
#   Ongoing: #10 6, #11 7, #23 3 -> all 26 visits: sum 74 + 16 = 90, average 90/26 = 3.4615 -> "3.5 d"; median 3.
#   Norm: 23 completed visits >= 10, median 3 >= 1 day: usable; stalled beyond 2 x 3 = 6 whole days.
# North, Solution design: finished: #1 7, #2 27, #4 47, #5 7, #6 16 and 5 (two visits), #7 18, #8 7, #12 7, #13 3, #14 3,
#   #16 4, #17 10, #18 10, #21 15 and 10, #25 6, #27 2 = 18 visits, sum 204, average 204/18 = 11.333;
#   sorted 2 3 3 4 5 6 7 7 [7 7] 10 10 10 15 16 18 27 47: median (7 + 7)/2 = 7.
#   Ongoing: #7 20 (reopened d20), #8 25 (moved back d25), #9 7, #22 12 -> 22 visits, sum 268, average 268/22 = 12.18 -> "12.2 d".
#   Norm usable (18 >= 10, 7 >= 1): stalled beyond 2 x 7 = 14 whole days.
# North, Technical evaluation: finished #1 10, #3 12, #5 20, #6 10, #8 5, #12 10, #13 14, #14 2, #16 5, #17 20, #19 10 = 11,
#   sum 118; median (2 5 5 10 10 [10] 10 12 14 20 20) = 10. Ongoing #27 4 -> 12 visits, 122/12 = 10.17 -> "10.2 d".
# North, Negotiation: finished #1 10, #14 10, #19 20, #26 15 = 4 (too few for a norm), sum 55, median (10 + 15)/2 = 12.5;
#   ongoing #12 10, #13 21, #16 22 -> 7 visits, 108/7 = 15.43 -> "15.4 d".
# South, Prospect: finished #31 5, #32 4, #35 5, #36 3, #39 2 = 5 (too few: South's P norm is unusable), sum 19, median 4;
#   ongoing #28 14, #29 15, #30 7, #32 30, #34 3, #37 2, #40 1 (sum 72) -> 12 visits, 91/12 = 7.583 -> "7.6 d".
# South, Solution design: finished #31 5 - 23/24 = 4.0417, #32 6, #33 4, #35 10, #36 2 = 5 (sum 26.0417, median 4.0417);
#   ongoing #38 9, #39 58 -> 7 visits, 93.0417/7 = 13.29 -> "13.3 d".
# South, Technical evaluation: finished #33 11, #36 8; ongoing #31 23/24 = 0.9583, #35 35 -> 4 visits, 54.9583/4 = 13.74 -> "13.7 d".
# South, Negotiation: ongoing #33 5, #36 12 -> 2 visits, 17/2 = 8.5 -> "8.5 d"; no finished visit.
DWELL = {  # stage: (visits, average days of all, finished visits, finished average, finished median)
    "North": {P: (26, 90 / 26, 23, 74 / 23, 3.0), S: (22, 268 / 22, 18, 204 / 18, 7.0), T: (12, 122 / 12, 11, 118 / 11, 10.0),
              N: (7, 108 / 7, 4, 55 / 4, 12.5)},
    "South": {P: (12, 91 / 12, 5, 19 / 5, 4.0), S: (7, (93 + 1 / 24) / 7, 5, (26 + 1 / 24) / 5, 4 + 1 / 24),
              T: (4, (54 + 23 / 24) / 4, 2, 19 / 2, 9.5), N: (2, 17 / 2, 0, None, None)},
}
DIGEST_DWELL = {
    "North": "Prospect 3.5 d · Solution design 12.2 d · Technical evaluation 10.2 d · Negotiation 15.4 d",
    "South": "Prospect 7.6 d · Solution design 13.3 d · Technical evaluation 13.7 d · Negotiation 8.5 d",
}

# ----- stalled: whole days in the current stage > max_days, or > 2 x the team's usable norm; the longest first ------------
# North (norms: P 3 d from 23, S 7 d from 18, T 10 d from 11; N unusable):
#   #8 S 25 d > 21 -> max_days (also > 14: max_days is reported); #16 N 22 d > 21 -> max_days;
#   #7 S 20 d: not > 21, but > 2 x 7 = 14 -> norm; #11 P 7 d: not > 14, but > 6 -> norm.
#   Not stalled: #13 N 21 d (= max_days); #10 P 6 d (= 2 x 3); #22 S 12 d (<= 14); #9 S 7; #12 N 10; #23 P 3; #27 T 4.
# South (no usable norm: every stage has fewer than 10 completed visits):
#   #39 S 58 > 21; #35 T 35 > 30; #32 P 30 > 14; #29 P 15 > 14.  Not stalled: #28 P 14 d (= max_days); #30 P 7 d (would be
#   stalled in North); #31 T 23 hours = 0 days; #33 N 5; #36 N 12; #38 S 9; #34 P 3; #37 P 2; #40 P 1.
STALLED = {  # (OPP number, whole days, rule, words)
    "North": [(8, 25, "max_days", "25 days in Solution design; stalled after 21"),
              (16, 22, "max_days", "22 days in Negotiation; stalled after 21"),
              (7, 20, "norm", "20 days in Solution design; the team's typical time there is 7 days (from 18 deals)"),
              (11, 7, "norm", "7 days in Prospect; the team's typical time there is 3 days (from 23 deals)")],
    "South": [(39, 58, "max_days", "58 days in Solution design; stalled after 21"),
              (35, 35, "max_days", "35 days in Technical evaluation; stalled after 30"),
              (32, 30, "max_days", "30 days in Prospect; stalled after 14"),
              (29, 15, "max_days", "15 days in Prospect; stalled after 14")],
}
# A rep's own deals are measured against their sales team's norms (A, B: North's): A has #8 #7 #11, B has #16, C has South's four.
STALLED_OF = {A: [8, 7, 11], B: [16], C: [39, 35, 32, 29]}

# ----- `/opp report by rep last 90 days` (as the admin: every rep) -------------------------------------------------------------
# Period [d89.5, d-0.5): deals CREATED in it: A: #1-#15 but #4 (d200) and #5 (d130) = 13; B: #16-#27 but #21 (d100) and #24 (d95)
#   = 10 (#25, created d89, is in); C: all 13.  Order: most deals first, then by key: A (13), C (13), B (10).
# Outcomes: the deals whose FINAL close fell in the period (the win rate's closes):
#   A 3 won, 3 lost -> 50 %, cycle 61/3 = 20.3 d; B 4 won, 3 lost (#21, created before the period, lost in it) -> 57 %, cycle 23.5 d;
#   C nothing closed.  (Counting the status now of the deals created in the period instead would give B 4 won, 2 lost = 67 %:
#   #21 is not in B's created cohort.)
REPORT = {
    A: dict(count=13, won=3, lost=3, rate=3 / 6, cycle=61 / 3, words=["won 3 of 6 closed (50%)", "cycle 20.3 d"]),
    C: dict(count=13, won=0, lost=0, rate=None, cycle=None, words=["none closed"]),
    B: dict(count=10, won=4, lost=3, rate=4 / 7, cycle=94 / 4, words=["won 4 of 7 closed (57%)", "cycle 23.5 d"]),
}
REPORT_ORDER = [A, C, B]

# ----- money: amounts in CNY, USD x 7.2 converted, EUR apart (no rate) -------------------------------------------------------
# As (amount in CNY including the converted currencies, {currency: subtotal apart}), the two parts of a `Money`.
# weighted = amount x probability / 100, per currency, then converted. All of these are exact (no rounding happens).
# North open, per stage:
#   P: #10 (none), #11 USD 6000, #23 CNY 16000 -> 3 deals; 16000 + 6000 x 7.2 = 16000 + 43200 = 59200; weighted 10 % = 5920.
#   S: #7 CNY 15000, #8 CNY 40000, #9 CNY 0, #22 EUR 4000 -> 4 deals; CNY 55000, EUR 4000 apart; weighted 30 %: 16500, EUR 1200.
#   T: #27 (none) -> 1 deal; 0; weighted 0.
#   N: #12 EUR 50000, #13 CNY 22000, #16 CNY 9000 -> 3 deals; CNY 31000, EUR 50000 apart; weighted 80 %: 24800, EUR 40000.
#   Total 11 deals: 59200 + 55000 + 0 + 31000 = 145200, EUR 54000; weighted 5920 + 16500 + 24800 = 47220, EUR 41200.
# South open, per stage:
#   P: #28 10000, #29 20000, #37 7000, #40 2000 CNY (39000), #30 USD 3000, #34 USD 0 (21600), #32 none -> 7 deals; 60600;
#      weighted 6060.
#   S: #38 CNY 4500, #39 USD 1500 (10800) -> 2 deals; 15300; weighted 4590.
#   T: #31 CNY 8000, #35 EUR 6000 -> 2 deals; CNY 8000, EUR 6000 apart; weighted 4000, EUR 3000.
#   N: #33 USD 12000 (86400), #36 CNY 9000 -> 2 deals; 95400; weighted 76320.
#   Total 13: 60600 + 15300 + 8000 + 95400 = 179300, EUR 6000; weighted 6060 + 4590 + 4000 + 76320 = 90970, EUR 3000.
# Expected closes, this month = November [2026-11-01, 2026-12-01), next = December [2026-12-01, 2027-01-01); open deals only:
#   North this month: #9 S CNY 0 (11-20), #12 N EUR 50000 (11-28), #13 N CNY 22000 (11-15) -> 3; CNY 22000, EUR 50000;
#      weighted 22000 x 80 % = 17600, EUR 40000.  (#2 has 2026-11-10 but is won.)
#   North next month: #8 S CNY 40000 (12-15), #11 P USD 6000 (12-05), #16 N CNY 9000 (12-20) -> 3; 40000 + 43200 + 9000 = 92200;
#      weighted 12000 + 4320 + 7200 = 23520.
#   South this month: #31 T CNY 8000 (11-30), #38 S CNY 4500 (11-25) -> 2; 12500; weighted 4000 + 1350 = 5350.
#   South next month: #33 N USD 12000 (12-01), #35 T EUR 6000 (12-31) -> 2; 86400, EUR 6000; weighted 69120, EUR 3000.
#      (#36's 2027-01-10 is after next month.)
# Won amount (final wins in the window): North: CNY #1 10000 + #2 20000 + #19 3000 + #25 5000 + #26 18000 = 56000,
#   USD #17 7000 = 50400 -> 106400; EUR #15 2500 apart.  Lost amount: CNY #6 30000 + #18 11000 + #20 0 + #21 25000 = 66000,
#   USD #3 5000 + #14 1000 = 6000 x 7.2 = 43200 -> 109200.
# Report by rep, deals created in the period: A: CNY #1 10000 #2 20000 #6 30000 #7 15000 #8 40000 #9 0 #13 22000 = 137000,
#   USD #3 5000 #11 6000 #14 1000 = 12000 x 7.2 = 86400 -> 223400; EUR #12 50000 + #15 2500 = 52500 apart.
#   weighted open: #7 4500 + #8 12000 (S 30 %) + #9 0 + #11 43200 x 10 % = 4320 + #13 17600 (N 80 %) = 38420; EUR #12 40000.
#   B: CNY #16 9000 #18 11000 #19 3000 #20 0 #23 16000 #25 5000 #26 18000 = 62000, USD #17 7000 = 50400 -> 112400; EUR #22 4000.
#   weighted open: #16 7200 + #23 1600 = 8800 (#27 none); EUR #22 1200.
#   C: every South deal: 179300, EUR 6000; weighted open 90970, EUR 3000.
# Report won amount (final wins in the period): A #1 10000 + #2 20000 = CNY 30000, #15 EUR 2500 apart;
#   B #17 USD 7000 = 50400 + #19 3000 + #25 5000 + #26 18000 = CNY 76400; C 0.
# Win rate by amount (converted amounts; EUR apart, not in the ratio): North 106400 / (106400 + 109200) = 106400 / 215600
#   = 49.35 % -> "49%".
D = Decimal
MONEY = {
    "North": dict(
        pipeline={P: (3, D("59200.00"), {}, D("5920.00"), {}),
                  S: (4, D("55000.00"), {"EUR": D("4000.00")}, D("16500.00"), {"EUR": D("1200.00")}),
                  T: (1, D("0.00"), {}, D("0.00"), {}),
                  N: (3, D("31000.00"), {"EUR": D("50000.00")}, D("24800.00"), {"EUR": D("40000.00")})},
        total=(11, D("145200.00"), {"EUR": D("54000.00")}, D("47220.00"), {"EUR": D("41200.00")}),
        this_month=(3, D("22000.00"), {"EUR": D("50000.00")}, D("17600.00"), {"EUR": D("40000.00")}),
        next_month=(3, D("92200.00"), {}, D("23520.00"), {}),
        won_amount=(D("106400.00"), {"EUR": D("2500.00")}),
        lost_amount=(D("109200.00"), {}),
    ),
    "South": dict(
        pipeline={P: (7, D("60600.00"), {}, D("6060.00"), {}),
                  S: (2, D("15300.00"), {}, D("4590.00"), {}),
                  T: (2, D("8000.00"), {"EUR": D("6000.00")}, D("4000.00"), {"EUR": D("3000.00")}),
                  N: (2, D("95400.00"), {}, D("76320.00"), {})},
        total=(13, D("179300.00"), {"EUR": D("6000.00")}, D("90970.00"), {"EUR": D("3000.00")}),
        this_month=(2, D("12500.00"), {}, D("5350.00"), {}),
        next_month=(2, D("86400.00"), {"EUR": D("6000.00")}, D("69120.00"), {"EUR": D("3000.00")}),
        won_amount=(D("0.00"), {}),
        lost_amount=(D("0.00"), {}),
    ),
    "report": {A: (D("223400.00"), {"EUR": D("52500.00")}, D("38420.00"), {"EUR": D("40000.00")}),
               B: (D("112400.00"), {"EUR": D("4000.00")}, D("8800.00"), {"EUR": D("1200.00")}),
               C: (D("179300.00"), {"EUR": D("6000.00")}, D("90970.00"), {"EUR": D("3000.00")})},
    "report_won": {A: (D("30000.00"), {"EUR": D("2500.00")}), B: (D("76400.00"), {}), C: (D("0.00"), {})},
    "rate_by_amount": {"North": 106400 / 215600, "South": None},
}

# ----- `/opp export` as the North manager: A's and B's 27 deals ------------------------------------------------------------
# Each close to Lost shows its own reason in the history: "-> lost (Budget)".
# A few rows in full (dates: d40 = 2026-10-21, d50 = 10-11, d55 = 10-06, d60 = 10-01, d76 = 09-15, d80 = 09-11, all 12:00 UTC).
EXPORT_ROWS = 27
EXPORT = {
    "OPP-6": dict(status="lost", stage=T, amount="30000.00", currency="CNY", lost_reason="Went with competitor",
                  history="2026-09-11 12:00:00 created -> Prospect by U0REPA; 2026-09-15 12:00:00 Prospect -> Solution design by U0REPA; "
                          "2026-10-01 12:00:00 Solution design -> lost (Budget) by U0REPA; "
                          "2026-10-06 12:00:00 Solution design (lost) -> Solution design by U0REPA; "
                          "2026-10-11 12:00:00 Solution design -> Technical evaluation by U0REPA; "
                          "2026-10-21 12:00:00 Technical evaluation -> lost (Went with competitor) by U0REPA"),
    # d70 = 09-21, d68 = 09-23, d50 = 10-11, d20 = 11-10
    "OPP-7": dict(status="open", stage=S, amount="15000.00", currency="CNY", lost_reason="",
                  history="2026-09-21 12:00:00 created -> Prospect by U0REPA; 2026-09-23 12:00:00 Prospect -> Solution design by U0REPA; "
                          "2026-10-11 12:00:00 Solution design -> won by U0REPA; "
                          "2026-11-10 12:00:00 Solution design (won) -> Solution design by U0REPA"),
    # d40 = 10-21, d37 = 10-24, d30 = 10-31, d25 = 11-05
    "OPP-8": dict(status="open", stage=S, amount="40000.00", currency="CNY", lost_reason="", expected_close="2026-12-15",
                  history="2026-10-21 12:00:00 created -> Prospect by U0REPA; 2026-10-24 12:00:00 Prospect -> Solution design by U0REPA; "
                          "2026-10-31 12:00:00 Solution design -> Technical evaluation by U0REPA; "
                          "2026-11-05 12:00:00 Technical evaluation -> Solution design by U0REPA"),
    "OPP-10": dict(status="open", stage=P, amount="", currency="CNY", lost_reason="",
                   history="2026-11-24 12:00:00 created -> Prospect by U0REPA"),  # d6 = 11-24
    # d40 = 10-21, d30 = 10-31, d10 = 11-20
    "OPP-19": dict(status="won", stage=N, amount="3000.00", currency="CNY", lost_reason="",
                   history="2026-10-21 12:00:00 created -> Technical evaluation by U0REPB; "
                           "2026-10-31 12:00:00 Technical evaluation -> Negotiation by U0REPB; "
                           "2026-11-20 12:00:00 Negotiation -> won by U0REPB"),
    # d100 = 08-22, d95 = 08-27, d80 = 09-11, d70 = 09-21, d60 = 10-01
    "OPP-21": dict(status="lost", stage=S, amount="25000.00", currency="CNY", lost_reason="Timing",
                   history="2026-08-22 12:00:00 created -> Prospect by U0REPB; 2026-08-27 12:00:00 Prospect -> Solution design by U0REPB; "
                           "2026-09-11 12:00:00 Solution design -> won by U0REPB; "
                           "2026-09-21 12:00:00 Solution design (won) -> Solution design by U0REPB; "
                           "2026-10-01 12:00:00 Solution design -> lost (Timing) by U0REPB"),
}
# statuses of the 27: won 8, lost 8, open 11 (as the funnel's outcomes)
EXPORT_STATUSES = {"won": 8, "lost": 8, "open": 11}
# South's deal #31 as the admin's export shows it (times in the workspace's zone, UTC, to the second): d10 = 11-20, d5 = 11-25, 23 hours before NOW = 11-29 13:00
EXPORT_31 = ("2026-11-20 12:00:00 created -> Prospect by U0REPC; 2026-11-25 12:00:00 Prospect -> Solution design by U0REPC; "
             "2026-11-29 13:00:00 Solution design -> Technical evaluation by U0REPC")

# ----- money as the surfaces write it (the figures above, formatted: "CNY 145,200 + EUR 54,000") ---------------------------
MONEY_TEXT = {
    "North": dict(
        funnel=["Open now: 11 deals · CNY 145,200 + EUR 54,000 · weighted CNY 47,220 + EUR 41,200",
                "49% by amount (CNY 106,400 + EUR 2,500 won)"],
        digest=["*Open pipeline:* 11 deals · CNY 145,200 + EUR 54,000 · weighted CNY 47,220 + EUR 41,200",
                "*Prospect*\\n3 deals · CNY 59,200 · weighted CNY 5,920",
                "*Solution design*\\n4 deals · CNY 55,000 + EUR 4,000 · weighted CNY 16,500 + EUR 1,200",
                "*Technical evaluation*\\n1 deal · CNY 0 · weighted CNY 0",
                "*Negotiation*\\n3 deals · CNY 31,000 + EUR 50,000 · weighted CNY 24,800 + EUR 40,000",
                "*Expected to close this month*\\n3 deals · CNY 22,000 + EUR 50,000 (weighted CNY 17,600 + EUR 40,000)",
                "*Next month*\\n3 deals · CNY 92,200 (weighted CNY 23,520)",
                "49% by amount (CNY 106,400 + EUR 2,500 won)"],
    ),
    "South": dict(
        funnel=["Open now: 13 deals · CNY 179,300 + EUR 6,000 · weighted CNY 90,970 + EUR 3,000"],
        digest=["*Open pipeline:* 13 deals · CNY 179,300 + EUR 6,000 · weighted CNY 90,970 + EUR 3,000",
                "*Prospect*\\n7 deals · CNY 60,600 · weighted CNY 6,060",
                "*Solution design*\\n2 deals · CNY 15,300 · weighted CNY 4,590",
                "*Technical evaluation*\\n2 deals · CNY 8,000 + EUR 6,000 · weighted CNY 4,000 + EUR 3,000",
                "*Negotiation*\\n2 deals · CNY 95,400 · weighted CNY 76,320",
                "*Expected to close this month*\\n2 deals · CNY 12,500 (weighted CNY 5,350)",
                "*Next month*\\n2 deals · CNY 86,400 + EUR 6,000 (weighted CNY 69,120 + EUR 3,000)"],
    ),
    "report": {
        A: "*<@U0REPA>* · 13 deals created · CNY 223,400 + EUR 52,500 · weighted open CNY 38,420 + EUR 40,000 · "
           "won 3 of 6 closed (50%), CNY 30,000 + EUR 2,500 · cycle 20.3 d",
        C: "*<@U0REPC>* · 13 deals created · CNY 179,300 + EUR 6,000 · weighted open CNY 90,970 + EUR 3,000 · none closed",
        B: "*<@U0REPB>* · 10 deals created · CNY 112,400 + EUR 4,000 · weighted open CNY 8,800 + EUR 1,200 · "
           "won 4 of 7 closed (57%), CNY 76,400 · cycle 23.5 d",
    },
    # rep A's App Home, open deals: P #10 (none), #11 USD 6000 = 43200, weighted 4320; S #7 15000 #8 40000 #9 0 = 55000,
    # weighted 16500; N #13 22000 + #12 EUR 50000, weighted 17600 + EUR 40000. In all 7 deals: 43200 + 55000 + 22000 = 120200
    # + EUR 50000; weighted 4320 + 16500 + 17600 = 38420 + EUR 40000 (= the weighted open amount of A's report row: every
    # open deal of A was created in the period).
    "home": {A: ["*Open:* 7 deals · CNY 120,200 + EUR 50,000 · weighted CNY 38,420 + EUR 40,000",
                 "*Prospect* · 2 open · CNY 43,200 · weighted CNY 4,320",
                 "*Solution design* · 3 open · CNY 55,000 · weighted CNY 16,500",
                 "*Negotiation* · 2 open · CNY 22,000 + EUR 50,000 · weighted CNY 17,600 + EUR 40,000"]},
    # the export's amount_in_workspace_currency: #6 CNY 30000 as is; #3 USD 5000 x 7.2 = 36000; #12 EUR: no rate, empty;
    # #10 no amount, empty; #9 CNY 0
    "export": {"OPP-6": "30000.00", "OPP-3": "36000.00", "OPP-12": "", "OPP-10": "", "OPP-9": "0.00"},
}

# ----- the digest's other sections ------------------------------------------------------------------------------------------
# What changed since the digest's `since` (NOW - 1 day = d1, half-open [d1, d0)): North nothing; South #40 created at d1, #31
# moved S -> T 23 hours ago.
DIGEST_CHANGES = {
    "North": "*What changed*\\nNothing since the last digest.",
    "South": ("*What changed*\\n*New (1)*\\n• *OPP-40* Deal 40 (<@U0REPC>)\\n*Advanced (1)*\\n"
              "• *OPP-31* Deal 31 (<@U0REPC>) Solution design → Technical evaluation"),
}
# Reps side by side: deals that ENTERED each stage (visits, credited to the owner at the time = the owner here).
# North team: P 27 - #19 (created in T) = 26; S: the 22 that reached it but #3 (P -> T), #15 (P -> won), #19, #26 (P -> N) = 18;
#   T: #1 #3 #5 #6 #8 #12 #13 #14 #16 #17 #19 #27 = 12; N: #1 #12 #13 #14 #16 #19 #26 = 7.
#   A: P 15; S #1 #2 #4 #5 #6 #7 #8 #9 #12 #13 #14 = 11; T #1 #3 #5 #6 #8 #12 #13 #14 = 8; N #1 #12 #13 #14 = 4.
#   B: P 12 - #19 = 11; S #16 #17 #18 #21 #22 #25 #27 = 7; T #16 #17 #19 #27 = 4; N #16 #19 #26 = 3.
#   A's pointer: finished-visit averages against the team's: P 36/13 = 2.77 vs 74/23 = 3.22 (0.86); S #1 7 #2 27 #4 47 #5 7
#   #6 16 + 5 #7 18 #8 7 #12 7 #13 3 #14 3 = 147/11 = 13.36 vs 204/18 = 11.33 (1.18); T 83/8 = 10.38 vs 118/11 = 10.73 (0.97);
#   N 20/2 = 10 vs 55/4 = 13.75 (0.73) -> Solution design, 1.2x.
#   B's: P 38/10 = 3.8 (1.18); S 57/7 = 8.14 (0.72); T 35/3 = 11.67 (1.09); N #19 20 + #26 15 = 35/2 = 17.5 vs 13.75 (1.27)
#   -> Negotiation, 1.3x.
# South: P 13 - #33 - #38 (created in S) = 11; S #31 #32 #33 #35 #36 #38 #39 = 7; T #31 #33 #35 #36 = 4; N #33 #36 = 2;
#   C alone is the team: the same counts, and no stage slower than the team's.
DIGEST_REPS = {
    "North": ["_Deals entering each stage_ — the team: Prospect 26 · Solution design 18 · Technical evaluation 12 · Negotiation 7",
              "• <@U0REPA>: deals stay 1.2× the team's time in *Solution design*; entered Prospect 15 · Solution design 11 · "
              "Technical evaluation 8 · Negotiation 4",
              "• <@U0REPB>: deals stay 1.3× the team's time in *Negotiation*; entered Prospect 11 · Solution design 7 · "
              "Technical evaluation 4 · Negotiation 3"],
    "South": ["_Deals entering each stage_ — the team: Prospect 11 · Solution design 7 · Technical evaluation 4 · Negotiation 2",
              "• <@U0REPC>: keeps the team's pace in every stage; entered Prospect 11 · Solution design 7 · Technical evaluation 4 · "
              "Negotiation 2"],
}

# =============================================================================================================================
# RENEWALS: the second pipeline (#41-#53, reps D and E of Accounts), worked out by hand from the table above, with
# `Scope(pipeline_id=Renewals)`: the deals now in Renewals and, of their history, only the visits to its stages. RD, Q, RN
# as above. #47 counts here from its move (d9, into Q) on: its Sales visits (P d40-d35, S d35-d20, T d20-d9) are not
# Renewals'; in Renewals its furthest stage is Q (T, ranked higher in Sales, is another pipeline's).
# =============================================================================================================================

# ----- the funnel --------------------------------------------------------------------------------------------------------------
# Furthest Renewals stage / ever won, of the 13:
#   ever won (all three stages): #41 #42 (skipped Q) #44 #49 (won from RD);  furthest RN: #46, #48 (back in Q now);
#   furthest Q: #43 #47 (moved in at Q) #50 (created in Q) #53 (created in Q);  RD only: #45 #51 #52.
#   reached RD = 13 (#47 #50 #53 reached a later stage: RD too); Q = 13 - 3 (RD only) = 10; RN = 10 - 4 (Q only) = 6 (4 won + 2).
#   won now: #41 #42 #44 #49 = 4;  lost now: #43 #45 #50 = 3;  open: #46 #47 #48 #51 #52 #53 = 6.  4 + 3 + 6 = 13.
# D (#41-#46, #52, #53 = 8): won #41 #42 #44, RN #46, Q #43 #53, RD only #45 #52 -> RD 8, Q 8 - 2 = 6, RN 6 - 2 = 4; won 3;
#   lost #43 #45 = 2.
# E (#47-#51 = 5): won #49, RN #48, Q #47 #50, RD only #51 -> RD 5, Q 5 - 1 = 4, RN 4 - 2 = 2; won 1; lost #50 = 1.
#   (D + E: 13, 10, 6, won 4, lost 3.)
# Conversions: RD -> Q 10/13 = 76.9 %; Q -> RN 6/10 = 60 %; RN -> Won 4/6 = 66.7 %.
RENEWALS_FUNNEL = {
    "Accounts": dict(reached=[13, 10, 6], won=4, lost=3, rates=[10 / 13, 6 / 10, 4 / 6]),
    REP_D: dict(reached=[8, 6, 4], won=3, lost=2, rates=[6 / 8, 4 / 6, 3 / 4]),
    REP_E: dict(reached=[5, 4, 2], won=1, lost=1, rates=[4 / 5, 2 / 4, 1 / 2]),
}

# ----- win rate, last 90 days [d90, d0): deals whose latest change is a win or a loss in it ------------------------------------
# won #41 (d10) #42 (d35) #49 (d18) = 3 (#44, won d120, is before the window); lost #43 (d40) #50 (d5) = 2 (#45: d100).
# 3 / (3 + 2) = 3/5 = 60 %.  D: won #41 #42, lost #43 -> 2/3.  E: won #49, lost #50 -> 1/2.
# By amount: won CNY #41 10000 + #42 20000 + #49 4000 = 34000; lost #43 USD 5000 x 7.2 = 36000 + #50 CNY 9000 = 45000;
#   34000 / (34000 + 45000) = 34000 / 79000 = 43.04 %.
# Cycle (creation to the win, over the same wins): #41 40 - 10 = 30; #42 50 - 35 = 15; #49 20 - 18 = 2 -> 47 / 3 = 15.667;
#   D (30 + 15) / 2 = 22.5; E 2 / 1 = 2.
# Lost reasons (every change to Lost in the window): No budget #50 = 1, Price #43 = 1 (#45's Price, d100, is before it);
#   ties by reason.
RENEWALS_WIN_RATE = {
    "Accounts": dict(won=3, lost=2, rate=3 / 5, won_amount=Decimal("34000.00"),
                     lost_amount=Decimal("45000.00"), by_amount=34000 / 79000, cycle=(3, 47 / 3),
                     reasons=[("No budget", 1), ("Price", 1)]),
    REP_D: dict(won=2, lost=1, rate=2 / 3, cycle=(2, 45 / 2)),
    REP_E: dict(won=1, lost=1, rate=1 / 2, cycle=(1, 2.0)),
}

# ----- time in stage (visits to Renewals' stages; ongoing ones until NOW) --------------------------------------------------------
# RD: finished #41 40-30 = 10, #42 50-45 = 5, #43 60-50 = 10, #44 150-140 = 10, #45 130-100 = 30, #46 30-25 = 5, #48 35-30 = 5,
#   #49 20-18 = 2 -> 8 finished, sum 77, average 77/8 = 9.625; sorted 2 5 5 [5 10] 10 10 30: median (5 + 10)/2 = 7.5.
#   Ongoing #51 31, #52 30 -> 10 visits, sum 77 + 61 = 138, average 13.8; sorted 2 5 5 5 [10 10] 10 30 30 31: median 10.
# Q: finished #41 30-20 = 10, #43 50-40 = 10, #44 140-120 = 20, #46 25-12 = 13, #48 30-25 = 5 (its first visit), #50 25-5 = 20
#   -> 6 finished, sum 78, average 13; sorted 5 10 [10 13] 20 20: median 11.5.
#   Ongoing #47 9 (since the move), #48 8 (its second visit, since d8), #53 5 -> 9 visits, sum 78 + 22 = 100, average 100/9 =
#   11.111; sorted 5 5 8 9 [10] 10 13 20 20: median 10.
# RN: finished #41 20-10 = 10, #42 45-35 = 10, #48 25-8 = 17 -> 3, sum 37, average 37/3 = 12.333, median 10.
#   Ongoing #46 12 -> 4 visits, sum 49, average 12.25; sorted 10 [10 12] 17: median 11.
# Norms: 8, 6 and 3 finished visits, fewer than 10 each: none usable, so only max_days flags a Renewals deal.
RENEWALS_DWELL = {  # stage: (visits, average, median, finished visits, finished average, finished median)
    RD: (10, 138 / 10, 10.0, 8, 77 / 8, 7.5),
    Q: (9, 100 / 9, 10.0, 6, 78 / 6, 11.5),
    RN: (4, 49 / 4, 11.0, 3, 37 / 3, 10.0),
}
RENEWALS_NORMS = {RD: (8, 7.5), Q: (6, 11.5), RN: (3, 10.0)}  # (finished visits, their median): none usable (< 10 visits)

# ----- stalled: whole days in the current stage > max_days (no usable norm); the longest first ---------------------------------
# #51 RD 31 > 30; #46 RN 12 > 10 (in Sales' Negotiation, max_days 21, 12 days would not be stalled).
# Not stalled: #52 RD 30 (= max_days); #47 Q 9 (entered at its move, d9); #48 Q 8 (back in Q at d8); #53 Q 5.
RENEWALS_STALLED = [(51, 31, "max_days"), (46, 12, "max_days")]

# ----- open pipeline per stage, weighted by Renewals' probabilities; expected closes ---------------------------------------------
# RD: #51 7000 + #52 3000 -> 2 deals, 10000; weighted 40 %: 4000.
# Q: #47 15000 + #48 12000 + #53 (none) -> 3 deals, 27000; weighted 70 %: 18900.
# RN: #46 30000 -> 1 deal, 30000; weighted 90 %: 27000.   Total 6 deals, 67000; weighted 49900.
# This month, November: #47 Q 15000 (11-25), #51 RD 7000 (11-15) -> 2, 22000; weighted 10500 + 2800 = 13300 (#49, 11-20: won).
# Next month, December: #46 RN 30000 (12-10), #48 Q 12000 (12-20) -> 2, 42000; weighted 27000 + 8400 = 35400.
#   (#52's 2027-01-05 is after next month.)
RENEWALS_MONEY = {
    "pipeline": {RD: (2, Decimal("10000.00"), Decimal("4000.00")), Q: (3, Decimal("27000.00"), Decimal("18900.00")), RN: (1, Decimal("30000.00"), Decimal("27000.00"))},
    "this_month": (2, Decimal("22000.00"), Decimal("13300.00")),
    "next_month": (2, Decimal("42000.00"), Decimal("35400.00")),
}

# ----- `/opp report by rep last 90 days`, Renewals ([d89.5, d-0.5)) -----------------------------------------------------------
# Created in the period: D #41 (d40) #42 (d50) #43 (d60) #46 (d30) #52 (d30) #53 (d5) = 6 (#44 d150, #45 d130: before);
#   E #47 (d40, created in Sales but a Renewals deal now) #48 #49 #50 #51 = 5.  Order: D (6), E (5).
# Final closes in the period: D won #41 #42, lost #43 -> 2 of 3; E won #49, lost #50 -> 1 of 2.
RENEWALS_REPORT = [(REP_D, 6, 2, 1), (REP_E, 5, 1, 1)]  # (rep, created, won, lost)

# ----- Sales, the whole workspace (no owner filter): North + South, and not one Renewals deal --------------------------------------
# Every Sales deal is North's or South's, so each figure is the sum of theirs above: reached P 27 + 13 = 40, S 22 + 7 = 29,
# T 18 + 4 = 22, N 14 + 2 = 16; won 8 + 0, lost 8 + 0; win rate 7 + 0 won, 6 + 0 lost; open per stage P 3 + 7 = 10, S 4 + 2 = 6,
# T 1 + 2 = 3, N 3 + 2 = 5; visits per stage P 26 + 12 = 38, S 22 + 7 = 29, T 12 + 4 = 16, N 7 + 2 = 9.
# #47 would make P 41, S 30 and T 23 (reached, and visits P 39, S 30, T 17) if a deal that left Sales still counted there.
SALES_WORKSPACE = dict(reached=[40, 29, 22, 16], won=8, lost=8, win_rate=(7, 6), open=[10, 6, 3, 5], visits=[38, 29, 16, 9])
