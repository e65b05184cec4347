"""Deals in a workspace of several pipelines (New business, Renewals, Partners): the New opportunity form asks which
pipeline and offers its stages, stages resolve within the deal's pipeline, managers move deals to another pipeline
(`/opp move`, the card's More menu), and `/opp list` finds and groups stages across pipelines."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from bot.deals.views import ListPage, card_controls, list_blocks
from bot.domain.stages import map_stage, resolve_listed_stage, resolve_pipeline, split_move
from bot.domain.values import Invalid, OpportunityDraft, OpportunityView, Pipeline, Pipelines, StageInfo
from bot.followups.views import stalled_message
from bot.i18n import ENGLISH, translator
from bot.workspace.config import parse_config
from storage.analytics.values import STALLED_BY_MAX_DAYS, StalledDeal
from storage.models import Opportunity, PostedCard, StageChange
from tests.driver import TEAM
from tests.support import TEST_CONFIG, THREE_PIPELINES_CONFIG, add_three_pipeline_channels, context, opp, pipeline_stage_ids, rows, text_of
from tests.test_architecture import assert_one_write, one_request

# a fourth team whose pipeline is Partners, for a reader whose home pipeline has no Negotiation
WITH_PARTNERS_TEAM = THREE_PIPELINES_CONFIG + """
[[teams]]
name = "Channel"
manager = "U0ADMIN"
members = ["U0SLACKADMIN"]
pipeline = "Partners"
"""


@pytest.fixture
def config(request):
    return parse_config(getattr(request, "param", THREE_PIPELINES_CONFIG), "three.toml")


# ----- helpers ------------------------------------------------------------------------------------

def pipeline_ids(slack) -> dict[str, int]:
    return {p.name: p.id for p in slack.oppbot.services.workspaces.pipelines(TEAM).all}


def block(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def stage_block(view: dict) -> dict:
    [found] = [b for b in view["blocks"] if b.get("block_id", "").startswith("stage")]
    return found


def option_labels(element: dict) -> list[str]:
    return [o["text"]["text"] for o in element["options"]]


def create_in(slack, pipeline: str, stage: str, *, name: str = "Acme rollout", user: str = "U0REP1", owner: str | None = None) -> Opportunity:
    """Through the form: /opp new, pick the pipeline (the form is redrawn), pick the stage, submit."""
    slack.command(f"new {name}", user=user)
    ids = pipeline_ids(slack)
    if block(slack.open_modal(), "pipeline")["element"]["initial_option"]["value"] != str(ids[pipeline]):
        slack.choose_in_modal("pipeline", str(ids[pipeline]), {"name": name}, user=user)
    view = slack.open_modal()
    reply = slack.submit(view, {"name": name, "customer": "Acme Corp", "pipeline": str(ids[pipeline]),
                                stage_block(view)["block_id"]: str(pipeline_stage_ids(slack, pipeline)[stage]), "owner": owner or user}, user=user)
    assert reply.status == 200 and not reply.body, reply.body
    return rows(slack, Opportunity, name=name)[-1]


def quick_deal(slack, pipeline: str, stage: str, *, owner: str = "U0REP1", name: str = "Deal") -> OpportunityView:
    """A deal made through the service (setting the scene for a list), as the form would."""
    services = slack.oppbot.services
    draft = OpportunityDraft(name=name, customer="Cust", owner_id=owner, stage_id=pipeline_stage_ids(slack, pipeline)[stage], currency="USD")
    made, _ = services.deals.create(context(services, owner), draft, channel_id=None)
    return made


def last_text(slack) -> str:
    return slack.last_response()["text"]


def changes(slack, deal: Opportunity) -> list[StageChange]:
    return rows(slack, StageChange, opportunity_id=deal.id)


# ----- the New opportunity form ----------------------------------------------------------------------

def test_the_form_asks_for_the_pipeline_first_with_the_submitters_own_preselected(slack):
    ids = pipeline_ids(slack)
    stages = pipeline_stage_ids(slack, "New business")
    slack.command("new Acme", user="U0REP1")
    view = slack.last_view()
    first = view["blocks"][0]
    assert first["block_id"] == "pipeline" and first["dispatch_action"] is True
    assert option_labels(first["element"]) == ["New business", "Renewals", "Partners"]
    assert first["element"]["initial_option"]["value"] == str(ids["New business"])
    stage = stage_block(view)
    assert stage["block_id"] == f"stage:{ids['New business']}"
    assert option_labels(stage["element"]) == ["1. Prospect", "2. Solution design", "3. Technical evaluation", "4. Proposal", "5. Negotiation"]
    assert stage["element"]["initial_option"]["value"] == str(stages["Prospect"])

    slack.command("new Renewal", user="U0OTHER")  # the Accounts team's pipeline is Renewals
    view = slack.last_view()
    assert view["blocks"][0]["element"]["initial_option"]["value"] == str(ids["Renewals"])
    assert stage_block(view)["block_id"] == f"stage:{ids['Renewals']}"
    assert option_labels(stage_block(view)["element"]) == ["1. Renewal due", "2. Quote sent", "3. Negotiation"]


def test_the_shortcut_the_message_shortcut_and_the_home_button_open_the_same_form(slack):
    ids = pipeline_ids(slack)
    slack.shortcut("new_opportunity", user="U0OTHER")
    slack.shortcut("opportunity_from_message", user="U0OTHER", message={"ts": "5.0", "text": "Renew Globex", "user": "U0OTHER"},
                   channel="C0SALES")
    slack.click("home_new_opportunity", value="new", user="U0OTHER", home=True)
    views = [c.params["view"] for c in slack.fake.calls("views.open")]
    assert len(views) == 3
    for view in views:
        assert view["blocks"][0]["element"]["initial_option"]["value"] == str(ids["Renewals"])
        assert option_labels(stage_block(view)["element"]) == ["1. Renewal due", "2. Quote sent", "3. Negotiation"]


def test_choosing_another_pipeline_redraws_the_form_with_its_stages(slack):
    ids = pipeline_ids(slack)
    slack.command("new Acme", user="U0REP1")
    opened = slack.open_modal()

    assert slack.choose_in_modal("pipeline", str(ids["Partners"]), {"name": "Acme", "customer": "Acme Corp"}).status == 200

    [update] = slack.fake.calls("views.update")
    assert update.params["view_id"] == opened["id"] and update.params["hash"] == opened["hash"]
    redrawn = slack.open_modal()
    assert redrawn["private_metadata"] == opened["private_metadata"]
    assert json.loads(redrawn["private_metadata"]) == {"channel": "C0SALES"}
    stage = stage_block(redrawn)
    assert stage["block_id"] == f"stage:{ids['Partners']}"  # a new block id: Slack forgets the stage picked before
    assert option_labels(stage["element"]) == ["1. Registered", "2. Qualified", "3. Joint proposal", "4. Commit"]
    assert [b["block_id"] for b in redrawn["blocks"] if not b["block_id"].startswith("stage")] == \
        [b["block_id"] for b in opened["blocks"] if not b["block_id"].startswith("stage")]


def test_a_stage_of_another_pipeline_is_refused_on_the_stage_block_and_nothing_is_saved(slack):
    ids = pipeline_ids(slack)
    slack.command("new Acme", user="U0REP1")
    view = slack.last_view()
    stage_id = f"stage:{ids['New business']}"

    reply = slack.submit(view, {"name": "Acme", "customer": "Acme Corp", "pipeline": str(ids["New business"]),
                                stage_id: str(pipeline_stage_ids(slack, "Renewals")["Quote sent"])})

    assert reply.json == {"response_action": "errors", "errors": {stage_id: "Pick one of the New business pipeline's stages."}}
    assert rows(slack, Opportunity) == []

    # the pipeline picked but the form not redrawn yet (the stages shown are still New business'): refused too
    reply = slack.submit(view, {"name": "Acme", "customer": "Acme Corp", "pipeline": str(ids["Renewals"]),
                                stage_id: str(pipeline_stage_ids(slack, "New business")["Proposal"])})
    assert reply.json["errors"] == {stage_id: "Pick one of the Renewals pipeline's stages."}
    reply = slack.submit(view, {"name": "Acme", "customer": "Acme Corp", "pipeline": "999999"})
    assert reply.json["errors"] == {"pipeline": "Pick one of the pipelines in the list."}
    assert rows(slack, Opportunity) == []


def test_a_deal_is_created_in_each_pipeline(slack):
    made = {name: create_in(slack, pipeline, stage, name=name) for name, pipeline, stage in (
        ("New deal", "New business", "Proposal"), ("Renewal", "Renewals", "Quote sent"), ("Partner deal", "Partners", "Qualified"))}
    assert made["New deal"].stage_id == pipeline_stage_ids(slack, "New business")["Proposal"]
    assert made["Renewal"].stage_id == pipeline_stage_ids(slack, "Renewals")["Quote sent"]
    assert made["Partner deal"].stage_id == pipeline_stage_ids(slack, "Partners")["Qualified"]
    posted = [c.params for c in slack.fake.calls("chat.postMessage") if "Renewal" in c.params.get("text", "")]
    assert "_Renewals_ · Renewal due › *[Quote sent]* › Negotiation" in text_of(posted[0]["blocks"])


@pytest.mark.parametrize("config", [TEST_CONFIG], indirect=True)
def test_with_one_pipeline_the_form_and_the_card_are_as_before(slack):
    slack.command("new Acme")
    view = slack.last_view()
    assert "pipeline" not in [b.get("block_id") for b in view["blocks"]]
    assert stage_block(view)["block_id"] == "stage"
    assert slack.submit(view, {"name": "Acme", "customer": "Acme Corp"}).status == 200
    card_blocks = slack.fake.calls("chat.postMessage")[-1].params["blocks"]
    more = next(e for b in card_blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "card_more")
    assert not [o for o in more["options"] if o["value"].startswith("move_pipeline")]
    slack.command("move OPP-1 renewals", user="U0ADMIN")
    assert last_text(slack) == ":warning: This workspace has one pipeline only; there is no other pipeline to move a deal to."


# ----- stages within the deal's pipeline -------------------------------------------------------------

def test_a_typed_stage_is_the_deals_pipelines(slack):
    new_deal = create_in(slack, "New business", "Prospect", name="New deal")
    renewal = create_in(slack, "Renewals", "Renewal due", name="Renewal", user="U0OTHER")

    slack.command(f"stage OPP-{new_deal.number} negotiation", user="U0REP1")
    slack.command(f"stage OPP-{renewal.number} negotiation", user="U0OTHER")

    assert opp(slack, new_deal.number).stage_id == pipeline_stage_ids(slack, "New business")["Negotiation"]
    assert opp(slack, renewal.number).stage_id == pipeline_stage_ids(slack, "Renewals")["Negotiation"]
    assert "moved from *Renewal due* to *Negotiation*" in last_text(slack)


def test_a_stage_of_another_pipeline_is_refused_with_the_valid_stages_named(slack):
    renewal = create_in(slack, "Renewals", "Renewal due", name="Renewal", user="U0OTHER")

    slack.command(f"stage OPP-{renewal.number} technical evaluation", user="U0OTHER")

    text = last_text(slack)
    assert "“technical evaluation” is a stage of the New business pipeline, and this deal is in the Renewals pipeline" in text
    assert "1. Renewal due, 2. Quote sent, 3. Negotiation" in text and "/opp move" in text
    assert opp(slack, renewal.number).stage_id == pipeline_stage_ids(slack, "Renewals")["Renewal due"]
    slack.command(f"stage OPP-{renewal.number} nonsense", user="U0OTHER")
    assert "Unknown stage “nonsense”. Valid stages: 1. Renewal due, 2. Quote sent, 3. Negotiation." in last_text(slack)


# ----- moving a deal to another pipeline ----------------------------------------------------------------

def test_a_manager_moves_a_deal_to_another_pipeline(slack):
    add_three_pipeline_channels(slack.fake)
    deal = create_in(slack, "New business", "Proposal")
    [card] = rows(slack, PostedCard, opportunity_id=deal.id)
    slack.deliver()
    before = len(slack.fake.calls("chat.update"))

    slack.command("move OPP-1 renewals quote", user="U0MGR")

    assert last_text(slack) == "OPP-1 moved to the Renewals pipeline, in Quote sent."
    moved = opp(slack)
    assert moved.stage_id == pipeline_stage_ids(slack, "Renewals")["Quote sent"] and moved.status == "open"
    last = changes(slack, deal)[-1]
    assert (last.from_stage_id, last.to_stage_id, last.to_status, last.changed_by) == (
        pipeline_stage_ids(slack, "New business")["Proposal"], pipeline_stage_ids(slack, "Renewals")["Quote sent"], "open", "U0MGR")
    updates = slack.fake.calls("chat.update")[before:]
    assert [(u.params["channel"], u.params["ts"]) for u in updates] == [(card.channel_id, card.ts)]
    assert "_Renewals_ · Renewal due › *[Quote sent]* › Negotiation" in text_of(updates[-1].params["blocks"])

    slack.deliver()  # the new stage's alert, in the Renewals stage's channel
    [alert] = [c.params for c in slack.fake.calls("chat.postMessage") if c.params["channel"] == "C0RENEWALS"]
    assert "into *Quote sent* of the Renewals pipeline" in text_of(alert["blocks"])
    assert "Renewals › Quote sent" in text_of(alert["blocks"])

    slack.command("show OPP-1", user="U0MGR")
    assert "moved from the New business pipeline (Proposal) to Renewals (Quote sent)" in text_of(slack.last_response()["blocks"])


def test_without_a_stage_the_deal_lands_in_the_stage_of_the_same_name_else_the_same_place(slack):
    create_in(slack, "New business", "Negotiation", name="One")
    create_in(slack, "New business", "Technical evaluation", name="Two")

    slack.command("move OPP-1 Renewals", user="U0ADMIN")
    assert last_text(slack) == "OPP-1 moved to the Renewals pipeline, in Negotiation."
    slack.command("move OPP-2 partners", user="U0ADMIN")  # the third stage
    assert last_text(slack) == "OPP-2 moved to the Partners pipeline, in Joint proposal."
    slack.command("move OPP-1 new business", user="U0ADMIN")
    assert opp(slack, 1).stage_id == pipeline_stage_ids(slack, "New business")["Negotiation"]


def test_the_owner_may_not_move_a_deal_to_another_pipeline(slack):
    add_three_pipeline_channels(slack.fake)
    deal = create_in(slack, "New business", "Proposal")
    slack.deliver()
    posted = len(slack.fake.calls("chat.postMessage"))

    slack.command("move OPP-1 renewals", user="U0REP1")

    assert last_text(slack) == ":warning: You can't move OPP-1 to another pipeline: only <@U0REP1>'s manager (<@U0MGR>) or an oppbot admin can."
    assert opp(slack).stage_id == pipeline_stage_ids(slack, "New business")["Proposal"] and len(changes(slack, deal)) == 1
    slack.deliver()
    assert len(slack.fake.calls("chat.postMessage")) == posted


def test_a_closed_deal_an_unknown_pipeline_and_the_same_pipeline_are_refused(slack):
    deal = create_in(slack, "New business", "Proposal")
    slack.command("move OPP-1 atlantis", user="U0MGR")
    assert last_text(slack) == ":warning: Unknown pipeline “atlantis”. Pipelines: New business, Renewals, Partners."
    slack.command("move OPP-1 new business negotiation", user="U0MGR")
    assert "OPP-1 is already in the New business pipeline" in last_text(slack)
    slack.command("move OPP-1 renewals commit", user="U0MGR")
    assert "Unknown stage “commit”" in last_text(slack)
    slack.command("won OPP-1", user="U0REP1")
    slack.command("move OPP-1 renewals", user="U0MGR")
    assert "OPP-1 is closed: reopen it first" in last_text(slack)
    assert [c.to_status for c in changes(slack, deal)] == ["open", "won"]
    assert opp(slack).stage_id == pipeline_stage_ids(slack, "New business")["Proposal"]
    reply = slack.command("move OPP-1", user="U0MGR")  # answered in the ack: a malformed command needs no database
    assert "Usage: /opp move OPP-12 &lt;pipeline&gt; [stage]." in reply.json["text"]


def test_the_cards_more_menu_moves_a_deal_through_a_small_form(slack):
    ids = pipeline_ids(slack)
    deal = create_in(slack, "New business", "Technical evaluation")
    [card] = rows(slack, PostedCard, opportunity_id=deal.id)
    card_blocks = slack.fake.calls("chat.postMessage")[-1].params["blocks"]
    more = next(e for b in card_blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "card_more")
    assert f"move_pipeline:{deal.id}" in [o["value"] for o in more["options"]]

    slack.click("card_more", selected=f"move_pipeline:{deal.id}", user="U0REP1", channel=card.channel_id, message_ts=card.ts)
    assert "only <@U0REP1>'s manager (<@U0MGR>) or an oppbot admin can" in last_text(slack)
    assert not [v for v in slack.fake.calls("views.open") if v.params["view"].get("callback_id") == "move_pipeline_form"]

    slack.click("card_more", selected=f"move_pipeline:{deal.id}", user="U0MGR", channel=card.channel_id, message_ts=card.ts)
    form = slack.open_modal()
    assert form["callback_id"] == "move_pipeline_form"
    assert option_labels(block(form, "pipeline")["element"]) == ["Renewals", "Partners"]
    assert stage_block(form)["element"]["initial_option"]["text"]["text"] == "3. Negotiation"  # the same place

    slack.choose_in_modal("pipeline", str(ids["Partners"]), user="U0MGR")
    form = slack.open_modal()
    assert stage_block(form)["block_id"] == f"stage:{ids['Partners']}"
    assert option_labels(stage_block(form)["element"]) == ["1. Registered", "2. Qualified", "3. Joint proposal", "4. Commit"]
    assert stage_block(form)["element"]["initial_option"]["text"]["text"] == "3. Joint proposal"

    wrong = slack.submit(form, {"pipeline": str(ids["Partners"]), stage_block(form)["block_id"]: str(pipeline_stage_ids(slack, "Renewals")["Quote sent"])},
                         user="U0MGR")
    assert wrong.json["errors"] == {stage_block(form)["block_id"]: "Pick one of the Partners pipeline's stages."}

    reply = slack.submit(form, {"pipeline": str(ids["Partners"]), stage_block(form)["block_id"]: str(pipeline_stage_ids(slack, "Partners")["Commit"])},
                         user="U0MGR")
    assert reply.status == 200 and not reply.body
    assert opp(slack).stage_id == pipeline_stage_ids(slack, "Partners")["Commit"]
    assert last_text(slack).startswith("OPP-1 moved to the Partners pipeline, in Commit.")


# ----- /opp list -------------------------------------------------------------------------------------

def test_list_finds_a_stage_in_the_home_pipeline_first_then_in_the_others(slack):
    quick_deal(slack, "New business", "Proposal", owner="U0OTHER", name="Upsell")
    quick_deal(slack, "Renewals", "Negotiation", owner="U0OTHER", name="Renewal")
    quick_deal(slack, "New business", "Negotiation", owner="U0OTHER", name="Big one")

    slack.command("list negotiation", user="U0OTHER")  # Renewals is U0OTHER's pipeline
    assert "Renewal" in text_of(slack.last_response()["blocks"]) and "Big one" not in text_of(slack.last_response()["blocks"])
    assert "in Renewals › Negotiation" in text_of(slack.last_response()["blocks"])
    slack.command("list proposal", user="U0OTHER")  # only New business has it (Partners' Joint proposal is a part match)
    assert "Upsell" in text_of(slack.last_response()["blocks"])
    slack.command("list new business › negotiation", user="U0OTHER")
    assert "Big one" in text_of(slack.last_response()["blocks"]) and "Renewal" not in text_of(slack.last_response()["blocks"])
    slack.command("list new:negotiation", user="U0OTHER")
    assert "Big one" in text_of(slack.last_response()["blocks"])
    slack.command("list atlantis:negotiation", user="U0OTHER")
    assert "Unknown pipeline “atlantis”" in last_text(slack)


@pytest.mark.parametrize("config", [WITH_PARTNERS_TEAM], indirect=True)
def test_a_stage_name_several_other_pipelines_have_is_asked_about(slack):
    slack.command("list negotiation", user="U0SLACKADMIN")  # their pipeline, Partners, has no Negotiation
    text = last_text(slack)
    assert "“negotiation” is a stage of several pipelines: New business › Negotiation, Renewals › Negotiation." in text
    assert "/opp list new:negotiation" in text
    slack.command("list renewals:negotiation", user="U0SLACKADMIN")
    assert "in Renewals › Negotiation: none" in text_of(slack.last_response()["blocks"])


def test_a_page_spanning_three_pipelines_and_many_stages_fits_in_a_message(slack):
    places = [(p, s) for p, stages in (("New business", ["Prospect", "Solution design", "Technical evaluation", "Proposal", "Negotiation"]),
                                        ("Renewals", ["Renewal due", "Quote sent", "Negotiation"]),
                                        ("Partners", ["Registered", "Qualified", "Joint proposal", "Commit"])) for s in stages]
    for n in range(30):
        pipeline, stage = places[n % len(places)]
        quick_deal(slack, pipeline, stage, name=f"Deal {n}")

    slack.command("list", user="U0REP1")

    blocks = slack.last_response()["blocks"]
    assert len(blocks) <= 50
    headers = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert headers == ["New business", "Renewals", "Partners"]
    deal_lines = [b for b in blocks if b["type"] == "section" and "accessory" in b]
    assert len(deal_lines) == 25
    assert blocks[-1]["elements"][0]["action_id"] == "list_page"
    # Negotiation twice, once under each pipeline's header
    labels = [b["elements"][0]["text"] for b in blocks if b["type"] == "context" and b["elements"][0]["text"].startswith("*")]
    assert labels.count("*Negotiation*") == 2 and len(labels) == 10  # pipeline then stage order: Partners' last two stages are on page 2


def test_opp_move_is_one_write_transaction(slack):
    create_in(slack, "New business", "Proposal")
    slack.command("list", user="U0MGR")  # the manager's profile cached
    counts = one_request(slack, lambda: slack.command("move OPP-1 renewals", user="U0MGR"))
    assert last_text(slack) == "OPP-1 moved to the Renewals pipeline, in Negotiation."  # the fourth stage, clipped to the last
    assert_one_write(counts)


# ----- units: resolving pipelines, mapping stages, the list's layout ------------------------------------

def _stage(id_: int, position: int, name: str, **kw) -> StageInfo:
    return StageInfo(id=id_, position=position, name=name, probability=50, max_days=14, **kw)


NEW = Pipeline(stages=(_stage(1, 1, "Prospect"), _stage(2, 2, "Solution design"), _stage(3, 3, "Technical evaluation"), _stage(4, 4, "Proposal"),
                       _stage(5, 5, "Negotiation")), retired=(_stage(6, 6, "Old step"),), id=1, name="New business")
RENEWALS = Pipeline(stages=(_stage(11, 1, "Renewal due"), _stage(12, 2, "Quote sent"), _stage(13, 3, "negotiation")), id=2, name="Renewals")
PARTNERS = Pipeline(stages=(_stage(21, 1, "Registered"), _stage(22, 2, "Qualified"), _stage(23, 3, "Joint proposal"), _stage(24, 4, "Commit")),
                    id=3, name="Partners")
PARTNER_PLUS = Pipeline(stages=(_stage(31, 1, "Registered"),), id=4, name="Partners EMEA")
OLD = Pipeline(stages=(_stage(41, 1, "Lead"),), id=5, name="Legacy", active=False)
ALL = Pipelines((NEW, RENEWALS, PARTNERS, PARTNER_PLUS, OLD))


def test_resolve_pipeline_by_exact_name_prefix_or_part():
    active = ALL.active
    assert resolve_pipeline("renewals", active) is RENEWALS
    assert resolve_pipeline("  NEW  ", active) is NEW
    assert resolve_pipeline("business", active) is NEW
    assert resolve_pipeline("partners", active) is PARTNERS  # exact beats the prefix of Partners EMEA
    assert resolve_pipeline("emea", active) is PARTNER_PLUS
    with pytest.raises(Invalid) as ambiguous:
        resolve_pipeline("part", active)
    assert str(ambiguous.value) == "“part” matches several pipelines (Partners, Partners EMEA); type more of the name."
    with pytest.raises(Invalid) as unknown:
        resolve_pipeline("legacy", active)  # retired
    assert str(unknown.value) == "Unknown pipeline “legacy”. Pipelines: New business, Renewals, Partners, Partners EMEA."
    with pytest.raises(Invalid, match="Which pipeline"):
        resolve_pipeline(" ", active)


def test_split_move_takes_the_longest_run_of_words_that_names_a_pipeline():
    active = ALL.active
    assert split_move("new business proposal", active) == (NEW, "proposal")
    assert split_move("Renewals", active) == (RENEWALS, None)
    assert split_move("partners emea registered", active) == (PARTNER_PLUS, "registered")
    assert split_move("partners qualified", active) == (PARTNERS, "qualified")
    assert split_move("renewals:quote sent", active) == (RENEWALS, "quote sent")
    assert split_move("Renewals › Quote sent", active) == (RENEWALS, "Quote sent")
    with pytest.raises(Invalid, match="Unknown pipeline “atlantis now”"):
        split_move("atlantis now", active)


def test_map_stage_same_name_else_same_place_clipped():
    assert map_stage(5, NEW, RENEWALS).id == 13  # Negotiation ~ negotiation, case-insensitive
    assert map_stage(2, NEW, RENEWALS).id == 12  # the second stage
    assert map_stage(4, NEW, RENEWALS).id == 13  # the fourth, clipped to the last
    assert map_stage(12, RENEWALS, NEW).id == 2
    assert map_stage(6, NEW, PARTNERS).id == 24  # a retired stage: after the five active ones, clipped


def test_resolve_listed_stage_home_first_then_others():
    assert resolve_listed_stage("negotiation", ALL, RENEWALS).id == 13
    assert resolve_listed_stage("negotiation", ALL, NEW).id == 5
    assert resolve_listed_stage("2", ALL, RENEWALS).id == 12  # a number is a place in the home pipeline
    assert resolve_listed_stage("quote", ALL, NEW).id == 12
    assert resolve_listed_stage("proposal", ALL, RENEWALS).id == 4  # exact beats Partners' Joint proposal
    with pytest.raises(Invalid, match="is a stage of several pipelines: New business › Negotiation, Renewals › negotiation"):
        resolve_listed_stage("negotiation", ALL, PARTNERS)
    with pytest.raises(Invalid) as unknown:
        resolve_listed_stage("nothing", ALL, NEW)
    assert "New business › Prospect" in str(unknown.value) and "Partners › Commit" in str(unknown.value)
    one = Pipelines((NEW,))
    with pytest.raises(Invalid) as only_one:
        resolve_listed_stage("nothing", one, NEW)
    assert str(only_one.value).startswith("Unknown stage “nothing”. Valid stages: 1. Prospect")


NOW = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)


def _deal(number: int, stage_id: int) -> OpportunityView:
    return OpportunityView(id=number, team_id=TEAM, number=number, name=f"Deal {number}", customer="Cust", amount=None, currency="USD",
                           close_date=None, stage_id=stage_id, status="open", owner_id="U0REP1", created_by="U0REP1", created_at=NOW,
                           updated_at=NOW, stage_entered_at=NOW)


def test_a_page_over_many_pipelines_merges_its_labels_into_the_deal_lines():
    many = Pipelines(tuple(Pipeline(stages=(_stage(100 + i, 1, "Qualify"), _stage(200 + i, 2, "Close")), id=i, name=f"Line {i}")
                           for i in range(1, 14)))
    items = [_deal(n, (100 if n % 2 else 200) + (n + 1) // 2) for n in range(1, 26)]
    blocks = list_blocks(ListPage(owner_id="U0REP1", items=items, total=40, offset=0), many, NOW, viewer_id="U0REP1", t=translator(ENGLISH))
    assert len(blocks) <= 50
    deal_lines = [b for b in blocks if b["type"] == "section" and "accessory" in b]
    assert len(deal_lines) == 25
    assert all(line["text"]["text"].startswith("*") for line in deal_lines)
    shown = text_of(blocks)
    assert all(f"Deal {n}" in shown for n in range(1, 26))


def test_the_more_menu_offers_a_pipeline_move_only_with_several_active_pipelines():
    t = translator(ENGLISH)
    deal = _deal(1, 2)

    def more(pipelines: Pipelines) -> list[str]:
        return [o["value"] for o in card_controls(deal, pipelines, t=t)[-1]["options"]]

    assert "move_pipeline:1" in more(ALL)
    assert "move_pipeline:1" not in more(Pipelines((NEW,)))
    assert "move_pipeline:1" not in more(Pipelines((NEW, OLD)))


def test_the_stalled_dm_offers_the_deals_pipelines_stages():
    deal = _deal(7, 12)
    stalled = StalledDeal(opportunity_id=7, number=7, name="Deal 7", owner_id="U0REP1", stage_id=12, days_in_stage=20, rule=STALLED_BY_MAX_DAYS,
                          threshold_days=14, max_days=14, typical_days=None, typical_visits=0)
    _, blocks = stalled_message(deal, stalled, ALL, t=translator(ENGLISH))
    assert blocks[1]["elements"][0]["text"] == "In the Renewals pipeline."
    select = blocks[2]["elements"][0]
    assert option_labels(select) == ["1. Renewal due", "2. Quote sent", "3. negotiation"]
    assert select["initial_option"]["value"] == "7:12"


def test_a_stage_whose_name_has_a_colon_is_listed_by_its_name():
    demo = Pipeline(stages=(_stage(51, 1, "Step 1: Demo"),), id=6, name="Trials")
    pipelines = Pipelines((NEW, demo))
    assert resolve_listed_stage("step 1: demo", pipelines, NEW).id == 51
    assert resolve_listed_stage("trials:step", pipelines, NEW).id == 51
    with pytest.raises(Invalid, match="Unknown pipeline “atlantis”"):
        resolve_listed_stage("atlantis:demo", pipelines, NEW)
