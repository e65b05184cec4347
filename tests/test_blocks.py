"""Unit tests for the Block Kit views (bot/*/views.py, bot/slack/blocks.py), checked against Slack's limits with tests/fakeslack.py."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from bot.deals.forms import FormChoices, currencies_for
from bot.deals.views import (
    EN,
    ListPage,
    details_modal,
    list_blocks,
    lost_reason_modal,
    new_opportunity_modal,
    opportunity_card,
    read_page_button,
)
from bot.domain.money import Rates
from bot.domain.values import (
    LOST,
    OPEN,
    WON,
    HistoryEntry,
    Invalid,
    OpportunityView,
    Pipeline,
    Pipelines,
    StageInfo,
)
from bot.home.service import HOME_ITEMS
from bot.home.views import home_view
from bot.i18n import translator
from bot.slack.blocks import clip, escape, format_amount
from bot.slack.commands import HELP_LINES
from bot.slack.help import help_blocks
from bot.slack.ids import (
    CARD_MORE,
    DETAILS_BUTTON,
    DETAILS_MODAL,
    HOME_NEW_BUTTON,
    LIST_PAGE_BUTTON,
    LOST_BUTTON,
    LOST_MODAL,
    NEW_MODAL,
    STAGE_SELECT,
    WON_BUTTON,
)
from storage.analytics import StagePipeline
from tests.fakeslack import check_blocks, check_view

STAGES = Pipeline((
    StageInfo(id=11, position=1, name="Prospect", probability=10, max_days=14),
    StageInfo(id=12, position=2, name="Solution design", probability=30, max_days=21),
    StageInfo(id=13, position=3, name="Technical evaluation", probability=50, max_days=30),
    StageInfo(id=14, position=4, name="Negotiation", probability=80, max_days=21),
))
STAGE_IDS = [s.id for s in STAGES.stages]

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=timezone.utc)
CREATED = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)


def make_opp(**changes) -> OpportunityView:
    base = OpportunityView(
        id=7, team_id="T0TEST", number=12, name="Acme renewal", customer="Acme Corp",
        amount=Decimal("12500.50"), currency="USD", close_date=date(2026, 12, 31), stage_id=12, status=OPEN,
        owner_id="U0REP1", created_by="U0REP1", created_at=CREATED, updated_at=CREATED,
        stage_entered_at=NOW - timedelta(days=3, hours=5),
    )
    return replace(base, **changes)


def texts(obj) -> list[str]:
    """Every mrkdwn text in a block structure (where Slack parses mentions)."""
    found: list[str] = []
    if isinstance(obj, dict):
        if obj.get("type") == "mrkdwn":
            found.append(obj["text"])
        for value in obj.values():
            found.extend(texts(value))
    elif isinstance(obj, list):
        for value in obj:
            found.extend(texts(value))
    return found


def all_text(obj) -> str:
    return "\n".join(texts(obj))


def by_type(blocks: list[dict], kind: str) -> list[dict]:
    return [b for b in blocks if b["type"] == kind]


def controls(blocks: list[dict]) -> list[dict]:
    actions = by_type(blocks, "actions")
    assert len(actions) == 1
    return actions[0]["elements"]


def fields_of(blocks: list[dict]) -> list[str]:
    return [f["text"] for b in blocks if b["type"] == "section" for f in b.get("fields", [])]


def stage_path_text(blocks: list[dict]) -> str:
    contexts = [c for c in by_type(blocks, "context") if "›" in c["elements"][0]["text"]]
    assert len(contexts) == 1
    return contexts[0]["elements"][0]["text"]


# --------------------------------------------------------------------------- small helpers


@pytest.mark.parametrize("amount, currency, text", [
    (None, "USD", "—"),
    (Decimal("12500"), "USD", "USD 12,500"),
    (Decimal("12500.00"), "USD", "USD 12,500"),
    (Decimal("12500.50"), "EUR", "EUR 12,500.50"),
    (Decimal("0.5"), "GBP", "GBP 0.50"),
    (Decimal("1000000000000.00"), "JPY", "JPY 1,000,000,000,000"),
    (Decimal("0"), "USD", "USD 0"),
])
def test_format_amount(amount, currency, text):
    assert format_amount(amount, currency) == text


def modal_of(opp, stages, entries, now):
    return details_modal(opportunity_card(opp, Pipelines((stages,)), now, t=EN), opp, Pipelines((stages,)), entries, now, t=EN)


def test_escape():
    assert escape("a & b <c> d > e") == "a &amp; b &lt;c&gt; d &gt; e"
    assert escape("<!channel> <@U1>") == "&lt;!channel&gt; &lt;@U1&gt;"
    assert escape("&amp;") == "&amp;amp;"  # user text is escaped as typed
    assert escape("plain") == "plain"


def test_clip():
    assert clip("abc", 3) == "abc"
    assert clip("abcd", 3) == "ab…"
    assert len(clip("x" * 5000, 3000)) == 3000
    assert clip("", 5) == ""


# --------------------------------------------------------------------------- opportunity card


def test_open_card_fields_and_header():
    blocks = opportunity_card(make_opp(industry="Finance", region="East", company_size="51-500", source="referral"), Pipelines((STAGES,)), NOW, t=EN)
    assert check_blocks(blocks, "message") == []
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "OPP-12 · Acme renewal", "emoji": True}}
    assert fields_of(blocks) == [
        "*Customer*\nAcme Corp",
        "*Amount*\nUSD 12,500.50",
        "*Owner*\n<@U0REP1>",
        "*Expected close*\n2026-12-31",
        "*Stage*\nSolution design · 3 days in stage",
        "*Segment*\nFinance · East · 51-500",
        "*Source*\nreferral",
    ]


def test_card_without_optional_values():
    blocks = opportunity_card(make_opp(amount=None, close_date=None), Pipelines((STAGES,)), NOW, t=EN)
    fields = fields_of(blocks)
    assert "*Amount*\n—" in fields
    assert "*Expected close*\n—" in fields
    assert not any(f.startswith(("*Segment*", "*Source*")) for f in fields)


@pytest.mark.parametrize("entered, days", [
    (NOW, "0 days"),
    (NOW - timedelta(hours=23, minutes=59), "0 days"),
    (NOW - timedelta(days=1), "1 day"),
    (NOW - timedelta(days=45, hours=1), "45 days"),
    (NOW + timedelta(hours=2), "0 days"),  # clock skew never shows negative days
])
def test_days_in_stage_computed_from_now(entered, days):
    blocks = opportunity_card(make_opp(stage_entered_at=entered), Pipelines((STAGES,)), NOW, t=EN)
    assert f"*Stage*\nSolution design · {days} in stage" in fields_of(blocks)


def test_stage_path_marks_the_current_stage():
    blocks = opportunity_card(make_opp(stage_id=13), Pipelines((STAGES,)), NOW, t=EN)
    assert stage_path_text(blocks) == "Prospect › Solution design › *[Technical evaluation]* › Negotiation"


def test_stage_path_escapes_stage_names():
    stages = Pipeline((StageInfo(1, 1, "R&D <review>", 10, 14), StageInfo(2, 2, "Close", 50, 14)))
    blocks = opportunity_card(make_opp(stage_id=1), Pipelines((stages,)), NOW, t=EN)
    assert stage_path_text(blocks) == "*[R&amp;D &lt;review&gt;]* › Close"


def test_open_card_controls():
    elements = controls(opportunity_card(make_opp(stage_id=13), Pipelines((STAGES,)), NOW, t=EN))
    select = elements[0]
    assert select["type"] == "static_select" and select["action_id"] == STAGE_SELECT
    assert [o["value"] for o in select["options"]] == ["7:11", "7:12", "7:13", "7:14"]
    assert [o["text"]["text"] for o in select["options"]] == ["1. Prospect", "2. Solution design",
                                                              "3. Technical evaluation", "4. Negotiation"]
    assert select["initial_option"] == select["options"][2]
    assert select["initial_option"]["value"] == "7:13"
    # three controls in sight (the select, Won, Lost), the rest in the More menu
    assert [e["type"] for e in elements] == ["static_select", "button", "button", "overflow"]
    buttons = {e["action_id"]: e for e in elements[1:3]}
    assert set(buttons) == {WON_BUTTON, LOST_BUTTON}
    assert [buttons[a]["value"] for a in (WON_BUTTON, LOST_BUTTON)] == ["7", "7"]
    assert buttons[WON_BUTTON]["text"]["text"] == "Won" and buttons[LOST_BUTTON]["text"]["text"] == "Lost"
    more = elements[3]
    assert more["action_id"] == CARD_MORE
    assert [(o["text"]["text"], o["value"]) for o in more["options"]] == [
        ("Add follow-up", "add_follow_up:7"), ("Needs an owner", "needs_owner:7"), ("Details", f"{DETAILS_BUTTON}:7")]


@pytest.mark.parametrize("status", [WON, LOST])
def test_closed_card_controls(status):
    elements = controls(opportunity_card(make_opp(status=status, closed_at=NOW, lost_reason="x"), Pipelines((STAGES,)), NOW, t=EN))
    select = elements[0]
    assert select["action_id"] == STAGE_SELECT
    assert "initial_option" not in select
    assert select["placeholder"]["text"] == "Reopen in stage…"
    actions = [e["action_id"] for e in elements[1:]]
    assert WON_BUTTON not in actions and LOST_BUTTON not in actions
    assert DETAILS_BUTTON in actions
    assert [e["value"] for e in elements[1:] if e["action_id"] == DETAILS_BUTTON] == ["7"]


def test_won_card():
    blocks = opportunity_card(make_opp(status=WON, closed_at=NOW), Pipelines((STAGES,)), NOW, t=EN)
    assert check_blocks(blocks, "message") == []
    assert stage_path_text(blocks) == "Prospect › Solution design › Technical evaluation › Negotiation"  # the path is the open stages only
    status = [f for f in fields_of(blocks) if f.startswith("*Status*")]
    assert len(status) == 1 and status[0].startswith("*Status*\nWon :trophy: on <!date^")
    assert not any(f.startswith("*Stage*") for f in fields_of(blocks))
    assert "Lost because" not in all_text(blocks)


def test_lost_card_shows_the_reason():
    blocks = opportunity_card(make_opp(status=LOST, closed_at=NOW, lost_reason="too expensive & slow"), Pipelines((STAGES,)), NOW, t=EN)
    assert check_blocks(blocks, "message") == []
    assert stage_path_text(blocks) == "Prospect › Solution design › Technical evaluation › Negotiation"
    assert any(f.startswith("*Status*\nLost on <!date^") for f in fields_of(blocks))
    assert {"type": "section", "text": {"type": "mrkdwn", "text": "*Lost because:* too expensive &amp; slow"}} in blocks


def test_next_step_notes_and_tags():
    blocks = opportunity_card(make_opp(next_step="Call CFO", notes="Budget ok", found="unexpected", reach="strategic",
                                       visibility="latent", change_kind="time_bound"), Pipelines((STAGES,)), NOW, t=EN)
    text = all_text(blocks)
    assert "*Next step:* Call CFO" in text
    assert "*Notes:* Budget ok" in text
    assert "Tags: Unexpected · Strategic · Latent · Time-bound" in text


def test_user_text_is_escaped():
    nasty = "<!channel> & <@U1>"
    opp = make_opp(name=nasty, customer=nasty, lost_reason=nasty, next_step=nasty, notes=nasty, source=nasty,
                   industry=nasty, status=LOST, closed_at=NOW)
    blocks = opportunity_card(opp, Pipelines((STAGES,)), NOW, t=EN)
    text = all_text(blocks)
    assert "<!channel>" not in text
    assert "<@U1>" not in text
    assert " & " not in text
    assert text.count("&lt;!channel&gt; &amp; &lt;@U1&gt;") == 6  # customer, segment, source, reason, next step, notes
    assert "<@U0REP1>" in text  # the owner mention is ours, and stays a mention


def test_long_name_and_notes_stay_within_limits():
    opp = make_opp(name="N" * 150, customer="&" * 150, notes="&" * 3000, next_step="<" * 500, source="s" * 100)
    blocks = opportunity_card(opp, Pipelines((STAGES,)), NOW, t=EN)
    assert check_blocks(blocks, "message") == []
    header = blocks[0]["text"]["text"]
    assert len(header) <= 150 and header.startswith("OPP-12 · NNN") and header.endswith("…")
    notes = [t for t in texts(blocks) if t.startswith("*Notes:*")]
    assert len(notes) == 1 and len(notes[0]) <= 3000


def test_card_for_many_stages_stays_within_limits():
    stages = Pipeline(tuple(StageInfo(i, i, f"Stage number {i} " + "x" * 20, 10, 14) for i in range(1, 21)))
    blocks = opportunity_card(make_opp(stage_id=20), Pipelines((stages,)), NOW, t=EN)
    assert check_blocks(blocks, "message") == []
    assert len(controls(blocks)[0]["options"]) == 20


# --------------------------------------------------------------------------- new opportunity modal

BLOCK_IDS = ["name", "customer", "amount", "currency", "close_date", "stage", "owner", "industry", "region",
             "company_size", "source", "found", "reach", "visibility", "change_kind", "next_step", "notes"]
REQUIRED = {"name", "customer", "currency", "stage"}  # an empty owner asks the manager to assign


def choices(**changes) -> FormChoices:
    base = FormChoices(stages=STAGES, currencies=currencies_for("EUR"), industries=("Healthcare", "Finance"),
                       regions=("North", "East"), company_sizes=("1-50", "51-500"))
    return replace(base, **changes)


def block(view: dict, block_id: str) -> dict:
    matches = [b for b in view["blocks"] if b.get("block_id") == block_id]
    assert len(matches) == 1, block_id
    return matches[0]


def test_new_opportunity_modal_is_valid():
    view = new_opportunity_modal(choices(), owner_id="U0REP2", metadata={"channel": "C0X"}, t=EN)
    assert check_view(view) == []
    assert view["type"] == "modal"
    assert view["callback_id"] == NEW_MODAL
    assert [b["block_id"] for b in view["blocks"]] == BLOCK_IDS
    assert all(b["type"] == "input" for b in view["blocks"])
    assert {b["block_id"] for b in view["blocks"] if not b["optional"]} == REQUIRED
    assert json.loads(view["private_metadata"]) == {"channel": "C0X"}


def test_new_opportunity_modal_initial_values():
    view = new_opportunity_modal(choices(), owner_id="U0REP2", metadata={}, t=EN)
    assert block(view, "owner")["element"] == {"type": "users_select", "action_id": "value", "initial_user": "U0REP2"}
    stage = block(view, "stage")["element"]
    assert [o["value"] for o in stage["options"]] == ["11", "12", "13", "14"]
    assert stage["initial_option"]["value"] == "11"
    assert stage["initial_option"]["text"]["text"] == "1. Prospect"
    currency = block(view, "currency")["element"]
    assert currency["initial_option"]["value"] == "EUR"
    assert [o["value"] for o in currency["options"]] == list(currencies_for("EUR"))
    assert "initial_value" not in block(view, "name")["element"]
    assert block(view, "notes")["element"]["multiline"] is True


def test_new_opportunity_modal_prefill_and_text_limits():
    view = new_opportunity_modal(choices(), owner_id="U0REP1", metadata={}, name="x" * 200, notes="Met at the fair", t=EN)
    name = block(view, "name")["element"]
    assert name["max_length"] == 150 and name["initial_value"] == "x" * 150
    assert block(view, "notes")["element"]["initial_value"] == "Met at the fair"
    assert block(view, "notes")["element"]["max_length"] == 3000
    assert block(view, "customer")["element"]["max_length"] == 150
    assert block(view, "source")["element"]["max_length"] == 100
    assert block(view, "next_step")["element"]["max_length"] == 500
    assert check_view(view) == []


def test_new_opportunity_modal_tag_values_match_the_validator():
    view = new_opportunity_modal(choices(), owner_id="U0REP1", metadata={}, t=EN)
    assert [o["value"] for o in block(view, "found")["element"]["options"]] == ["foreseen", "unexpected"]
    assert [o["value"] for o in block(view, "reach")["element"]["options"]] == ["strategic", "tactical"]
    assert [o["value"] for o in block(view, "visibility")["element"]["options"]] == ["explicit", "latent"]
    assert [o["value"] for o in block(view, "change_kind")["element"]["options"]] == [
        "political", "economic", "seasonal", "time_bound", "other"]
    assert [o["value"] for o in block(view, "industry")["element"]["options"]] == ["Healthcare", "Finance"]


def test_more_than_100_industries_are_capped():
    industries = tuple(f"Industry {i:03d}" for i in range(150))
    view = new_opportunity_modal(choices(industries=industries), owner_id="U0REP1", metadata={}, t=EN)
    options = block(view, "industry")["element"]["options"]
    assert len(options) == 100
    assert options[0]["value"] == "Industry 000" and options[-1]["value"] == "Industry 099"
    assert check_view(view) == []


# --------------------------------------------------------------------------- lost reason modal


def test_lost_reason_modal():
    view = lost_reason_modal(make_opp(name="<!here> & co", customer="A&B"), {"opp": 7}, t=EN)
    assert check_view(view) == []
    assert view["callback_id"] == LOST_MODAL
    assert json.loads(view["private_metadata"]) == {"opp": 7}
    assert view["blocks"][0]["text"]["text"] == "*OPP-12 · &lt;!here&gt; &amp; co* (A&amp;B)"
    reason = block(view, "reason")
    assert reason["type"] == "input"
    assert reason["element"]["max_length"] == 500 and reason["element"]["multiline"] is True


def test_lost_reason_modal_long_name():
    view = lost_reason_modal(make_opp(name="&" * 150, customer="<" * 150), {}, t=EN)
    assert check_view(view) == []


# --------------------------------------------------------------------------- details modal


def history(n: int) -> list[HistoryEntry]:
    entries = [HistoryEntry(None, None, 11, OPEN, "U0REP1", CREATED)]
    for i in range(1, n):
        frm, to = STAGE_IDS[(i - 1) % 4], STAGE_IDS[i % 4]
        entries.append(HistoryEntry(frm, OPEN, to, OPEN, "U0MGR" if i % 2 else "U0REP1", CREATED + timedelta(hours=i)))
    return entries


def section_texts(view: dict) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "section" and "text" in b]


def test_details_modal_with_500_history_entries():
    entries = history(500)
    view = modal_of(make_opp(notes="&" * 3000), STAGES, entries, NOW)
    assert check_view(view) == []
    assert len(view["blocks"]) <= 100
    assert all(len(t) <= 3000 for t in section_texts(view))
    assert not by_type(view["blocks"], "actions")  # no controls in the modal
    text = all_text(view["blocks"])
    assert "*Stage history*" in text
    assert "created in Prospect" in text
    last = entries[-1]
    assert f"<!date^{int(last.changed_at.timestamp())}^" in text  # the latest change is there
    assert text.count("Solution design → Technical evaluation") == 125
    assert "older changes omitted" not in text


def test_details_modal_shows_full_notes_once():
    notes = "Budget " * 300  # 2100 characters: more than the card's 600
    view = modal_of(make_opp(notes=notes.strip()), STAGES, history(3), NOW)
    note_sections = [t for t in section_texts(view) if t.startswith("*Notes:*")]
    assert note_sections == [f"*Notes:*\n{notes.strip()}"]


def test_details_modal_with_too_much_history_keeps_the_latest():
    entries = history(3000)
    view = modal_of(make_opp(), STAGES, entries, NOW)
    assert check_view(view) == []
    assert len(view["blocks"]) <= 100
    text = all_text(view["blocks"])
    assert "_(older changes omitted)_" in text
    assert f"<!date^{int(entries[-1].changed_at.timestamp())}^" in text
    assert "created in Prospect" not in text


def test_details_modal_title_and_created_line():
    view = modal_of(make_opp(created_by="U0SDR"), STAGES, history(2), NOW)
    assert view["title"]["text"] == "OPP-12"
    assert view["callback_id"] == DETAILS_MODAL
    assert "by <@U0SDR>" in all_text(view["blocks"])


# --------------------------------------------------------------------------- list


def opportunities(n: int, stage_ids=STAGE_IDS, owner="U0REP1") -> list[OpportunityView]:
    """n open opportunities spread evenly over the stages, in list order (by stage, oldest first)."""
    per = -(-n // len(stage_ids))
    result = []
    for i in range(n):
        stage_id = stage_ids[i // per]
        result.append(make_opp(id=1000 + i, number=1000 + i, name=f"Deal {i}", stage_id=stage_id, owner_id=owner,
                               stage_entered_at=NOW - timedelta(days=100 - i % per)))
    return result


def test_list_first_page_of_500():
    items = opportunities(500)
    blocks = list_blocks(ListPage(owner_id="U0REP1", items=items[:25], total=500, offset=0), Pipelines((STAGES,)), NOW, viewer_id="U0REP1", t=EN)
    assert check_blocks(blocks, "message") == []
    assert len(blocks) <= 50
    assert blocks[0]["text"]["text"] == "*Your open opportunities* · 1–25 of 500"
    rows = [b for b in blocks if b["type"] == "section" and "accessory" in b]
    assert len(rows) == 25
    assert rows[0]["accessory"] == {"type": "button", "action_id": DETAILS_BUTTON,
                                    "text": {"type": "plain_text", "text": "Open", "emoji": True}, "value": "1000"}
    assert rows[0]["text"]["text"].startswith("*OPP-1000* Deal 0 — Acme Corp · USD 12,500.50 · ")
    nav = blocks[-1]
    assert nav["type"] == "actions"
    (button,) = nav["elements"]
    assert button["action_id"] == LIST_PAGE_BUTTON
    assert button["text"]["text"] == "Next page (26–50)"
    assert json.loads(button["value"]) == {"o": "U0REP1", "s": None, "n": 25}


def test_list_last_page_has_no_next_button():
    items = opportunities(500)
    blocks = list_blocks(ListPage(owner_id="U0REP1", items=items[475:], total=500, offset=475), Pipelines((STAGES,)), NOW, viewer_id="U0REP1", t=EN)
    assert check_blocks(blocks, "message") == []
    assert blocks[0]["text"]["text"] == "*Your open opportunities* · 476–500 of 500"
    assert not [e for b in by_type(blocks, "actions") for e in b["elements"] if e["action_id"] == LIST_PAGE_BUTTON]


def test_list_middle_page_state():
    items = opportunities(60)
    blocks = list_blocks(ListPage(owner_id="U0REP2", items=items[25:50], total=60, offset=25, stage_filter=None),
                         Pipelines((STAGES,)), NOW, viewer_id="U0MGR", t=EN)
    assert blocks[0]["text"]["text"] == "*<@U0REP2>'s open opportunities* · 26–50 of 60"
    button = blocks[-1]["elements"][0]
    assert button["text"]["text"] == "Next page (51–60)"
    assert json.loads(button["value"]) == {"o": "U0REP2", "s": None, "n": 50}


def test_list_groups_by_stage():
    items = opportunities(8)  # 2 per stage
    blocks = list_blocks(ListPage(owner_id="U0REP1", items=items, total=8, offset=0), Pipelines((STAGES,)), NOW, viewer_id="U0REP1", t=EN)
    headings = [b["elements"][0]["text"] for b in by_type(blocks, "context")]
    assert headings == ["*Prospect*", "*Solution design*", "*Technical evaluation*", "*Negotiation*"]
    assert not by_type(blocks, "actions")


def test_list_page_spanning_20_stages_stays_within_50_blocks():
    stages = Pipeline(tuple(StageInfo(i, i, f"Stage {i}", 10, 14) for i in range(1, 21)))
    stage_of = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5] + list(range(6, 21))  # 25 deals over all 20 stages
    items = [make_opp(id=i, number=i, stage_id=stage_id) for i, stage_id in enumerate(stage_of, start=1)]
    assert len(items) == 25 and len({o.stage_id for o in items}) == 20
    blocks = list_blocks(ListPage(owner_id="U0REP1", items=items, total=500, offset=0), Pipelines((stages,)), NOW, viewer_id="U0REP1", t=EN)
    assert len(blocks) <= 50
    assert check_blocks(blocks, "message") == []


def test_list_stage_filter_and_empty():
    blocks = list_blocks(ListPage(owner_id="U0REP1", items=[], total=0, offset=0, stage_filter=12), Pipelines((STAGES,)), NOW, viewer_id="U0REP1", t=EN)
    assert blocks == [{"type": "section", "text": {"type": "mrkdwn", "text":
                       "Your open opportunities in Solution design: none. Create one with `/opp new`."}}]
    assert check_blocks(blocks, "message") == []
    blocks = list_blocks(ListPage(owner_id="U0REP2", items=[], total=0, offset=0), Pipelines((STAGES,)), NOW, viewer_id="U0REP1", t=EN)
    assert blocks[0]["text"]["text"] == "<@U0REP2>'s open opportunities: none. Create one with `/opp new`."


def test_list_escapes_user_text():
    items = [make_opp(name="<!channel>", customer="A & B")]
    blocks = list_blocks(ListPage(owner_id="U0REP1", items=items, total=1, offset=0), Pipelines((STAGES,)), NOW, viewer_id="U0REP1", t=EN)
    text = all_text(blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "A &amp; B" in text


# --------------------------------------------------------------------------- home


USD = Rates("USD")


def summaries_for(opps: list[OpportunityView]) -> list[StagePipeline]:
    """The open pipeline per stage of these deals, as storage.analytics.pipeline_by_stage gives it (weights left at 0)."""
    counts: dict[int, int] = {}
    amounts: dict[int, dict[str, Decimal]] = {}
    for o in opps:
        counts[o.stage_id] = counts.get(o.stage_id, 0) + 1
        by_currency = amounts.setdefault(o.stage_id, {})
        by_currency[o.currency] = by_currency.get(o.currency, Decimal(0)) + (o.amount or 0)
    return [StagePipeline(stage_id, n, USD.total(amounts[stage_id]), USD.zero()) for stage_id, n in counts.items()]


def test_home_with_500_opportunities():
    opps = opportunities(500)
    shown = opps[:HOME_ITEMS]
    view = home_view("U0REP1", summaries_for(opps), shown, 500, Pipelines((STAGES,)), NOW, rates=USD, t=translator("en"))
    assert view["type"] == "home"
    assert check_view(view) == []
    assert len(view["blocks"]) <= 100
    text = all_text(view["blocks"])
    assert "*Prospect* · 125 open · USD 1,562,562.50" in text
    assert "…and 85 more in Prospect: `/opp list Prospect`" in text
    assert "…and 125 more in Solution design: `/opp list Solution design`" in text
    assert "…and 125 more in Technical evaluation" in text
    assert "…and 125 more in Negotiation" in text
    rows = [b for b in view["blocks"] if b["type"] == "section" and "accessory" in b]
    assert len(rows) == HOME_ITEMS


def test_home_with_20_stages_shows_every_stage():
    stages = Pipeline(tuple(StageInfo(i, i, f"Stage {i}", 10, 14) for i in range(1, 21)))
    opps = opportunities(500, stage_ids=[s.id for s in stages.stages])  # 25 per stage
    view = home_view("U0REP1", summaries_for(opps), opps[:HOME_ITEMS], 500, Pipelines((stages,)), NOW, rates=USD, t=translator("en"))
    assert check_view(view) == []
    text = all_text(view["blocks"])
    for stage in stages.stages:
        assert f"*{stage.name}* · 25 open · " in text
    shown = {o.id for o in opps if f"*{o.ref}*" in text}
    assert shown, "some deals are listed"
    for stage in stages.stages:
        hidden = 25 - sum(1 for o in opps if o.stage_id == stage.id and o.id in shown)
        if hidden:
            assert f"…and {hidden} more in {stage.name}:" in text
        else:
            assert f"more in {stage.name}:" not in text


def test_home_empty():
    view = home_view("U0REP1", [], [], 0, Pipelines((STAGES,)), NOW, rates=USD, t=translator("en"))
    assert check_view(view) == []
    assert "You have no open opportunities" in all_text(view["blocks"])
    buttons = [e for b in by_type(view["blocks"], "actions") for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [HOME_NEW_BUTTON]


def test_home_stage_without_amounts():
    opps = [make_opp(id=1, number=1, amount=None, stage_id=11)]
    summaries = [StagePipeline(11, 1, USD.zero(), USD.zero())]
    view = home_view("U0REP1", summaries, opps, 1, Pipelines((STAGES,)), NOW, rates=USD, t=translator("en"))
    text = all_text(view["blocks"])
    assert "*Prospect* · 1 open · USD 0 · weighted USD 0" in text
    assert "more in" not in text
    assert "Solution design" not in text  # stages without open deals are left out


# --------------------------------------------------------------------------- help


def test_help_without_problem():
    blocks = help_blocks(t=EN)
    assert check_blocks(blocks, "message") == []
    assert len(blocks) == 1
    text = blocks[0]["text"]["text"]
    for usage, what in HELP_LINES:
        assert f"`{escape(usage)}` — {escape(what)}" in text
    assert "<stage>" not in text and "`/opp stage OPP-12 &lt;stage&gt;`" in text


def test_help_with_problem_comes_first_and_is_escaped():
    blocks = help_blocks("I don't know the subcommand “<!channel>”.", t=EN)
    assert check_blocks(blocks, "message") == []
    assert len(blocks) == 2
    assert blocks[0]["text"]["text"] == ":warning: I don't know the subcommand “&lt;!channel&gt;”."
    assert "`/opp new [name]`" in blocks[1]["text"]["text"]


def test_a_page_button_reads_back_what_the_list_wrote_and_refuses_anything_else():
    assert read_page_button('{"o": "U0REP1", "s": 3, "n": 20}') == ("U0REP1", 3, 20)
    assert read_page_button('{"o": "U0REP1", "s": "x", "n": 20}') == ("U0REP1", None, 20)
    for junk in ("", "[]", '{"o": "U0REP1"}', '{"o": "U", "n": "many"}', "not json"):
        with pytest.raises(Invalid):
            read_page_button(junk)
