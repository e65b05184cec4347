"""End-to-end flows for creating opportunities: `/opp new`, the modal, shortcuts, App Home.

Every test talks to the running app only through signed Slack requests and checks what the app
sent to the fake Slack and what it stored.
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import date
from decimal import Decimal

import pytest

from bot.domain.values import Installation
from storage.models import Opportunity, PostedCard, StageChange
from tests.conftest import START
from tests.driver import TEAM
from tests.support import rows, stage_ids

DEFAULT_STAGES = ["Prospect", "Solution design", "Technical evaluation", "Negotiation"]


# ----- helpers ------------------------------------------------------------------------------------

def command(slack, text: str, *, user: str = "U0REP1", channel: str = "C0SALES", trigger_id: str, response_name: str,
            team_id: str = TEAM, enterprise_id: str | None = None):
    """A slash command with a trigger id and response_url we choose, so the test can name them."""
    form = {
        "token": "legacy", "team_id": team_id, "team_domain": "test", "channel_id": channel, "channel_name": "sales",
        "user_id": user, "user_name": user.lower(), "command": "/opp", "text": text, "api_app_id": "A0OPPBOT",
        "response_url": slack.fake.response_url(response_name), "trigger_id": trigger_id,
    }
    if enterprise_id:
        form.update(enterprise_id=enterprise_id, is_enterprise_install="true")
    return slack.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")


def submit_text_fields(slack, view: dict, values: dict[str, str], *, user: str, team_id: str, enterprise_id: str | None = None):
    """A view_submission from another workspace (the driver always uses T0TEST)."""
    state = {block_id: {"value": {"type": "plain_text_input", "value": value}} for block_id, value in values.items()}
    payload = {
        "type": "view_submission", "team": {"id": team_id, "enterprise_id": enterprise_id}, "user": {"id": user, "team_id": team_id},
        "enterprise": {"id": enterprise_id} if enterprise_id else None, "api_app_id": "A0OPPBOT",
        "trigger_id": "trigger-view-other-team",
        "view": {"id": "V0MODAL", "type": "modal", "callback_id": view["callback_id"],
                 "private_metadata": view.get("private_metadata", ""), "state": {"values": state}},
    }
    return slack.interact(payload)


def block(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def open_modal(slack, user: str = "U0REP1", channel: str = "C0SALES", name: str = "Acme rollout") -> dict:
    reply = slack.command(f"new {name}", user=user, channel=channel)
    assert reply.status == 200
    return slack.last_view()


def posted_messages(slack, channel: str) -> list:
    return [c for c in slack.fake.calls("chat.postMessage") if c.params.get("channel") == channel]


def is_card(call) -> bool:
    """An opportunity card (header "OPP-n · name"), as opposed to a note to the submitter."""
    blocks = call.params.get("blocks") or []
    return bool(blocks) and blocks[0].get("type") == "header" and blocks[0]["text"]["text"].startswith("OPP-")


def texts(blocks: list[dict]) -> str:
    """All the text of some blocks, flattened, to search in."""
    return json.dumps(blocks, ensure_ascii=False)


def mrkdwn_texts(blocks) -> str:
    """The mrkdwn texts of some blocks (the ones Slack parses for mentions; plain_text is shown as typed)."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node.get("text", ""))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(found)


def stored(slack) -> tuple[int, int, int, int]:
    """How many opportunities, stage changes, posted cards and posted messages there are."""
    return (len(rows(slack, Opportunity)), len(rows(slack, StageChange)), len(rows(slack, PostedCard)),
            len(slack.fake.calls("chat.postMessage")))


def assert_nothing_stored(slack) -> None:
    assert rows(slack, Opportunity) == []
    assert rows(slack, StageChange) == []
    assert rows(slack, PostedCard) == []
    assert slack.fake.calls("chat.postMessage") == []


# ----- the modal --------------------------------------------------------------------------------

def test_opp_new_opens_the_modal_with_the_command_trigger(slack):
    reply = command(slack, "new Big deal", trigger_id="trigger-mine-1", response_name="mine1")
    assert reply.status == 200

    opens = slack.fake.calls("views.open")
    assert len(opens) == 1 and opens[0].response["ok"] is True
    assert opens[0].params["trigger_id"] == "trigger-mine-1"
    view = opens[0].params["view"]
    assert view["type"] == "modal" and view["title"]["text"] == "New opportunity"
    assert view["callback_id"] == "new_opportunity"
    assert block(view, "name")["element"]["initial_value"] == "Big deal"

    stage = block(view, "stage")["element"]
    ids = stage_ids(slack)
    assert [o["text"]["text"] for o in stage["options"]] == [f"{i}. {n}" for i, n in enumerate(DEFAULT_STAGES, start=1)]
    assert [o["value"] for o in stage["options"]] == [str(ids[n]) for n in DEFAULT_STAGES]
    assert stage["initial_option"]["value"] == str(ids["Prospect"])

    assert block(view, "owner")["element"] == {"type": "users_select", "action_id": "value", "initial_user": "U0REP1"}
    assert json.loads(view["private_metadata"]) == {"channel": "C0SALES"}
    # opening the form stores nothing
    assert_nothing_stored(slack)


def test_owner_defaults_to_whoever_runs_the_command(slack):
    view = open_modal(slack, user="U0REP2")
    assert block(view, "owner")["element"]["initial_user"] == "U0REP2"
    view = open_modal(slack, user="U0MGR", name="")
    assert block(view, "owner")["element"]["initial_user"] == "U0MGR"
    assert "initial_value" not in block(view, "name")["element"]


def test_valid_submit_stores_the_opportunity_and_posts_its_card(slack, clock):
    view = open_modal(slack, name="Big deal")
    ids = stage_ids(slack)
    reply = slack.submit(view, {
        "name": "Big deal", "customer": "Acme Corp", "amount": "12,500.50", "currency": "EUR", "close_date": "2027-03-31",
        "stage": str(ids["Solution design"]), "owner": "U0REP1", "industry": "Finance", "region": "East",
        "company_size": "51-500", "source": "trade show", "found": "unexpected", "reach": "strategic",
        "visibility": "latent", "change_kind": "economic", "next_step": "Call the CFO", "notes": "Met at the expo",
    })
    assert reply.status == 200 and reply.body == ""  # the modal closes

    [opp] = rows(slack, Opportunity)
    assert (opp.team_id, opp.number, opp.name, opp.customer) == (TEAM, 1, "Big deal", "Acme Corp")
    assert opp.amount == Decimal("12500.50") and opp.currency == "EUR"
    assert opp.close_date == date(2027, 3, 31)
    assert opp.stage_id == ids["Solution design"] and opp.status == "open"
    assert (opp.owner_id, opp.created_by) == ("U0REP1", "U0REP1")
    assert (opp.industry, opp.region, opp.company_size, opp.source) == ("Finance", "East", "51-500", "trade show")
    assert (opp.found, opp.reach, opp.visibility, opp.change_kind) == ("unexpected", "strategic", "latent", "economic")
    assert (opp.next_step, opp.notes) == ("Call the CFO", "Met at the expo")
    assert opp.created_at == opp.updated_at == opp.stage_entered_at == START
    assert opp.closed_at is None and opp.lost_reason is None

    [change] = rows(slack, StageChange)
    assert change.opportunity_id == opp.id and change.team_id == TEAM
    assert (change.from_stage_id, change.from_status) == (None, None)
    assert (change.to_stage_id, change.to_status) == (ids["Solution design"], "open")
    assert (change.changed_by, change.owner_id, change.changed_at) == ("U0REP1", "U0REP1", START)

    [post] = slack.fake.calls("chat.postMessage")
    assert post.params["channel"] == "C0SALES" and post.response["ok"] is True
    assert post.params["text"].startswith("OPP-1 Big deal (Acme Corp)")
    blocks = post.params["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "OPP-1 · Big deal", "emoji": True}}
    card = texts(blocks)
    assert "EUR 12,500.50" in card and "<@U0REP1>" in card and "Solution design · 0 days in stage" in card
    assert [e["action_id"] for e in blocks[-1]["elements"]] == ["card_stage_select", "card_won", "card_lost", "card_more"]

    [posted] = rows(slack, PostedCard)
    assert (posted.opportunity_id, posted.channel_id, posted.ts) == (opp.id, "C0SALES", post.response["ts"])
    assert slack.fake.message("C0SALES", posted.ts)["blocks"] == blocks


def test_numbers_follow_each_other_per_workspace(slack):
    assert slack.create("First").status == 200
    assert slack.create("Second", user="U0REP2").status == 200
    by_name = {o.name: o for o in rows(slack, Opportunity)}
    assert by_name["First"].number == 1 and by_name["Second"].number == 2
    assert [c.params["text"].split()[0] for c in slack.fake.calls("chat.postMessage")] == ["OPP-1", "OPP-2"]

    # installed org-wide, oppbot serves every workspace of the organisation: another one starts its own numbering at OPP-1
    workspaces = slack.oppbot.services.workspaces
    single = workspaces.installation
    workspaces.installation = Installation(TEAM, "Fake Org", enterprise_id="E0ORG", is_enterprise_install=True)
    command(slack, "new Elsewhere", team_id="T0SECOND", trigger_id="trigger-second", response_name="second", enterprise_id="E0ORG")
    view = slack.last_view()
    assert submit_text_fields(slack, view, {"name": "Elsewhere", "customer": "Beta"}, user="U0REP1", team_id="T0SECOND",
                              enterprise_id="E0ORG").status == 200
    workspaces.installation = single
    [other] = rows(slack, Opportunity, team_id="T0SECOND")
    assert other.number == 1 and other.name == "Elsewhere"
    assert sorted(o.number for o in rows(slack, Opportunity, team_id=TEAM)) == [1, 2]
    assert len(rows(slack, StageChange, team_id="T0SECOND")) == 1

    assert slack.create("Third").status == 200
    assert rows(slack, Opportunity, name="Third")[0].number == 3


INVALID = {
    "empty-name": ({"name": ""}, "name", "name"),
    "blank-name": ({"name": "   "}, "name", "name"),
    "name-151-chars": ({"name": "x" * 151}, "name", "151"),
    "customer-empty": ({"customer": ""}, "customer", "customer"),
    "amount-abc": ({"amount": "abc"}, "amount", "number"),
    "amount-negative": ({"amount": "-5"}, "amount", "negative"),
    "amount-too-large": ({"amount": "2000000000000"}, "amount", "too large"),
    "amount-3-decimals": ({"amount": "1.234"}, "amount", "2 decimals"),
    "close-date-feb-30": ({"close_date": "2026-02-30"}, "close_date", "date"),
    "stage-not-the-workspaces": ({"stage": "999999"}, "stage", "stage"),
    "owner-bot": ({"owner": "U0BOTUSER"}, "owner", "bot"),
    "owner-deactivated": ({"owner": "U0GONE"}, "owner", "deactivated"),
    "owner-unknown": ({"owner": "U0NOBODY"}, "owner", "can't find"),
    "notes-3001-chars": ({"notes": "x" * 3001}, "notes", "3001"),
}


def test_invalid_field_is_reported_on_its_block_and_nothing_is_stored(slack, subtests):
    view = open_modal(slack)
    block_ids = {b.get("block_id") for b in view["blocks"]}
    for case, (override, block_id, says) in INVALID.items():
        with subtests.test(case):
            assert block_id in block_ids  # the error names a real block of the modal
            before = stored(slack)
            reply = slack.submit(view, {"name": "Acme rollout", "customer": "Acme Corp", **override})
            assert reply.status == 200
            body = reply.json
            assert body["response_action"] == "errors"
            assert list(body["errors"]) == [block_id], body
            assert says.lower() in body["errors"][block_id].lower(), body
            assert stored(slack) == before  # nothing written, nothing posted
    assert_nothing_stored(slack)
    # the same form, filled in correctly, goes through
    assert slack.submit(view, {"name": "Acme rollout", "customer": "Acme Corp"}).body == ""
    assert [o.number for o in rows(slack, Opportunity)] == [1]


def test_stage_of_another_workspace_is_refused(slack):
    # T0SECOND's stages exist but are not T0TEST's
    foreign = stage_ids(slack, "T0SECOND")["Negotiation"]
    view = open_modal(slack)
    reply = slack.submit(view, {"name": "Acme rollout", "customer": "Acme Corp", "stage": str(foreign)})
    assert reply.json["response_action"] == "errors" and list(reply.json["errors"]) == ["stage"]
    assert_nothing_stored(slack)


def test_several_invalid_fields_are_all_reported(slack):
    view = open_modal(slack)
    reply = slack.submit(view, {"name": "", "customer": "", "amount": "abc", "close_date": "2026-02-30"})
    assert reply.json["response_action"] == "errors"
    assert set(reply.json["errors"]) == {"name", "customer", "amount", "close_date"}
    assert_nothing_stored(slack)


def test_user_text_cannot_mention_people_through_the_card_text(slack):
    slack.create("<!channel> free pizza", customer="<@U0MGR> & co")
    [post] = slack.fake.calls("chat.postMessage")
    fields = mrkdwn_texts(post.params["blocks"])
    assert "&lt;@U0MGR&gt; &amp; co" in fields and "<@U0MGR>" not in fields and "<!channel>" not in fields
    text = post.params["text"]
    assert "<!channel>" not in text and "<@U0MGR>" not in text
    assert text.startswith("OPP-1 &lt;!channel&gt; free pizza (&lt;@U0MGR&gt; &amp; co)")
    # and so does every later update of the card
    slack.command("stage OPP-1 nego")
    [update] = slack.fake.calls("chat.update")
    assert update.params["text"].startswith("OPP-1 &lt;!channel&gt; free pizza") and "<!channel>" not in mrkdwn_texts(update.params["blocks"])


# ----- where the card goes ----------------------------------------------------------------------

def test_channel_without_the_bot_sends_the_card_to_the_owner_by_dm(slack):
    slack.fake.bot_not_in_channel("C0PRIVATE")
    view = open_modal(slack, channel="C0PRIVATE")
    assert slack.submit(view, {"name": "Acme rollout", "customer": "Acme Corp"}).status == 200

    [opp] = rows(slack, Opportunity)
    assert len(rows(slack, StageChange)) == 1
    refused = [c for c in slack.fake.calls("chat.postMessage") if c.params["channel"] == "C0PRIVATE"]
    assert [c.response.get("error") for c in refused] == ["not_in_channel"]
    assert [c.params["users"] for c in slack.fake.calls("conversations.open")][0] == "U0REP1"

    dms = posted_messages(slack, "DU0REP1")
    card = [c for c in dms if is_card(c)]
    assert len(card) == 1 and card[0].response["ok"]
    assert card[0].params["blocks"][0]["text"]["text"] == "OPP-1 · Acme rollout"
    [posted] = rows(slack, PostedCard)
    assert (posted.opportunity_id, posted.channel_id, posted.ts) == (opp.id, "DU0REP1", card[0].response["ts"])

    notes = [c for c in dms if not is_card(c)]
    assert len(notes) == 1
    note = notes[0].params["text"]
    assert "OPP-1" in note and "<#C0PRIVATE>" in note and "/invite" in note and "you by DM" in note


def test_channel_without_the_bot_for_another_owner_dms_the_owner_and_tells_the_submitter(slack):
    slack.fake.bot_not_in_channel("C0PRIVATE")
    view = open_modal(slack, channel="C0PRIVATE")
    assert slack.submit(view, {"name": "Acme rollout", "customer": "Acme Corp", "owner": "U0REP2"}).status == 200

    [opp] = rows(slack, Opportunity)
    assert (opp.owner_id, opp.created_by) == ("U0REP2", "U0REP1")
    [card] = [c for c in posted_messages(slack, "DU0REP2") if is_card(c)]
    assert card.params["blocks"][0]["text"]["text"] == "OPP-1 · Acme rollout"
    assert rows(slack, PostedCard)[0].channel_id == "DU0REP2"
    [note] = [c for c in posted_messages(slack, "DU0REP1") if not is_card(c)]
    text = note.params["text"]
    assert "<@U0REP2> by DM" in text and "<#C0PRIVATE>" in text and "OPP-1" in text


def test_creating_for_another_owner_posts_the_card_in_the_channel(slack):
    view = open_modal(slack)
    assert slack.submit(view, {"name": "Acme rollout", "customer": "Acme Corp", "owner": "U0REP2"}).status == 200
    [opp] = rows(slack, Opportunity)
    assert (opp.owner_id, opp.created_by) == ("U0REP2", "U0REP1")
    [change] = rows(slack, StageChange)
    assert (change.changed_by, change.owner_id) == ("U0REP1", "U0REP2")
    [post] = slack.fake.calls("chat.postMessage")
    assert post.params["channel"] == "C0SALES" and "<@U0REP2>" in texts(post.params["blocks"])
    assert slack.fake.calls("conversations.open") == []
    assert rows(slack, PostedCard)[0].channel_id == "C0SALES"


# ----- other ways in ----------------------------------------------------------------------------

def test_global_shortcut_opens_the_modal_and_the_card_goes_to_the_owner(slack):
    assert slack.shortcut("new_opportunity").status == 200
    [opened] = slack.fake.calls("views.open")
    assert opened.params["trigger_id"].startswith("trigger-sc-")
    view = opened.params["view"]
    assert view["title"]["text"] == "New opportunity"
    assert block(view, "owner")["element"]["initial_user"] == "U0REP1"
    assert json.loads(view["private_metadata"]) == {"channel": None}

    assert slack.submit(view, {"name": "From shortcut", "customer": "Acme Corp"}).status == 200
    [opp] = rows(slack, Opportunity)
    assert opp.name == "From shortcut"
    # no channel to post in: the card goes to its owner (the submitter) by DM, with no extra note
    [post] = slack.fake.calls("chat.postMessage")
    assert post.params["channel"] == "DU0REP1" and post.params["blocks"][0]["text"]["text"] == "OPP-1 · From shortcut"
    assert rows(slack, PostedCard)[0].channel_id == "DU0REP1"


def test_message_shortcut_prefills_notes_and_posts_in_the_messages_channel(slack):
    message = {"type": "message", "ts": "1700000000.000100", "user": "U0REP2", "text": "Beta Corp wants 200 seats by March"}
    assert slack.shortcut("opportunity_from_message", message=message, channel="C0LEADS").status == 200

    [link] = slack.fake.calls("chat.getPermalink")
    assert (link.params["channel"], link.params["message_ts"]) == ("C0LEADS", "1700000000.000100")
    permalink = link.response["permalink"]
    [opened] = slack.fake.calls("views.open")
    assert opened.params["trigger_id"].startswith("trigger-sc-")
    view = opened.params["view"]
    notes = block(view, "notes")["element"]["initial_value"]
    assert notes == f"Beta Corp wants 200 seats by March\n\nFrom {permalink}"
    assert json.loads(view["private_metadata"]) == {"channel": "C0LEADS"}

    assert slack.submit(view, {"name": "Beta seats", "customer": "Beta Corp", "notes": notes}).status == 200
    [opp] = rows(slack, Opportunity)
    assert opp.notes == notes
    [post] = slack.fake.calls("chat.postMessage")
    assert post.params["channel"] == "C0LEADS"
    assert rows(slack, PostedCard)[0].channel_id == "C0LEADS"


def test_message_shortcut_with_a_huge_message_keeps_notes_within_the_limit(slack):
    message = {"type": "message", "ts": "1700000000.000200", "text": "y" * 5000}
    slack.shortcut("opportunity_from_message", message=message, channel="C0LEADS")
    [opened] = slack.fake.calls("views.open")
    assert opened.response["ok"], opened.response
    notes = block(opened.params["view"], "notes")["element"]["initial_value"]
    assert len(notes) <= 3000 and notes.endswith(slack.fake.calls("chat.getPermalink")[0].response["permalink"])


def test_app_home_button_opens_the_modal(slack):
    assert slack.click("home_new_opportunity", value="new", home=True).status == 200
    [opened] = slack.fake.calls("views.open")
    assert opened.params["trigger_id"].startswith("trigger-act-") and opened.response["ok"]
    view = opened.params["view"]
    assert view["title"]["text"] == "New opportunity" and view["callback_id"] == "new_opportunity"
    assert block(view, "owner")["element"]["initial_user"] == "U0REP1"
    assert slack.submit(view, {"name": "From home", "customer": "Acme Corp"}).status == 200
    assert [o.name for o in rows(slack, Opportunity)] == ["From home"]


def test_expired_trigger_tells_the_user_to_run_it_again(slack):
    slack.fake.fail_next("views.open", "expired_trigger_id")
    reply = command(slack, "new Big deal", trigger_id="trigger-late", response_name="late")
    assert reply.status == 200
    [opened] = slack.fake.calls("views.open")
    assert opened.response["error"] == "expired_trigger_id"
    [response] = slack.responses()
    assert response["_name"] == "late"
    assert response["response_type"] == "ephemeral"
    assert "/opp new" in response["text"] and "again" in response["text"]
    assert_nothing_stored(slack)


def test_name_too_long_on_the_command_line_is_refused_without_opening_the_modal(slack):
    reply = slack.command("new " + "z" * 151)
    assert reply.status == 200 and reply.json["response_type"] == "ephemeral"
    assert "151" in reply.json["text"]
    assert slack.fake.calls("views.open") == []


@pytest.mark.parametrize("channel", [{"id": "C0SALES"}, "#sales", "C0SALES; drop", 42])
def test_a_garbled_channel_in_the_form_metadata_sends_the_card_by_dm(slack, channel):
    """What the form says about where it was opened is read, not trusted: anything but a conversation id means no channel."""
    slack.command("new Acme rollout")
    view = dict(slack.last_view(), private_metadata=json.dumps({"channel": channel}))
    assert slack.submit(view, {"name": "Acme rollout", "customer": "Acme Corp"}).status == 200
    [card] = rows(slack, PostedCard)
    assert card.channel_id == "DU0REP1"
    assert [c.params["channel"] for c in slack.fake.calls("chat.postMessage")] == ["DU0REP1"]
