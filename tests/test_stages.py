"""Unit tests for bot/domain/stages.py: resolving stages and who may see / change an opportunity."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from bot.deals.views import EN
from bot.domain.stages import (
    can_change,
    can_view,
    check_change,
    describe_move,
    resolve_stage,
    valid_stages_text,
)
from bot.domain.values import (
    LOST,
    OPEN,
    WON,
    Actor,
    Forbidden,
    Invalid,
    OpportunityView,
    Pipeline,
    Pipelines,
    StageInfo,
)

MODEL = Pipeline((
    StageInfo(id=11, position=1, name="Prospect", probability=10, max_days=14),
    StageInfo(id=12, position=2, name="Solution design", probability=30, max_days=21),
    StageInfo(id=13, position=3, name="Technical evaluation", probability=50, max_days=30),
    StageInfo(id=14, position=4, name="Negotiation", probability=80, max_days=21),
), retired=(StageInfo(id=5, position=0, name="Qualification", probability=5, max_days=10),))

# two stages that start alike
ALIKE = Pipeline((
    StageInfo(id=21, position=1, name="Prospect", probability=10, max_days=14),
    StageInfo(id=22, position=2, name="Technical evaluation", probability=40, max_days=30),
    StageInfo(id=23, position=3, name="Technical review", probability=60, max_days=30),
    StageInfo(id=24, position=4, name="Negotiation", probability=80, max_days=21),
))

VALID = "1. Prospect, 2. Solution design, 3. Technical evaluation, 4. Negotiation"

T = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
TEAM = "T0TEST"

OPP = OpportunityView(
    id=7, team_id=TEAM, number=7, name="Acme renewal", customer="Acme", amount=None, currency="USD",
    close_date=None, stage_id=12, status=OPEN, owner_id="U0REP1", created_by="U0SDR",
    created_at=T, updated_at=T, stage_entered_at=T,
)

OWNER = Actor(TEAM, "U0REP1")
OTHER_REP = Actor(TEAM, "U0REP2")
CREATOR = Actor(TEAM, "U0SDR")
MANAGER = Actor(TEAM, "U0MGR", managed_user_ids=frozenset({"U0REP1", "U0REP2"}))
OTHER_MANAGER = Actor(TEAM, "U0MGR2", managed_user_ids=frozenset({"U0REP9"}))
ADMIN = Actor(TEAM, "U0ADMIN", is_admin=True)


# --------------------------------------------------------------------------- resolve_stage


@pytest.mark.parametrize("query, stage_id", [("1", 11), ("2", 12), (" 3 ", 13), ("4", 14)])
def test_resolve_by_number(query, stage_id):
    assert resolve_stage(query, MODEL).id == stage_id


@pytest.mark.parametrize("query, stage_id", [
    ("Prospect", 11),
    ("Solution design", 12),
    ("solution DESIGN", 12),
    ("  technical    evaluation ", 13),
])
def test_resolve_by_exact_name(query, stage_id):
    assert resolve_stage(query, MODEL).id == stage_id


@pytest.mark.parametrize("query, stage_id", [("nego", 14), ("NEG", 14), ("tech", 13), ("p", 11), ("solution d", 12)])
def test_resolve_by_unique_prefix(query, stage_id):
    assert resolve_stage(query, MODEL).id == stage_id


def test_exact_name_wins_over_a_longer_stage_with_the_same_start():
    model = Pipeline((
        StageInfo(id=1, position=1, name="Demo", probability=10, max_days=14),
        StageInfo(id=2, position=2, name="Demo follow-up", probability=20, max_days=14),
    ))
    assert resolve_stage("demo", model).id == 1
    assert resolve_stage("demo f", model).id == 2


def test_ambiguous_prefix_lists_the_candidates():
    with pytest.raises(Invalid) as info:
        resolve_stage("Tech", ALIKE)
    assert str(info.value) == ("“Tech” matches several stages (Technical evaluation, Technical review); "
                               "type more of the name.")
    assert resolve_stage("technical r", ALIKE).id == 23


def test_unknown_stage_lists_the_valid_stages():
    with pytest.raises(Invalid) as info:
        resolve_stage("closing", MODEL)
    assert str(info.value) == f"Unknown stage “closing”. Valid stages: {VALID}."


def test_retired_stages_are_not_resolved():
    with pytest.raises(Invalid) as info:
        resolve_stage("Qualification", MODEL)
    assert str(info.value).startswith("Unknown stage “Qualification”.")


@pytest.mark.parametrize("query", ["0", "5", "99"])
def test_number_out_of_range(query):
    with pytest.raises(Invalid) as info:
        resolve_stage(query, MODEL)
    assert str(info.value) == f"There is no stage {int(query)}. Valid stages: {VALID}."


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query(query):
    with pytest.raises(Invalid) as info:
        resolve_stage(query, MODEL)
    assert str(info.value) == f"Which stage? Valid stages: {VALID}."


def test_superscript_digit_is_an_unknown_stage_not_a_crash():
    with pytest.raises(Invalid):
        resolve_stage("²", MODEL)


def test_valid_stages_text():
    assert valid_stages_text(MODEL) == VALID


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("actor", [OWNER, MANAGER, ADMIN], ids=["owner", "manager", "admin"])
def test_owner_manager_admin_can_view_and_change(actor):
    assert can_view(actor, OPP)
    assert can_change(actor, OPP)
    check_change(actor, OPP)  # does not raise


@pytest.mark.parametrize("actor", [OTHER_REP, OTHER_MANAGER], ids=["other rep", "other team's manager"])
def test_others_are_refused(actor):
    assert not can_view(actor, OPP)
    assert not can_change(actor, OPP)
    with pytest.raises(Forbidden) as info:
        check_change(actor, OPP)
    assert str(info.value) == "You can't change OPP-7: it belongs to <@U0REP1>; only they, their manager or an admin can."


def test_creator_can_view_but_not_change():
    assert can_view(CREATOR, OPP)
    assert not can_change(CREATOR, OPP)
    with pytest.raises(Forbidden) as info:
        check_change(CREATOR, OPP)
    assert "it belongs to <@U0REP1>" in str(info.value)


@pytest.mark.parametrize("status", [WON, LOST])
def test_owner_rep_cannot_reopen_a_closed_deal(status):
    closed = replace(OPP, status=status)
    with pytest.raises(Forbidden) as info:
        check_change(OWNER, closed)
    assert str(info.value) == f"You can't reopen OPP-7: it is already {status}; only a manager or an admin can."


@pytest.mark.parametrize("status", [WON, LOST])
@pytest.mark.parametrize("actor", [MANAGER, ADMIN], ids=["manager", "admin"])
def test_manager_and_admin_can_reopen(actor, status):
    check_change(actor, replace(OPP, status=status))  # does not raise


@pytest.mark.parametrize("status", [WON, LOST])
def test_other_rep_on_a_closed_deal_gets_the_ownership_message(status):
    with pytest.raises(Forbidden) as info:
        check_change(OTHER_REP, replace(OPP, status=status))
    assert "it belongs to <@U0REP1>" in str(info.value)


def test_manager_that_owns_the_deal_is_the_owner():
    mine = replace(OPP, owner_id="U0MGR")
    assert can_change(MANAGER, mine)
    with pytest.raises(Forbidden):
        check_change(MANAGER, replace(mine, status=WON))  # the manager is not their own manager


def test_is_manager():
    assert MANAGER.is_manager and not OWNER.is_manager and not ADMIN.is_manager


# --------------------------------------------------------------------------- describe_move


@pytest.mark.parametrize("args, text", [
    ((None, None, 11, OPEN), "created in Prospect"),
    ((11, OPEN, 12, OPEN), "Prospect → Solution design"),
    ((14, OPEN, 14, WON), "marked Won"),
    ((13, OPEN, 13, LOST), "marked Lost"),
    ((14, WON, 12, OPEN), "reopened in Solution design"),
    ((13, LOST, 11, OPEN), "reopened in Prospect"),
    ((5, OPEN, 11, OPEN), "Qualification → Prospect"),  # a retired stage still has its name
    ((99, OPEN, 11, OPEN), "? → Prospect"),
])
def test_describe_move(args, text):
    assert describe_move(Pipelines((MODEL,)), *args, t=EN) == text
