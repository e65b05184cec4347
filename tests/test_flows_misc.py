"""End-to-end flows around the edges: help and malformed commands, `/opp show` and `/opp list`,
pagination, the Details modal, request verification, /healthz, the App Home tab, and Slack
answering 429 / 5xx."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from bot.domain.values import OpportunityDraft
from storage.db import make_engine
from storage.models import (
    Member,
    Opportunity,
    PostedCard,
    Stage,
    StageChange,
    Workspace,
)
from tests.driver import TEAM, running_app
from tests.support import opp, rows, stage_ids, text_of

HELP_USAGES = ["/opp new", "/opp list", "/opp show", "/opp stage", "/opp won", "/opp lost", "/opp help"]


# ----- helpers ------------------------------------------------------------------------------------

def counts(slack) -> dict[str, int]:
    with Session(slack.oppbot.engine) as session:
        return {m.__name__: session.exec(select(func.count()).select_from(m)).one()
                for m in (Workspace, Member, Stage, Opportunity, StageChange, PostedCard)}


def insert_deals(slack, count: int, *, owner: str = "U0REP1", stage_of=lambda i: "Prospect", step=timedelta(minutes=1)) -> None:
    """Many deals at once through the Pipeline (not 60 modal submissions), one clock step apart."""
    pipeline = slack.oppbot.services
    actor = pipeline.workspaces.context(TEAM, owner)
    ids = stage_ids(slack)
    for i in range(1, count + 1):
        pipeline.deals.create(actor, OpportunityDraft(name=f"Deal {i}", customer=f"Customer {i}", owner_id=owner,
                                                stage_id=ids[stage_of(i)], currency="USD"), channel_id=None)[0]
        slack.clock.advance(step)


def list_layout(blocks: list[dict]) -> list[str]:
    """A list message as ["# Stage", "OPP-n", …], in order."""
    layout = []
    for b in blocks[1:]:
        if b["type"] == "context":
            layout.append("# " + b["elements"][0]["text"].strip("*"))
        elif b["type"] == "section" and b.get("accessory", {}).get("action_id") == "card_details":
            layout.append(b["text"]["text"].split("*")[1])
    return layout


def item_line(blocks: list[dict], ref: str) -> str:
    """The text of the list / Home line of one opportunity."""
    [line] = [b["text"]["text"] for b in blocks if b["type"] == "section" and b.get("text", {}).get("text", "").startswith(f"*{ref}*")]
    return line


def next_button(blocks: list[dict]) -> dict | None:
    for b in blocks:
        if b["type"] == "actions":
            for e in b["elements"]:
                if e["action_id"] == "list_page":
                    return e
    return None


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def ephemeral_text(slack) -> str:
    response = slack.last_response()
    assert response.get("response_type") == "ephemeral", response
    return response["text"]


# ----- help and malformed commands --------------------------------------------------------------

MALFORMED = [
    ("help", None),
    ("", None),
    ("   ", None),
    ("frobnicate", "I don't know the subcommand “frobnicate”"),
    ("show abc", "“abc” is not an opportunity id"),
    ("show", "Usage: /opp show OPP-12"),
    ("stage OPP-1", "Usage: /opp stage OPP-12 <stage>"),
    ("lost OPP-1", "Say why it was lost"),
    ("lost OPP-1 " + "r" * 501, "The reason is too long: 501 characters"),
    ("list <@U0REP1> <@U0REP2>", "Name at most one person"),
]


def test_help_and_malformed_commands_are_answered_in_the_http_response(slack, subtests):
    for text, problem in MALFORMED:
        with subtests.test(text[:30] or "(empty)"):
            reply = slack.command(text)
            assert reply.status == 200
            body = reply.json
            assert body["response_type"] == "ephemeral"
            if problem is None:
                shown = body["text"] + "\n" + text_of(body["blocks"])
                for usage in HELP_USAGES:
                    assert usage in shown
                assert ":warning:" not in shown
            else:
                # a mistyped command: one line (mrkdwn: &, < and > escaped), what was wrong and where the help is, not the whole help
                warning = body["text"]
                assert "blocks" not in body and "\n" not in warning
                assert problem in unescape(warning)
                assert warning.startswith(":warning:") and problem.replace("<", "&lt;").replace(">", "&gt;") in warning
                assert warning.endswith("`/opp help` lists every command.")
    # all answered synchronously: nothing through a response_url, no Slack calls, nothing stored
    assert slack.responses() == []
    assert slack.fake.calls("views.open") == [] and slack.fake.calls("chat.postMessage") == []
    assert rows(slack, Opportunity) == []


def test_help_text_stays_within_slack_limits(slack):
    from tests.fakeslack import check_blocks

    body = slack.command("help").json
    assert check_blocks(body["blocks"]) == []


# ----- /opp show --------------------------------------------------------------------------------

def test_show_unknown_opportunity_says_it_does_not_exist(slack):
    slack.create("Real one")
    slack.command("show OPP-99")
    text = ephemeral_text(slack)
    assert "OPP-99" in text and "doesn't exist" in text
    assert "blocks" not in slack.last_response()


def test_show_of_another_reps_deal(slack):
    slack.create("Secret deal")
    slack.command("show OPP-1", user="U0OTHER")
    text = ephemeral_text(slack)
    assert "belongs to <@U0REP1>" in text and "Secret deal" not in text
    assert "blocks" not in slack.last_response()

    slack.command("show OPP-1", user="U0REP2")  # same team, but not the manager
    assert "belongs to <@U0REP1>" in ephemeral_text(slack)

    for viewer in ("U0MGR", "U0ADMIN"):
        slack.command("show OPP-1", user=viewer)
        shown = slack.last_response()
        assert shown["response_type"] == "ephemeral"
        assert shown["blocks"][0]["text"]["text"] == "OPP-1 · Secret deal"
        assert "Stage history" in text_of(shown["blocks"]) and "created in Prospect" in text_of(shown["blocks"])


# ----- /opp list --------------------------------------------------------------------------------

def test_list_groups_by_stage_oldest_in_stage_first(slack, clock):
    for name in ("One", "Two", "Three", "Four"):
        slack.create(name)
        clock.advance(hours=1)
    slack.create("Someone else's", user="U0REP2")   # OPP-5
    slack.command("stage OPP-1 solution")           # OPP-1 leaves Prospect…
    clock.advance(hours=1)
    slack.command("stage OPP-1 prospect")           # …and comes back: now the newest in it
    clock.advance(hours=1)
    slack.command("stage OPP-4 nego")
    clock.advance(hours=1)
    slack.command("stage OPP-3 nego")               # OPP-3 entered Negotiation after OPP-4
    clock.advance(hours=1)
    slack.create("Five")                            # OPP-6, Prospect, entered last
    slack.create("Done")                            # OPP-7, won: not open
    slack.command("won OPP-7")
    clock.advance(days=2)

    slack.command("list")
    listed = slack.last_response()
    assert listed["response_type"] == "ephemeral"
    blocks = listed["blocks"]
    assert blocks[0]["text"]["text"] == "*Your open opportunities* · 1–5 of 5"
    assert list_layout(blocks) == ["# Prospect", "OPP-2", "OPP-1", "OPP-6", "# Negotiation", "OPP-4", "OPP-3"]
    assert "OPP-5" not in text_of(blocks) and "OPP-7" not in text_of(blocks)
    assert item_line(blocks, "OPP-2").startswith("*OPP-2* Two — Acme Corp") and "· 2 d in stage" in item_line(blocks, "OPP-2")
    assert "· 2 d in stage" in item_line(blocks, "OPP-3")


def test_list_filtered_by_stage(slack, clock):
    slack.create("One")
    slack.create("Two")
    slack.create("Three")
    slack.command("stage OPP-2 nego")
    clock.advance(days=3)
    slack.command("stage OPP-3 4")
    slack.command("list nego")
    blocks = slack.last_response()["blocks"]
    assert blocks[0]["text"]["text"] == "*Your open opportunities in Negotiation* · 1–2 of 2"
    assert list_layout(blocks) == ["# Negotiation", "OPP-2", "OPP-3"]
    assert "· 3 d in stage" in item_line(blocks, "OPP-2") and "· 0 d in stage" in item_line(blocks, "OPP-3")

    slack.command("list tech")
    assert "none" in text_of(slack.last_response()["blocks"])
    slack.command("list bogus")
    assert "Unknown stage" in ephemeral_text(slack)


def test_list_of_another_rep(slack):
    slack.create("Mine")
    slack.create("Rep two's", user="U0REP2")
    slack.command("list <@U0REP2|rep2>", user="U0REP1")
    text = ephemeral_text(slack)
    assert "only they, their manager or an admin can" in text and "Rep two's" not in text

    slack.command("list <@U0REP2|rep2>", user="U0OTHER")
    assert "only they, their manager or an admin can" in ephemeral_text(slack)

    for viewer in ("U0MGR", "U0ADMIN"):
        slack.command("list <@U0REP2|rep2>", user=viewer)
        blocks = slack.last_response()["blocks"]
        assert blocks[0]["text"]["text"] == "*<@U0REP2>'s open opportunities* · 1–1 of 1"
        assert list_layout(blocks) == ["# Prospect", "OPP-2"]

    slack.command("list <@U0REP1>", user="U0REP1")  # naming yourself is fine
    assert list_layout(slack.last_response()["blocks"]) == ["# Prospect", "OPP-1"]


def test_list_paginates_60_deals(slack):
    insert_deals(slack, 60, stage_of=lambda i: "Prospect" if i <= 30 else "Solution design")
    slack.command("list")
    first = slack.last_response()
    assert first["blocks"][0]["text"]["text"] == "*Your open opportunities* · 1–25 of 60"
    assert list_layout(first["blocks"]) == ["# Prospect"] + [f"OPP-{n}" for n in range(1, 26)]
    button = next_button(first["blocks"])
    assert button is not None and button["text"]["text"] == "Next page (26–50)"

    before = len(slack.responses())
    slack.click("list_page", value=button["value"], ephemeral=True)
    [second] = slack.responses()[before:]
    assert second["replace_original"] is True
    assert second["blocks"][0]["text"]["text"] == "*Your open opportunities* · 26–50 of 60"
    assert list_layout(second["blocks"]) == (["# Prospect"] + [f"OPP-{n}" for n in range(26, 31)]
                                             + ["# Solution design"] + [f"OPP-{n}" for n in range(31, 51)])
    button = next_button(second["blocks"])
    assert button["text"]["text"] == "Next page (51–60)"

    slack.click("list_page", value=button["value"], ephemeral=True)
    third = slack.last_response()
    assert third["replace_original"] is True
    assert list_layout(third["blocks"]) == ["# Solution design"] + [f"OPP-{n}" for n in range(51, 61)]
    assert next_button(third["blocks"]) is None
    assert "51–60 of 60" in third["blocks"][0]["text"]["text"]


def test_list_page_button_of_someone_elses_list_is_refused(slack):
    insert_deals(slack, 30, owner="U0REP2")
    slack.command("list <@U0REP2>", user="U0MGR")
    button = next_button(slack.last_response()["blocks"])
    assert json.loads(button["value"])["o"] == "U0REP2"
    # the same (or a forged) button clicked by a rep who may not see U0REP2's deals
    slack.click("list_page", value=button["value"], user="U0REP1", ephemeral=True)
    refused = slack.last_response()
    assert refused.get("replace_original") is False and "only they, their manager or an admin can" in refused["text"]
    slack.click("list_page", value="not json", user="U0REP1", ephemeral=True)
    assert "/opp list" in slack.last_response()["text"]


def test_list_page_keeps_the_stage_filter(slack):
    insert_deals(slack, 40, stage_of=lambda i: "Negotiation" if i % 2 else "Prospect")
    slack.command("list negotiation")
    first = slack.last_response()["blocks"]
    assert "in Negotiation* · 1–20 of 20" in first[0]["text"]["text"] and next_button(first) is None
    insert_deals(slack, 10, stage_of=lambda i: "Negotiation")
    slack.command("list negotiation")
    first = slack.last_response()["blocks"]
    assert "1–25 of 30" in first[0]["text"]["text"]
    slack.click("list_page", value=next_button(first)["value"], ephemeral=True)
    second = slack.last_response()["blocks"]
    assert "in Negotiation* · 26–30 of 30" in second[0]["text"]["text"]
    # Negotiation, oldest first: OPP-1, 3, …, 39 (20 deals), then OPP-41…50
    assert list_layout(second) == ["# Negotiation"] + [f"OPP-{n}" for n in range(46, 51)]
    assert next_button(second) is None


def page_range(blocks: list[dict]) -> tuple[int, int, int]:
    """(first, last, total) from a list header like "… · 26–50 of 60"."""
    match = re.search(r"(\d+)–(\d+) of (\d+)", blocks[0]["text"]["text"])
    assert match, blocks[0]
    return int(match[1]), int(match[2]), int(match[3])


def test_stale_next_page_after_deals_were_closed_shows_a_page_that_exists(slack):
    # regression: this used to replace the list with an empty "26–25 of 20" page and no way back
    insert_deals(slack, 30)
    slack.command("list")
    button = next_button(slack.last_response()["blocks"])
    pipeline = slack.oppbot.services
    actor = pipeline.workspaces.context(TEAM, "U0REP1")
    for number in range(1, 11):
        pipeline.deals.win(actor, opp_id=opp(slack, number).id)
    slack.click("list_page", value=button["value"], ephemeral=True)
    page = slack.last_response()
    assert page["replace_original"] is True
    first, last, total = page_range(page["blocks"])
    items = [line for line in list_layout(page["blocks"]) if line.startswith("OPP-")]
    assert total == 20 and 1 <= first <= last <= total and len(items) == last - first + 1


def test_page_button_with_an_absurd_offset_gets_an_answer(slack):
    # regression: an offset beyond the database's integer range used to crash the listener after its ack
    insert_deals(slack, 3)
    slack.click("list_page", value=json.dumps({"o": "U0REP1", "s": None, "n": 10 ** 20}), ephemeral=True)
    answer = slack.last_response()
    assert "/opp list" in answer.get("text", "") or list_layout(answer.get("blocks") or [{}])


# ----- the Details button -----------------------------------------------------------------------

def test_details_button_opens_the_history_and_refuses_strangers(slack, clock):
    slack.create("Acme rollout")
    clock.advance(days=1)
    slack.command("stage OPP-1 nego")
    deal = opp(slack, 1)

    slack.click("card_details", value=str(deal.id))
    [opened] = slack.fake.calls("views.open")[-1:]
    assert opened.response["ok"] and opened.params["trigger_id"].startswith("trigger-act-")
    view = opened.params["view"]
    assert view["callback_id"] == "opportunity_details" and view["title"]["text"] == "OPP-1"
    text = text_of(view["blocks"])
    assert "Stage history" in text and "created in Prospect" in text and "Prospect → Negotiation" in text
    assert text.index("created in Prospect") < text.index("Prospect → Negotiation")

    slack.click("card_details", value=str(deal.id), user="U0OTHER")
    notice = slack.last_view()
    assert notice.get("callback_id") != "opportunity_details"
    assert "belongs to <@U0REP1>" in text_of(notice["blocks"]) and "Stage history" not in text_of(notice["blocks"])

    slack.click("card_details", value=str(deal.id), user="U0MGR")
    assert slack.last_view()["callback_id"] == "opportunity_details"

    slack.click("card_details", value="999999")
    assert "doesn't exist" in text_of(slack.last_view()["blocks"])


# ----- request verification ---------------------------------------------------------------------

def test_forged_signature_is_rejected_and_nothing_is_stored(slack):
    reply = slack.command("new Big deal", secret="wrong")
    assert reply.status == 401
    assert slack.fake.calls("views.open") == []

    slack.command("new Big deal")
    view = slack.last_view()
    reply = slack.submit(view, {"name": "Big deal", "customer": "Acme Corp"}, secret="wrong")
    assert reply.status == 401
    assert rows(slack, Opportunity) == [] and rows(slack, StageChange) == []
    assert slack.fake.calls("chat.postMessage") == []

    slack.submit(view, {"name": "Big deal", "customer": "Acme Corp"})
    assert slack.command("won OPP-1", secret="wrong").status == 401
    assert opp(slack, 1).status == "open" and len(rows(slack, StageChange)) == 1
    assert slack.responses() == []


@pytest.mark.parametrize("skew", [-360, 360])
def test_request_outside_the_five_minute_window_is_rejected(slack, skew):
    slack.command("new Big deal")
    view = slack.last_view()
    reply = slack.submit(view, {"name": "Big deal", "customer": "Acme Corp"}, timestamp=int(time.time()) + skew)
    assert reply.status == 401
    assert rows(slack, Opportunity) == [] and rows(slack, StageChange) == []
    assert slack.command("help", timestamp=int(time.time()) + skew).status == 401
    # inside the window the same request goes through
    assert slack.submit(view, {"name": "Big deal", "customer": "Acme Corp"}, timestamp=int(time.time()) - 240).status == 200
    assert len(rows(slack, Opportunity)) == 1


def test_events_url_verification_is_answered_with_the_challenge(slack):
    body = json.dumps({"token": "legacy", "challenge": "c0ffee-challenge", "type": "url_verification"})
    reply = slack.post(body, "application/json")
    assert reply.status == 200 and "c0ffee-challenge" in reply.body
    assert slack.post(body, "application/json", secret="wrong").status == 401


def test_another_workspaces_user_cant_touch_this_workspaces_deal(slack):
    slack.create("Acme rollout")
    deal = opp(slack, 1)
    for action_id, extra in (("card_won", {"value": str(deal.id)}),
                             ("card_stage_select", {"selected_option": {"value": f"{deal.id}:{stage_ids(slack)['Negotiation']}"},
                                                    "type": "static_select"})):
        action = {"action_id": action_id, "block_id": "b", "action_ts": "1", "type": "button", **extra}
        payload = {"type": "block_actions", "team": {"id": "T0SECOND"}, "user": {"id": "U0ADMIN"}, "api_app_id": "A0OPPBOT",
                   "trigger_id": f"trigger-x-{action_id}", "actions": [action],
                   "container": {"type": "message", "message_ts": "1.0", "channel_id": "C0SALES", "is_ephemeral": False},
                   "channel": {"id": "C0SALES"}, "response_url": slack.fake.response_url(f"x-{action_id}"),
                   "message": {"ts": "1.0", "text": "card"}}
        assert slack.interact(payload).status == 200
    told = [c.params["text"] for c in slack.fake.calls("response_url")]
    assert len(told) == 2 and all("serves the *Fake Team* workspace only" in text for text in told), "the clicker is told (handlers/gate.py)"
    after = opp(slack, 1)
    assert (after.status, after.stage_id) == ("open", stage_ids(slack)["Prospect"])
    assert len(rows(slack, StageChange)) == 1 and slack.fake.calls("chat.update") == []


# ----- /healthz ---------------------------------------------------------------------------------

def test_healthz_answers_ok(slack):
    reply = slack.get("/healthz")
    assert reply.status == 200
    # plain "ok", or a JSON report whose database entry is "ok"
    assert reply.body == "ok" or json.loads(reply.body)["database"] == "ok", reply.body


@pytest.mark.parametrize("url", [
    pytest.param("sqlite:///{tmp}/no/such/directory/oppbot.db", id="sqlite-missing-directory"),
    pytest.param("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2", id="postgresql-nothing-listening"),
])
def test_healthz_with_the_database_unreachable(fake_slack, clock, config, tmp_path, url):
    engine = make_engine(url.format(tmp=tmp_path))
    try:
        with running_app(engine=engine, fake=fake_slack, clock=clock, config=config, sign_in=False) as broken:
            reply = broken.get("/healthz")
            assert reply.status == 503 and reply.body != "ok"
    finally:
        engine.dispose()


# ----- App Home ---------------------------------------------------------------------------------

def home_event(tab: str = "home", user: str = "U0REP1") -> dict:
    return {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab, "event_ts": "1700000000.000001"}


def test_app_home_shows_my_open_deals_by_stage(slack, clock):
    slack.create("Alpha", amount="1000")
    clock.advance(days=1)
    slack.create("Beta", amount="2,500.50")
    slack.create("Gamma")
    slack.command("stage OPP-3 nego")
    slack.create("Rep two's", user="U0REP2")
    slack.create("Done deal")
    slack.command("won OPP-5")
    clock.advance(days=2)

    assert slack.event(home_event()).status == 200
    [publish] = slack.fake.calls("views.publish")
    assert publish.params["user_id"] == "U0REP1" and publish.response["ok"], publish.response
    view = publish.params["view"]
    assert view["type"] == "home"
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [("home_new_opportunity", "New opportunity")]

    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    # the figures are pipeline_by_stage's: Prospect 3,500.50 x 10% = 350.05; Gamma has no amount
    assert [t if not t.startswith("*OPP-") else t.split("*")[1] for t in sections] == [
        "*Open:* 3 deals · USD 3,500.50 · weighted USD 350.05",
        "*Prospect* · 2 open · USD 3,500.50 · weighted USD 350.05", "OPP-1", "OPP-2",
        "*Negotiation* · 1 open · USD 0 · weighted USD 0", "OPP-3",
    ]  # U0REP2's OPP-4 and the won OPP-5 are not on U0REP1's Home
    assert item_line(view["blocks"], "OPP-1").startswith("*OPP-1* Alpha — Acme Corp · USD 1,000 · 3 d in stage")
    assert item_line(view["blocks"], "OPP-2").startswith("*OPP-2* Beta — Acme Corp · USD 2,500.50 · 2 d in stage")
    assert "· 2 d in stage" in item_line(view["blocks"], "OPP-3")
    assert slack.fake.home_view("U0REP1")["blocks"] == view["blocks"]


def test_app_home_redelivered_event_publishes_the_same_view_and_changes_nothing(slack):
    slack.create("Alpha")
    slack.event(home_event(), event_id="Ev0HOME1")
    first = slack.fake.calls("views.publish")[-1].params["view"]
    before_counts, before_calls = counts(slack), len(slack.fake.calls())

    assert slack.event(home_event(), event_id="Ev0HOME1", retry_num=1).status == 200
    new_calls = slack.fake.calls()[before_calls:]
    assert [c.method for c in new_calls] == ["views.publish"]
    assert new_calls[0].params["user_id"] == "U0REP1" and new_calls[0].params["view"] == first
    assert counts(slack) == before_counts


def test_app_home_messages_tab_publishes_nothing(slack):
    slack.create("Alpha")
    assert slack.event(home_event(tab="messages")).status == 200
    assert slack.fake.calls("views.publish") == []


def test_app_home_with_no_deals_invites_to_create_one(slack):
    slack.event(home_event(user="U0OTHER"))
    view = slack.fake.calls("views.publish")[-1].params["view"]
    assert "no open opportunities" in text_of(view["blocks"])
    assert any(e["action_id"] == "home_new_opportunity" for b in view["blocks"] if b["type"] == "actions" for e in b["elements"])


def test_app_home_with_many_deals_stays_within_slack_limits(slack):
    names = ["Prospect", "Solution design", "Technical evaluation", "Negotiation"]
    insert_deals(slack, 70, stage_of=lambda i: names[i % 4])
    slack.event(home_event())
    publish = slack.fake.calls("views.publish")[-1]
    assert publish.response["ok"], publish.response  # the fake checks the 100-block limit and text lengths
    blocks = publish.params["view"]["blocks"]
    assert len(blocks) <= 100
    text = text_of(blocks)
    for stage, count in zip(names, (17, 18, 18, 17)):  # i % 4 over 1..70
        assert f"*{stage}* · {count} open" in text
    shown = len([b for b in blocks if b.get("accessory", {}).get("action_id") == "card_details"])
    hidden = sum(int(n) for n in re.findall(r"…and (\d+) more in", text))
    assert shown + hidden == 70 and 0 < shown <= 50


# ----- Slack answering 429 / 5xx ----------------------------------------------------------------

def test_rate_limited_card_post_waits_out_retry_after_and_is_posted_once(slack):
    """A 429 leaves the card's outbox row pending, due when Retry-After says (on the clock: no thread sleeps)."""
    slack.fake.rate_limit_next("chat.postMessage", retry_after=1)
    assert slack.create("Acme rollout").status == 200
    assert [(p.status, p.params["channel"]) for p in slack.fake.calls("chat.postMessage")] == [(429, "C0SALES")]
    assert rows(slack, PostedCard) == []  # waiting, not lost
    slack.clock.advance(seconds=1)
    slack.deliver()
    posts = slack.fake.calls("chat.postMessage")
    assert [(p.status, p.params["channel"]) for p in posts] == [(429, "C0SALES"), (200, "C0SALES")]
    [card] = rows(slack, PostedCard)
    assert (card.channel_id, card.ts) == ("C0SALES", posts[1].response["ts"])
    assert slack.fake.calls("conversations.open") == []  # not sent by DM instead
    [note] = slack.fake.calls("chat.postEphemeral")
    assert note.params["text"] == "OPP-1 is created in <#C0SALES>."


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_on_card_post_is_retried_after_a_backoff(slack, status):
    slack.fake.server_error_next("chat.postMessage", status=status)
    assert slack.create("Acme rollout").status == 200
    assert [p.status for p in slack.fake.calls("chat.postMessage")] == [status]
    slack.clock.advance(seconds=30)  # the first backoff
    slack.deliver()
    posts = slack.fake.calls("chat.postMessage")
    assert [p.status for p in posts] == [status, 200]
    [card] = rows(slack, PostedCard)
    assert (card.channel_id, card.ts) == ("C0SALES", posts[1].response["ts"])
    assert slack.fake.calls("conversations.open") == []


def test_rate_limited_card_update_is_retried(slack):
    slack.create("Acme rollout")
    slack.fake.rate_limit_next("chat.update", retry_after=1)
    slack.command("stage OPP-1 nego")
    assert [u.status for u in slack.fake.calls("chat.update")] == [429]
    slack.clock.advance(seconds=1)
    slack.deliver()
    updates = slack.fake.calls("chat.update")
    assert [u.status for u in updates] == [429, 200]
    assert len(rows(slack, PostedCard)) == 1
    assert "Negotiation · 0 days in stage" in text_of(updates[1].params["blocks"])
