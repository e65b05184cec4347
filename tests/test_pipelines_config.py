"""/opp config with several pipelines, through the Slack-shaped surface: the Pipeline select redraws the modal
(views.update), each pipeline's settings, name and channels saved alone, Add a pipeline (views.push, stage lines),
Retire this pipeline (refused while a team uses it or it holds open deals), admins only, and the configuration
file applied again unchanged keeps what the admins edited."""

from __future__ import annotations

import json
from itertools import count

import pytest
from sqlmodel import Session

from bot.i18n import translator
from bot.slack.ids import CONFIG_ADD_PIPELINE_BUTTON, CONFIG_PIPELINE_SELECT, NEW_PIPELINE_MODAL
from bot.workspace.config import parse_config, to_toml
from bot.workspace.forms import SettingsProblem, WorkspaceSettings, read_stage_lines
from bot.workspace.views import config_modal, new_pipeline_modal
from storage.models import Pipeline, Stage
from tests.driver import TEAM, running_app
from tests.fakeslack import check_view
from tests.support import THREE_PIPELINES_CONFIG, add_three_pipeline_channels, context, create, pipeline_stage_ids

_ids = count(1)
EN = translator("en")


@pytest.fixture
def config():
    return parse_config(THREE_PIPELINES_CONFIG, "three.toml")


@pytest.fixture
def channels(fake_slack):
    add_three_pipeline_channels(fake_slack)
    return fake_slack


def pipelines(slack):
    return slack.oppbot.services.workspaces.pipelines(TEAM)


def pipeline_id(slack, name: str) -> int:
    return next(p.id for p in pipelines(slack).all if p.name == name)


def open_config(slack, text: str = "", user: str = "U0ADMIN") -> dict:
    slack.command(f"config {text}".strip(), user=user)
    return slack.open_modal()


def values_of(view: dict, **overrides) -> dict:
    """What the modal holds as drawn (its initial values), with `overrides` ({block_id: value})."""
    values: dict = {}
    for block in view["blocks"]:
        element = block.get("element", {})
        kind = element.get("type")
        if kind == "plain_text_input":
            values[block["block_id"]] = element.get("initial_value", "")
        elif kind == "conversations_select" and element.get("initial_conversation"):
            values[block["block_id"]] = element["initial_conversation"]
        elif kind in ("radio_buttons", "static_select") and element.get("initial_option"):
            values[block["block_id"]] = element["initial_option"]["value"]
    values.update(overrides)
    return values


def submit(slack, view: dict, values: dict, user: str = "U0ADMIN"):
    """A view_submission as Slack sends it: the state of every input given, the view's blocks and metadata."""
    state = {}
    for block in view["blocks"]:
        if block.get("type") != "input" or block["block_id"] not in values:
            continue
        element, value = block["element"], values[block["block_id"]]
        kind = element["type"]
        if kind == "plain_text_input":
            entry = {"type": kind, "value": value}
        elif kind == "conversations_select":
            entry = {"type": kind, "selected_conversation": value}
        else:
            entry = {"type": kind, "selected_option": None if value is None else {"text": {"type": "plain_text", "text": value}, "value": value}}
        state[block["block_id"]] = {element["action_id"]: entry}
    return slack.interact({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": user}, "api_app_id": "A0OPPBOT",
                           "trigger_id": f"trigger-pc-{next(_ids)}",
                           "view": {"id": view.get("id", "V0MODAL"), "type": "modal", "callback_id": view["callback_id"],
                                    "private_metadata": view.get("private_metadata", ""), "blocks": view["blocks"],
                                    "state": {"values": state}}})


def click_add(slack, view: dict, user: str = "U0ADMIN"):
    """The Add a pipeline button of the open modal: block_actions from a view, with a trigger for views.push."""
    return slack.interact({"type": "block_actions", "team": {"id": TEAM}, "user": {"id": user}, "api_app_id": "A0OPPBOT",
                           "trigger_id": f"trigger-add-{next(_ids)}", "container": {"type": "view", "view_id": view["id"]},
                           "view": {"id": view["id"], "hash": view["hash"], "type": "modal", "callback_id": view["callback_id"],
                                    "private_metadata": view.get("private_metadata", ""), "state": {"values": {}}},
                           "actions": [{"action_id": CONFIG_ADD_PIPELINE_BUTTON, "block_id": "config_actions", "type": "button",
                                        "value": "add", "action_ts": "1"}]})


def block(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def stage_blocks(view: dict) -> list[str]:
    return [b["block_id"] for b in view["blocks"] if b["block_id"].startswith("stage:") and b["block_id"].endswith(":probability")]


# ----- the modal, and switching pipeline ---------------------------------------------------------------

def test_the_modal_starts_with_the_admins_pipeline_and_switches_by_views_update(slack, channels):
    slack.oppbot.services.alert_senders.resolve_channels(TEAM)  # #renewals is C0RENEWALS
    view = open_config(slack)
    assert check_view(view) == [] and len(view["blocks"]) <= 100
    select = block(view, CONFIG_PIPELINE_SELECT)
    assert select["dispatch_action"] is True
    assert [o["text"]["text"] for o in select["element"]["options"]] == ["New business", "Renewals", "Partners"]
    # U0ADMIN manages Accounts, whose pipeline is Renewals: that one first
    renewals = pipeline_id(slack, "Renewals")
    assert select["element"]["initial_option"]["value"] == str(renewals)
    assert json.loads(view["private_metadata"])["pipeline_id"] == renewals
    assert stage_blocks(view) == [f"stage:{i}:probability" for i in pipeline_stage_ids(slack, "Renewals").values()]
    assert block(view, f"pipeline:{renewals}:name")["element"]["initial_value"] == "Renewals"
    assert block(view, f"pipeline:{renewals}:won_channel")["element"]["initial_conversation"] == "C0RENEWALS"

    partners = pipeline_id(slack, "Partners")
    slack.choose_in_modal(CONFIG_PIPELINE_SELECT, str(partners), user="U0ADMIN")
    [update] = slack.fake.calls("views.update")
    assert update.params["view_id"] == view["id"] and update.params["hash"] == view["hash"] and update.response["ok"]
    redrawn = slack.open_modal()
    assert redrawn["id"] == view["id"]
    assert stage_blocks(redrawn) == [f"stage:{i}:probability" for i in pipeline_stage_ids(slack, "Partners").values()]
    assert block(redrawn, CONFIG_PIPELINE_SELECT)["element"]["initial_option"]["value"] == str(partners)
    # the pipeline's own fields name it: nothing typed for Renewals is carried over
    assert not [b for b in redrawn["blocks"] if b["block_id"].startswith(f"pipeline:{renewals}:")]
    assert block(redrawn, f"pipeline:{partners}:description")["element"]["initial_value"] == "Deals brought by resellers"
    assert json.loads(redrawn["private_metadata"])["pipeline_id"] == partners


def test_opp_config_names_a_pipeline_by_name_start_or_part(slack):
    assert json.loads(open_config(slack, "PARTNERS")["private_metadata"])["pipeline_id"] == pipeline_id(slack, "Partners")
    assert json.loads(open_config(slack, "new")["private_metadata"])["pipeline_id"] == pipeline_id(slack, "New business")
    assert json.loads(open_config(slack, "business")["private_metadata"])["pipeline_id"] == pipeline_id(slack, "New business")
    assert json.loads(open_config(slack, "ne")["private_metadata"])["pipeline_id"] == pipeline_id(slack, "New business")  # a start first
    opened = len(slack.fake.calls("views.open"))
    slack.command("config w", user="U0ADMIN")  # neW business, reneWals
    assert "“w” matches several pipelines (New business, Renewals); type more of the name." in slack.last_response()["text"]
    slack.command("config upsell", user="U0ADMIN")
    assert "Unknown pipeline “upsell”. Pipelines: New business, Renewals, Partners." in slack.last_response()["text"]
    assert len(slack.fake.calls("views.open")) == opened


def test_non_admins_get_no_modal_and_their_forged_submissions_change_nothing(slack, channels):
    view = open_config(slack, "Renewals")
    slack.command("config Renewals", user="U0REP1")
    assert "Only oppbot admins" in slack.last_response()["text"]
    renewals = pipeline_id(slack, "Renewals")
    due = pipeline_stage_ids(slack, "Renewals")["Renewal due"]
    reply = submit(slack, view, values_of(view, **{f"stage:{due}:probability": "5", f"pipeline:{renewals}:name": "Mine"}), user="U0REP1")
    assert reply.json["response_action"] == "errors" and "Only oppbot admins" in next(iter(reply.json["errors"].values()))
    reply = click_add(slack, view, user="U0REP1")
    assert slack.fake.calls("views.push")[-1].params["view"].get("callback_id") != NEW_PIPELINE_MODAL
    assert "Only oppbot admins" in str(slack.fake.calls("views.push")[-1].params["view"])
    assert pipelines(slack).get(renewals).name == "Renewals" and pipelines(slack).get(renewals).stages[0].probability == 40


# ----- saving one pipeline --------------------------------------------------------------------------

def test_saving_renewals_changes_renewals_only(slack, channels):
    before = {p.name: p for p in pipelines(slack).all}
    view = open_config(slack, "Renewals")
    renewals = pipeline_id(slack, "Renewals")
    ids = pipeline_stage_ids(slack, "Renewals")
    reply = submit(slack, view, values_of(view, **{
        f"stage:{ids['Renewal due']}:probability": "45", f"stage:{ids['Quote sent']}:max_days": "7",
        f"stage:{ids['Negotiation']}:channel": "C0WINS", f"stage:{ids['Negotiation']}:group": "s0renew",
        f"pipeline:{renewals}:won_channel": "C0WINS", f"pipeline:{renewals}:lost_channel": "C0RENEWALS",
        f"pipeline:{renewals}:description": "Renewing customers,\nyearly"}))
    assert reply.status == 200 and reply.body == ""
    after = {p.name: p for p in pipelines(slack).all}
    changed = after["Renewals"]
    assert [(s.name, s.probability, s.max_days) for s in changed.stages] == [("Renewal due", 45, 30), ("Quote sent", 70, 7), ("Negotiation", 90, 10)]
    assert (changed.stages[2].alert_channel, changed.stages[2].alert_usergroup) == ("C0WINS", "S0RENEW")
    assert (changed.won_channel, changed.lost_channel, changed.description) == ("C0WINS", "C0RENEWALS", "Renewing customers, yearly")
    # the other pipelines (the New business stage of the same name too) are as they were
    assert after["New business"] == before["New business"] and after["Partners"] == before["Partners"]


def test_renaming_a_pipeline_and_a_duplicate_name_refused_on_its_block(slack, channels):
    view = open_config(slack, "Partners")
    partners = pipeline_id(slack, "Partners")
    name_block = f"pipeline:{partners}:name"
    reply = submit(slack, view, values_of(view, **{name_block: "  renewals "}))
    assert reply.json["response_action"] == "errors"
    assert reply.json["errors"] == {name_block: "Another pipeline is already named “Renewals”; pick another name."}
    reply = submit(slack, view, values_of(view, **{name_block: ""}))
    assert reply.json["errors"] == {name_block: "Give the pipeline a name."}
    assert pipelines(slack).get(partners).name == "Partners"
    assert submit(slack, view, values_of(view, **{name_block: "Channel partners"})).body == ""
    assert pipelines(slack).get(partners).name == "Channel partners"
    assert json.loads(open_config(slack, "channel")["private_metadata"])["pipeline_id"] == partners
    # a change of case of its own name is a rename too
    view = open_config(slack, "channel")
    assert submit(slack, view, values_of(view, **{name_block: "channel Partners"})).body == ""
    assert pipelines(slack).get(partners).name == "channel Partners"


def test_a_pipeline_changed_while_the_form_was_open_is_refused(slack, channels):
    view = open_config(slack, "Partners")
    partners = pipeline_id(slack, "Partners")
    with Session(slack.oppbot.engine) as session:  # a stage added meanwhile (a changed file applied)
        session.add(Stage(team_id=TEAM, pipeline_id=partners, position=9, name="Signed", probability=95, max_days=5))
        session.commit()
    reply = submit(slack, view, values_of(view))
    assert "changed while the form was open" in next(iter(reply.json["errors"].values()))


def test_invalid_values_are_pointed_at_and_change_nothing(slack, channels):
    view = open_config(slack, "Renewals")
    due = pipeline_stage_ids(slack, "Renewals")["Renewal due"]
    renewals = pipeline_id(slack, "Renewals")
    reply = submit(slack, view, values_of(view, **{f"stage:{due}:probability": "140", f"pipeline:{renewals}:description": "x" * 301}))
    assert reply.json["errors"] == {f"stage:{due}:probability": "Win probability must be from 0 to 100, not 140.",
                                    f"pipeline:{renewals}:description": "At most 300 characters."}
    assert pipelines(slack).get(renewals).stages[0].probability == 40


# ----- adding a pipeline -----------------------------------------------------------------------------

def test_stage_lines_are_read_with_the_files_defaults_and_an_error_names_the_line():
    stages, problem = read_stage_lines("Renewal due, 40, 30\n\n Quote sent ,70\nSigned\nClosing，85，5", t=EN)
    assert problem is None
    assert [(s.name, s.probability, s.max_days) for s in stages] == [("Renewal due", 40, 30), ("Quote sent", 70, 30), ("Signed", 30, 30),
                                                                     ("Closing", 85, 5)]
    for raw, said in [
        ("A, 10\nB, 150", "Line 2 (“B, 150”): Win probability must be from 0 to 100, not 150."),
        ("A, 10, soon", "Line 1 (“A, 10, soon”): Days before stalled must be a whole number from 1 to 3650."),
        ("A\na", "Line 2: the stage “a” is given twice."),
        ("A\nWon", "Line 2: Won and Lost are outcomes, not stages; leave them out."),
        ("42", "Line 1: a stage name can't be only digits (digits select stages by number)."),
        ("A, 1, 2, 3", "Line 1 (“A, 1, 2, 3”): write “Name, probability, max days”, like “Renewal due, 40, 30”."),
        ("x" * 41, "Line 1: a stage name is at most 40 characters."),
        ("\n".join(f"S{i}" for i in range(21)), "At most 20 stages, one a line."),
        ("  \n", "Give at least one stage, one a line: “Name, probability, max days”."),
    ]:
        assert read_stage_lines(raw, t=EN) == ((), said), raw


def test_add_a_pipeline_pushes_a_modal_and_saves_it_last(slack, channels):
    view = open_config(slack)
    click_add(slack, view)
    [push] = slack.fake.calls("views.push")
    assert push.params["trigger_id"].startswith("trigger-add-") and push.response["ok"]
    form = push.params["view"]
    assert form["callback_id"] == NEW_PIPELINE_MODAL and check_view(form) == []
    # a bad line is named, on the stages block, and nothing is saved
    reply = submit(slack, form, {"new_pipeline:name": "Upsell", "new_pipeline:stages": "Idea, 10, 30\nPitch, 200"})
    assert reply.json["errors"] == {"new_pipeline:stages": "Line 2 (“Pitch, 200”): Win probability must be from 0 to 100, not 200."}
    reply = submit(slack, form, {"new_pipeline:name": "RENEWALS", "new_pipeline:stages": "Idea"})
    assert reply.json["errors"] == {"new_pipeline:name": "A pipeline is already named “Renewals”; pick another name."}
    assert [p.name for p in pipelines(slack).all] == ["New business", "Renewals", "Partners"]
    reply = submit(slack, form, {"new_pipeline:name": " Upsell ", "new_pipeline:description": "More for existing customers",
                                 "new_pipeline:stages": "Idea, 10, 30\nPitch, 50\nSigned off", "new_pipeline:won_channel": "C0WINS"})
    assert reply.json["response_action"] == "update"
    assert "Pipeline “Upsell” added, with 3 stages." in str(reply.json["view"]["blocks"])
    added = pipelines(slack).active[-1]
    assert (added.name, added.description, added.won_channel, added.lost_channel) == ("Upsell", "More for existing customers", "C0WINS", None)
    assert [(s.name, s.probability, s.max_days) for s in added.stages] == [("Idea", 10, 30), ("Pitch", 50, 30), ("Signed off", 30, 30)]
    assert [p.name for p in pipelines(slack).active] == ["New business", "Renewals", "Partners", "Upsell"]
    assert [o["text"]["text"] for o in block(open_config(slack), CONFIG_PIPELINE_SELECT)["element"]["options"]][-1] == "Upsell"
    # deals can be made in it
    deal = create(slack.oppbot.services, "U0ADMIN", stage_id=added.stages[0].id)
    assert deal.stage_id == added.stages[0].id


# ----- retiring a pipeline ---------------------------------------------------------------------------

def retire(slack, name: str):
    view = open_config(slack, name)
    return submit(slack, view, values_of(view, **{f"pipeline:{pipeline_id(slack, name)}:retire": "retire"}))


def test_retiring_is_refused_while_a_team_uses_the_pipeline_or_it_holds_open_deals(slack, channels):
    renewals, new_business, partners = (pipeline_id(slack, n) for n in ("Renewals", "New business", "Partners"))
    reply = retire(slack, "Renewals")
    assert reply.json["errors"] == {f"pipeline:{renewals}:retire": "“Renewals” is the pipeline of these sales teams: Accounts. Give them "
                                    "another first (`pipeline = \"…\"` in their [[teams]] of the configuration file), then retire it."}
    # East names no pipeline: it uses the first
    assert "sales teams: East." in retire(slack, "New business").json["errors"][f"pipeline:{new_business}:retire"]
    services = slack.oppbot.services
    registered = pipeline_stage_ids(slack, "Partners")["Registered"]
    create(services, "U0ADMIN", stage_id=registered)
    create(services, "U0ADMIN", stage_id=registered)
    reply = retire(slack, "Partners")
    assert reply.json["errors"] == {f"pipeline:{partners}:retire": "“Partners” still holds open deals (2). Close them or move them to "
                                    "another pipeline (`/opp move OPP-12 <pipeline>`) first."}
    assert all(p.active for p in pipelines(slack).all)


def test_retiring_partners_keeps_its_deals_history_and_adding_it_again_brings_it_back(slack, channels):
    services = slack.oppbot.services
    partners = pipeline_id(slack, "Partners")
    ids = pipeline_stage_ids(slack, "Partners")
    deal = create(services, "U0ADMIN", stage_id=ids["Registered"])
    admin = context(services, "U0ADMIN")
    services.deals.move(admin, opp_id=deal.id, stage_id=ids["Qualified"])
    services.deals.win(context(services, "U0ADMIN"), opp_id=deal.id)
    assert retire(slack, "Partners").body == ""
    retired = pipelines(slack).get(partners)
    assert not retired.active and retired.stages == () and {s.name for s in retired.retired} == set(ids)
    # it leaves the select; the deal and its history stay readable
    assert [o["text"]["text"] for o in block(open_config(slack), CONFIG_PIPELINE_SELECT)["element"]["options"]] == ["New business", "Renewals"]
    slack.command(f"show OPP-{deal.number}", user="U0ADMIN")
    shown = json.dumps(slack.last_response(), ensure_ascii=False)
    assert "Registered" in shown and "Qualified" in shown
    with Session(slack.oppbot.engine) as session:
        assert session.get(Pipeline, partners) is not None and session.get(Stage, ids["Registered"]) is not None
    # a retired pipeline's name can't be taken by a rename; adding it again brings it back with its stages
    view = open_config(slack, "New business")
    new_business = pipeline_id(slack, "New business")
    assert "A retired pipeline is named “Partners”" in submit(slack, view, values_of(view, **{f"pipeline:{new_business}:name": "partners"})
                                                               ).json["errors"][f"pipeline:{new_business}:name"]
    click_add(slack, view)
    form = slack.fake.calls("views.push")[-1].params["view"]
    reply = submit(slack, form, {"new_pipeline:name": "partners", "new_pipeline:stages": "Registered, 15\nQualified\nSigned, 90, 7"})
    assert "The retired pipeline “partners” is back, with 3 open stages." in str(reply.json["view"]["blocks"])
    back = pipelines(slack).get(partners)
    assert back.active and back.name == "partners" and pipelines(slack).active[-1].id == partners
    assert [(s.name, s.probability) for s in back.stages] == [("Registered", 15), ("Qualified", 20), ("Signed", 90)]
    assert back.stages[0].id == ids["Registered"] and back.stages[1].id == ids["Qualified"]  # the same stages: history is theirs


def test_one_pipeline_has_no_select_and_no_retire_but_its_name_and_description(engine, fake_slack, clock):
    from tests.conftest import TEST_CONFIG

    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(TEST_CONFIG, "test.toml")) as slack:
        view = open_config(slack)
        only = pipelines(slack).default
        ids = [b["block_id"] for b in view["blocks"]]
        assert CONFIG_PIPELINE_SELECT not in ids and not [i for i in ids if i.endswith(":retire")]
        assert ids[:3] == ["config_actions", f"pipeline:{only.id}:name", f"pipeline:{only.id}:description"]
        assert submit(slack, view, values_of(view, **{f"pipeline:{only.id}:name": "Direct sales"})).body == ""
        assert pipelines(slack).default.name == "Direct sales"
        # the last active pipeline can't be retired, even by a forged submission
        forged = WorkspaceSettings(only.id, (), None, None, retire=True)
        with pytest.raises(SettingsProblem) as refused:
            slack.oppbot.services.workspaces.update_settings(context(slack.oppbot.services, "U0ADMIN"), forged)
        assert refused.value.field == "retire" and str(refused.value) == "“Direct sales” is the only pipeline left; it can't be retired."
        assert pipelines(slack).default.active


# ----- the configuration file applied again --------------------------------------------------------------

def test_the_unchanged_file_applied_again_keeps_the_admins_edits(engine, fake_slack, clock, config):
    add_three_pipeline_channels(fake_slack)
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=config) as slack:
        view = open_config(slack, "Renewals")
        renewals = pipeline_id(slack, "Renewals")
        due = pipeline_stage_ids(slack, "Renewals")["Renewal due"]
        assert submit(slack, view, values_of(view, **{f"stage:{due}:probability": "55", f"pipeline:{renewals}:name": "Renewals 2027"})).body == ""
        click_add(slack, open_config(slack))
        form = slack.fake.calls("views.push")[-1].params["view"]
        assert submit(slack, form, {"new_pipeline:name": "Upsell", "new_pipeline:stages": "Idea"}).json["response_action"] == "update"
        assert retire(slack, "Partners").body == ""
    # a restart with the same file: its digest is the one stored, so the database's settings stand
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(THREE_PIPELINES_CONFIG, "three.toml")) as slack:
        now = pipelines(slack)
        assert [p.name for p in now.active] == ["New business", "Renewals 2027", "Upsell"]
        assert now.get(renewals).stages[0].probability == 55
        assert not next(p for p in now.all if p.name == "Partners").active
        # `oppbot config export` writes the live pipelines (the retired one left out), and reads back the same
        exported = slack.oppbot.services.workspaces.current_config(TEAM)
        assert [p.name for p in exported.pipelines] == ["New business", "Renewals 2027", "Upsell"]
        assert sorted((t.name, t.pipeline or "") for t in exported.teams) == [("Accounts", "Renewals 2027"), ("East", "")]
        assert parse_config(to_toml(exported), exported.source) == exported


def test_the_pipeline_forms_in_chinese():
    from bot.domain.money import Rates
    from bot.domain.values import Pipeline as PipelineValue
    from bot.domain.values import StageInfo
    from tests.support import text_of
    from tests.test_i18n_home_settings import english_words

    zh = translator("zh-CN")
    one = PipelineValue((StageInfo(11, 1, "Prospect", 10, 14),), id=1, name="新客户")
    two = PipelineValue((StageInfo(21, 1, "Due", 40, 30),), id=2, name="续约")
    view = config_modal(two, won_channel=None, lost_channel=None, rates=Rates("CNY", ()), t=zh, choices=(one, two))
    assert check_view(view) == []
    assert block(view, CONFIG_PIPELINE_SELECT)["label"]["text"] == "管道" and block(view, "pipeline:2:retire")["label"]["text"] == "停用"
    assert english_words(text_of(view), allowed={"Prospect", "Due"}) == []
    form = new_pipeline_modal(t=zh)
    assert check_view(form) == [] and form["title"]["text"] == "添加管道"
    assert english_words(text_of(form)) == []
    assert read_stage_lines("续约到期, 140", t=zh)[1] == "第 1 行（“续约到期, 140”）：赢单概率必须在 0 到 100 之间，不能是 140。"
