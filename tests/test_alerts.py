"""Stage-change alerts, Take it / Release, outcome announcements, and the admins' /opp config."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.slack.ids import RELEASE_BUTTON, STAGE_SELECT, TAKE_BUTTON, WON_BUTTON
from bot.workspace.config import parse_config
from storage.models import Collaborator, Delivery, Pipeline, Stage, Workspace
from tests.conftest import TEST_CONFIG
from tests.driver import running_app
from tests.support import stage_ids

ALERT_CONFIG = TEST_CONFIG + """
[[stages]]
name = "Prospect"
probability = 10
max_days = 14

[[stages]]
name = "Solution design"
probability = 30
max_days = 21
alert_channel = "#solutions"
alert_usergroup = "S0SOLUTIONS"

[[stages]]
name = "Technical evaluation"
probability = 50
max_days = 30
alert_channel = "C0ENGINEERING"

[[stages]]
name = "Negotiation"
probability = 80
max_days = 21

[outcomes]
won_channel = "#wins"
lost_channel = "C0SALESOPS"
"""


@pytest.fixture
def config():
    return parse_config(ALERT_CONFIG, "alerts.toml")


@pytest.fixture
def channels(fake_slack):
    fake_slack.add_channel("C0SOLUTIONS", "solutions")
    fake_slack.add_channel("C0ENGINEERING", "engineering")
    fake_slack.add_channel("C0WINS", "wins")
    fake_slack.add_channel("C0SALESOPS", "sales-ops")
    return fake_slack


def alerts_in(fake, channel):
    return [c for c in fake.calls("chat.postMessage") if c.params["channel"] == channel and c.status == 200 and c.response.get("ok")]


def move(slack, opp_id, stage, user="U0REP1"):
    return slack.click(STAGE_SELECT, selected=f"{opp_id}:{stage_ids(slack)[stage]}", user=user)


@pytest.fixture
def deal(slack, channels):
    slack.create("Acme rollout", amount="250000", next_step="Workshop with IT")
    return slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0ADMIN"), number=1).id


def test_entering_each_ruled_stage_posts_once_to_its_channel_and_unruled_stages_post_nothing(slack, deal):
    dispatcher = slack.oppbot.dispatcher
    move(slack, deal, "Solution design")
    move(slack, deal, "Solution design")  # a double click: no change, no second alert
    dispatcher.run_once()
    dispatcher.run_once()
    [alert] = alerts_in(slack.fake, "C0SOLUTIONS")
    text = str(alert.params["blocks"])
    assert "<!subteam^S0SOLUTIONS>" in text and "<@U0REP1> moved *OPP-1 · Acme rollout* into *Solution design*" in text
    for expected in ("Acme Corp", "USD 250,000", "<@U0REP1>", "Prospect › Solution design", "Workshop with IT"):
        assert expected in text
    buttons = [e for b in alert.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["action_id"] == TAKE_BUTTON and buttons[1]["url"].startswith("https://fake.slack.com/archives/C0SALES/")
    move(slack, deal, "Technical evaluation")
    dispatcher.run_once()
    [eng] = alerts_in(slack.fake, "C0ENGINEERING")
    assert "S0" not in str(eng.params["blocks"]).split("moved")[0], "no user group configured for this stage"
    move(slack, deal, "Negotiation")
    dispatcher.run_once()
    assert len(alerts_in(slack.fake, "C0SOLUTIONS")) == 1 and len(alerts_in(slack.fake, "C0ENGINEERING")) == 1
    with Session(slack.oppbot.engine) as session:
        kinds = [d.kind for d in session.scalars(select(Delivery).where(Delivery.kind == "stage_alert"))]
    assert kinds == ["stage_alert", "stage_alert"]


def test_a_deal_created_in_a_ruled_stage_alerts_too(slack, channels):
    slack.create("Direct", stage=str(stage_ids(slack)["Technical evaluation"]))
    slack.oppbot.dispatcher.run_once()
    assert len(alerts_in(slack.fake, "C0ENGINEERING")) == 1


def alert_click(slack, alert, action_id, user):
    block = next(b for b in alert.params["blocks"] if b["type"] == "actions")
    value = next(e["value"] for e in block["elements"] if e.get("action_id") == action_id)
    return slack.interact({
        "type": "block_actions", "team": {"id": "T0TEST"}, "user": {"id": user}, "trigger_id": "t-alert",
        "container": {"type": "message", "channel_id": alert.params["channel"], "message_ts": alert.response["ts"], "is_ephemeral": False},
        "channel": {"id": alert.params["channel"]}, "response_url": slack.fake.response_url("alert"),
        "actions": [{"action_id": action_id, "block_id": block["block_id"], "type": "button", "value": value}],
    })


def collaborators(engine):
    with Session(engine) as session:
        return list(session.scalars(select(Collaborator).order_by(Collaborator.id)))


def test_take_it_records_the_collaborator_updates_the_alert_and_tells_the_owner(slack, deal):
    move(slack, deal, "Solution design")
    slack.oppbot.dispatcher.run_once()
    [alert] = alerts_in(slack.fake, "C0SOLUTIONS")
    alert_click(slack, alert, TAKE_BUTTON, "U0OTHER")
    [taken] = collaborators(slack.oppbot.engine)
    assert (taken.user_id, taken.stage_id, taken.released_at) == ("U0OTHER", stage_ids(slack)["Solution design"], None)
    # the alert is redrawn in place through the click's response_url
    update = redrawn(slack)[-1]
    assert "Taken by <@U0OTHER>" in str(update["blocks"])
    assert any(e["action_id"] == RELEASE_BUTTON for b in update["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert any(c.params["channel"] == "DU0REP1" and "<@U0OTHER> took OPP-1" in c.params["text"] for c in slack.fake.calls("chat.postMessage"))
    card = [c for c in slack.fake.calls("chat.update") if c.params["channel"] == "C0SALES"][-1]
    assert "Working with: <@U0OTHER> (Solution design)" in str(card.params["blocks"])
    slack.command("show OPP-1")
    assert "Working with: <@U0OTHER> (Solution design)" in str(slack.last_response()["blocks"])

    # someone else clicks afterwards: told who has it, nothing changes
    updates = len(redrawn(slack))
    alert_click(slack, alert, TAKE_BUTTON, "U0REP2")
    assert slack.last_response()["text"] == "<@U0OTHER> has already taken this."
    assert len(collaborators(slack.oppbot.engine)) == 1 and len(redrawn(slack)) == updates
    # only the taker may release
    alert_click(slack, update_as_alert(update, alert), RELEASE_BUTTON, "U0REP2")
    assert "only they (or an admin) can release it" in slack.last_response()["text"]
    alert_click(slack, update_as_alert(update, alert), RELEASE_BUTTON, "U0OTHER")
    assert collaborators(slack.oppbot.engine)[0].released_at == slack.clock.now()
    released = redrawn(slack)[-1]
    assert "Taken by" not in str(released["blocks"]) and TAKE_BUTTON in str(released["blocks"])
    # free again: someone else can take it
    alert_click(slack, alert, TAKE_BUTTON, "U0REP2")
    assert [c.user_id for c in collaborators(slack.oppbot.engine)] == ["U0OTHER", "U0REP2"]


def redrawn(slack):
    """The messages the app replaced through a click's response_url (replace_original)."""
    return [r for r in slack.responses() if r.get("replace_original")]


def update_as_alert(update, alert):
    """The alert message as it reads after it was redrawn (same channel and ts)."""
    class Posted:
        params = {"channel": alert.params["channel"], "blocks": update["blocks"]}
        response = alert.response
    return Posted


def test_the_bot_joins_a_public_channel_it_is_not_in(slack, deal):
    slack.fake.bot_not_in_channel("C0SOLUTIONS")
    move(slack, deal, "Solution design")
    assert slack.oppbot.dispatcher.run_once().sent == 1
    assert [c.params["channel"] for c in slack.fake.calls("conversations.join")] == ["C0SOLUTIONS"]
    assert len(alerts_in(slack.fake, "C0SOLUTIONS")) == 1


def test_a_private_channel_tells_the_admins_once_and_the_alert_waits_until_invited(slack, deal):
    slack.fake.add_channel("C0SOLUTIONS", "solutions", is_private=True, is_member=False)
    move(slack, deal, "Solution design")
    dispatcher = slack.oppbot.dispatcher
    dispatcher.run_once()
    dispatcher.run_once()  # the admin notice goes out
    notices = [c for c in slack.fake.calls("chat.postMessage") if c.params["channel"] == "DU0ADMIN"]
    assert len(notices) == 1 and "can't post stage alerts in <#C0SOLUTIONS>" in notices[0].params["text"]
    for _ in range(3):
        slack.clock.advance(minutes=16)
        dispatcher.run_once()
    assert alerts_in(slack.fake, "C0SOLUTIONS") == []
    assert len([c for c in slack.fake.calls("chat.postMessage") if c.params["channel"] == "DU0ADMIN"]) == 1
    with Session(slack.oppbot.engine) as session:
        alert = session.scalars(select(Delivery).where(Delivery.kind == "stage_alert")).one()
    assert alert.status == "pending" and "admins were told" in alert.last_error
    slack.fake.invite_bot("C0SOLUTIONS")
    slack.clock.advance(minutes=16)
    dispatcher.run_once()
    assert len(alerts_in(slack.fake, "C0SOLUTIONS")) == 1


def test_slack_down_then_up_delivers_the_alert_once(slack, deal):
    slack.fake.server_error_next("chat.postMessage", status=503, times=4)
    move(slack, deal, "Solution design")  # the card update still works: it is chat.update
    for _ in range(8):
        slack.oppbot.dispatcher.run_once()
        slack.clock.advance(minutes=5)
    assert len(alerts_in(slack.fake, "C0SOLUTIONS")) == 1


def test_an_unknown_channel_name_waits_with_a_clear_reason(engine, fake_slack, clock):
    config = parse_config(TEST_CONFIG + '\n[[stages]]\nname = "Prospect"\n[[stages]]\nname = "Design"\nalert_channel = "#nowhere"\n', "t.toml")
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=config) as slack:
        slack.create("Acme")
        move(slack, slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0REP1"), number=1).id, "Design")
        stats = slack.oppbot.dispatcher.run_once()
        assert stats.failed == 0
        with Session(engine) as session:
            alert = session.scalars(select(Delivery).where(Delivery.kind == "stage_alert")).one()
        assert (alert.status, alert.last_error) == ("pending", "no channel named #nowhere in the workspace yet; admins were told")


def test_won_and_lost_are_announced_in_their_channels(slack, deal, channels):
    slack.click(WON_BUTTON, value=str(deal))
    slack.create("Second deal")
    second = slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0ADMIN"), number=2).id
    slack.command("lost OPP-2 went with a competitor")
    slack.oppbot.dispatcher.run_once()
    [won] = alerts_in(slack.fake, "C0WINS")
    assert "is *won*" in str(won.params["blocks"]) and "USD 250,000" in str(won.params["blocks"])
    [lost] = alerts_in(slack.fake, "C0SALESOPS")
    assert "Reason: went with a competitor" in str(lost.params["blocks"])
    assert second


# ----- /opp config ----------------------------------------------------------------------------

def test_config_is_for_admins_only(slack):
    slack.command("config", user="U0REP1")
    assert "Only oppbot admins" in slack.last_response()["text"]
    assert slack.fake.calls("views.open") == []


def config_values(view, **overrides):
    values = {}
    for block in view["blocks"]:
        element = block.get("element", {})  # the actions block (Add a pipeline) has none
        if element.get("type") == "plain_text_input":
            values[block["block_id"]] = element.get("initial_value", "")
        elif element.get("type") == "conversations_select" and element.get("initial_conversation"):
            values[block["block_id"]] = element["initial_conversation"]
    values.update(overrides)
    return values


def submit_config(slack, view, values, user="U0ADMIN"):
    state = {}
    for block in view["blocks"]:
        if block["block_id"] not in values:
            continue
        kind = block["element"]["type"]
        value = values[block["block_id"]]
        entry = {"type": kind, "value": value} if kind == "plain_text_input" else {"type": kind, "selected_conversation": value}
        state[block["block_id"]] = {"value": entry}
    return slack.interact({"type": "view_submission", "team": {"id": "T0TEST"}, "user": {"id": user},
                           "view": {"id": "V1", "type": "modal", "callback_id": view["callback_id"], "private_metadata": "",
                                    "blocks": view["blocks"], "state": {"values": state}}})


def test_an_admin_edits_the_stage_rules_and_export_writes_them_back(slack, channels, monkeypatch, capsys):
    slack.oppbot.services.alert_senders.resolve_channels("T0TEST")
    slack.command("config", user="U0ADMIN")
    view = slack.last_view()
    # the Add a pipeline button, the pipeline's name and description, 4 fields a stage, won, lost, rates
    assert view["callback_id"] == "workspace_config" and len(view["blocks"]) == 3 + 4 * 4 + 3
    ids = stage_ids(slack)
    pipeline_id = slack.oppbot.services.workspaces.pipelines("T0TEST").default.id
    design = f"stage:{ids['Solution design']}"
    assert next(b for b in view["blocks"] if b["block_id"] == f"{design}:channel")["element"]["initial_conversation"] == "C0SOLUTIONS"
    values = config_values(view, **{f"{design}:channel": "C0ENGINEERING", f"{design}:probability": "35", f"{design}:group": "s0archs",
                                    f"stage:{ids['Negotiation']}:max_days": "10", f"pipeline:{pipeline_id}:lost_channel": "C0WINS",
                                    "exchange_rates": "eur 7.82\n\nGBP = 9.1"})
    reply = submit_config(slack, view, values)
    assert reply.status == 200 and reply.body == ""
    set_on = slack.clock.now().date().isoformat()  # the workspace is on UTC
    with Session(slack.oppbot.engine) as session:
        assert session.get(Workspace, "T0TEST").exchange_rates == {"EUR": {"rate": "7.82", "set_on": set_on, "set_by": "U0ADMIN"},
                                                                   "GBP": {"rate": "9.1", "set_on": set_on, "set_by": "U0ADMIN"}}
    # the form shows the rates and when each was set; an unchanged rate keeps its day, a changed one is dated anew
    slack.clock.advance(days=3)
    slack.command("config", user="U0ADMIN")
    again = slack.last_view()
    rates_block = next(b for b in again["blocks"] if b["block_id"] == "exchange_rates")
    assert rates_block["element"]["initial_value"] == "EUR 7.82\nGBP 9.1"
    assert f"Set: EUR on {set_on}, GBP on {set_on}." in rates_block["hint"]["text"]
    assert submit_config(slack, again, config_values(again, exchange_rates="EUR 7.82\nGBP 9.05")).status == 200
    with Session(slack.oppbot.engine) as session:
        rates = session.get(Workspace, "T0TEST").exchange_rates
        assert rates["EUR"]["set_on"] == set_on and rates["GBP"] == {"rate": "9.05", "set_on": slack.clock.now().date().isoformat(), "set_by": "U0ADMIN"}
    with Session(slack.oppbot.engine) as session:
        stage = session.get(Stage, ids["Solution design"])
        assert (stage.alert_channel, stage.alert_usergroup, stage.probability) == ("C0ENGINEERING", "S0ARCHS", 35)
        assert session.get(Stage, ids["Negotiation"]).max_days == 10
        assert session.get(Pipeline, stage.pipeline_id).lost_channel == "C0WINS"
    for key, value in {"SLACK_BOT_TOKEN": slack.fake.bot_token, "SLACK_SIGNING_SECRET": "x", "SLACK_API_URL": slack.fake.api_url,
                       "DATABASE_URL": slack.oppbot.engine.url.render_as_string(hide_password=False), "OPPBOT_CONFIG": ""}.items():
        monkeypatch.setenv(key, value)
    from bot import cli
    assert cli.main(["config", "--export"]) == 0
    exported = parse_config(capsys.readouterr().out, "export.toml")
    design_stage = next(s for s in exported.pipelines[0].stages if s.name == "Solution design")
    assert (design_stage.alert_channel, design_stage.alert_usergroup, design_stage.probability) == ("C0ENGINEERING", "S0ARCHS", 35)
    assert exported.pipelines[0].lost_channel == "C0WINS" and exported.pipelines[0].won_channel == "C0WINS"  # the form saves channel ids
    assert exported.teams[0].members == ("U0REP1", "U0REP2") and exported.admins == ("U0ADMIN",)
    assert [(r.currency, str(r.rate), r.set_on.isoformat()) for r in exported.exchange_rates] == [
        ("EUR", "7.82", set_on), ("GBP", "9.05", slack.clock.now().date().isoformat())]


@pytest.mark.parametrize("field, value, message", [
    ("probability", "150", "Win probability must be from 0 to 100, not 150"),
    ("probability", "half", "Win probability must be a whole number from 0 to 100"),
    ("max_days", "-3", "Days before stalled must be from 1 to 3650, not -3"),
    ("group", "engineers", "A user group id looks like S0123ABCD"),
])
def test_invalid_settings_get_errors_on_the_right_block_and_change_nothing(slack, field, value, message):
    slack.command("config", user="U0ADMIN")
    view = slack.last_view()
    block = f"stage:{stage_ids(slack)['Technical evaluation']}:{field}"
    reply = submit_config(slack, view, config_values(view, **{block: value}))
    assert reply.json["response_action"] == "errors" and list(reply.json["errors"]) == [block]
    assert message in reply.json["errors"][block]
    with Session(slack.oppbot.engine) as session:
        stage = session.get(Stage, stage_ids(slack)["Technical evaluation"])
        assert (stage.probability, stage.max_days, stage.alert_usergroup) == (50, 30, None)


@pytest.mark.parametrize("rates, message", [
    ("EUR seven", "“EUR seven”: the rate must be a positive number"),
    ("EUR -1", "“EUR -1”: the rate must be a positive number"),
    ("EUR 0", "“EUR 0”: the rate must be a positive number"),
    ("EUR 7.1234567", "at most 6 decimals"),
    ("EUR 7\neur 8", "EUR is given twice"),
    ("USD 1", "USD is the workspace currency; it needs no rate."),
    ("euro 7.8", "“euro 7.8”: write a currency code and its rate, like “EUR 7.82” (one EUR in USD)."),
])
def test_invalid_exchange_rates_are_pointed_at_and_change_nothing(slack, rates, message):
    slack.command("config", user="U0ADMIN")
    view = slack.last_view()
    reply = submit_config(slack, view, config_values(view, exchange_rates=rates))
    assert reply.json["response_action"] == "errors" and list(reply.json["errors"]) == ["exchange_rates"]
    assert message in reply.json["errors"]["exchange_rates"]
    with Session(slack.oppbot.engine) as session:
        assert session.get(Workspace, "T0TEST").exchange_rates == {}


def test_a_forged_config_submission_by_a_non_admin_changes_nothing(slack):
    slack.command("config", user="U0ADMIN")
    view = slack.last_view()
    block = f"stage:{stage_ids(slack)['Prospect']}:probability"
    reply = submit_config(slack, view, config_values(view, **{block: "99"}), user="U0REP1")
    assert reply.json["response_action"] == "errors" and "Only oppbot admins" in next(iter(reply.json["errors"].values()))
    with Session(slack.oppbot.engine) as session:
        assert session.get(Stage, stage_ids(slack)["Prospect"]).probability == 10
