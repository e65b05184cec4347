"""One bot token, one workspace: requests from any other team create no row and make no Web API call
(handlers/gate.py, Workspaces.sign_in); someone from an external organisation in a Slack Connect
channel is told oppbot serves its own workspace only; the outbox and the digests serve no other team."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlmodel import Session, SQLModel

from bot.domain.values import Installation
from bot.slack.commands import REGISTRY
from bot.slack.ids import DETAILS_BUTTON, HOME_NEW_BUTTON, NEW_MODAL, NEW_SHORTCUT, STAGE_SELECT, WON_BUTTON
from storage.models import PENDING, Delivery, Opportunity, Workspace
from tests.support import rows

FOREIGN = "T0FOREIGN"


def team_ids(slack) -> list[str]:
    with Session(slack.oppbot.engine) as session:
        return sorted(session.scalars(select(Workspace.team_id)))


def row_counts(slack) -> dict[str, int]:
    with Session(slack.oppbot.engine) as session:
        return {table.name: session.scalar(select(func.count()).select_from(table)) or 0 for table in SQLModel.metadata.sorted_tables}


def from_team(payload: dict, team_id: str) -> dict:
    return {**payload, "team": {"id": team_id}, "user": {**payload["user"], "team_id": team_id}}


def foreign_requests(slack) -> list:
    """Every kind of request a signed payload from another workspace can be, one or more of each."""
    base = {"user": {"id": "U0REP1"}, "api_app_id": "A0OPPBOT", "trigger_id": "trigger-foreign"}
    answers = []
    for name in REGISTRY:
        form = {"token": "legacy", "team_id": FOREIGN, "team_domain": "other", "channel_id": "C0SALES", "user_id": "U0REP1",
                "command": "/opp", "text": f"{name} OPP-1", "api_app_id": "A0OPPBOT",
                "response_url": slack.fake.response_url("foreign"), "trigger_id": "trigger-foreign"}
        answers.append(("command " + name, slack.post("&".join(f"{k}={v}" for k, v in form.items()), "application/x-www-form-urlencoded")))
    for action_id, value in ((WON_BUTTON, "1"), (DETAILS_BUTTON, "1"), (STAGE_SELECT, "1:2"), (HOME_NEW_BUTTON, "")):
        payload = from_team({**base, "type": "block_actions", "actions": [{"action_id": action_id, "value": value, "block_id": "b"}],
                             "container": {"type": "message", "channel_id": "C0SALES", "message_ts": "1.0"}, "channel": {"id": "C0SALES"},
                             "response_url": slack.fake.response_url("foreign")}, FOREIGN)
        answers.append(("click " + action_id, slack.interact(payload)))
    view = {"id": "V0X", "type": "modal", "callback_id": NEW_MODAL, "private_metadata": json.dumps({"channel": "C0SALES"}),
            "state": {"values": {"name": {"v": {"type": "plain_text_input", "value": "Stolen"}},
                                 "customer": {"v": {"type": "plain_text_input", "value": "Evil"}}}},
            "blocks": [{"type": "input", "block_id": "name"}]}
    answers.append(("submission", slack.interact(from_team({**base, "type": "view_submission", "view": view}, FOREIGN))))
    answers.append(("shortcut", slack.interact(from_team({**base, "type": "shortcut", "callback_id": NEW_SHORTCUT}, FOREIGN))))
    envelope = {"token": "legacy", "team_id": FOREIGN, "api_app_id": "A0OPPBOT", "type": "event_callback", "event_id": "EvF1",
                "event_time": 1, "event": {"type": "app_home_opened", "user": "U0REP1", "tab": "home"}}
    answers.append(("event", slack.post(json.dumps(envelope), "application/json")))
    return answers


def test_another_workspace_gets_a_polite_refusal_no_row_and_no_web_api_call(slack):
    assert slack.create("Ours").status == 200
    slack.executor.drain()
    before_rows, before_calls = row_counts(slack), len(slack.fake.calls())

    answers = foreign_requests(slack)
    slack.executor.drain()

    assert [(what, reply.status) for what, reply in answers if reply.status != 200] == []
    assert row_counts(slack) == before_rows
    after = slack.fake.calls()[before_calls:]
    assert [c.method for c in after if c.method != "response_url"] == [], "no Web API call for another workspace"
    told = [c.params for c in after]
    assert len(told) == 4 and all("workspace only" in t["text"] and t["response_type"] == "ephemeral" for t in told), \
        "each click (the clicker's own response_url) is told oppbot serves its own workspace; nothing else is answered through Slack"
    commands = [reply.json for what, reply in answers if what.startswith("command")]
    assert all(answer["response_type"] == "ephemeral" and "serves the *Fake Team* workspace only" in answer["text"] for answer in commands)
    submission = dict(answers)["submission"].json
    assert submission["response_action"] == "update" and "Nothing was changed" in json.dumps(submission)
    assert team_ids(slack) == ["T0TEST"], "the other team is not seeded"


def test_someone_from_an_external_organisation_is_told_in_a_shared_channel(slack):
    assert slack.create("Shared deal").status == 200
    slack.executor.drain()
    [deal] = rows(slack, Opportunity)
    before_rows = row_counts(slack)
    payload = {"type": "block_actions", "team": {"id": "T0TEST"}, "user": {"id": "U0EXTERNAL", "team_id": "T0PARTNER"},
               "api_app_id": "A0OPPBOT", "trigger_id": "trigger-ext", "actions": [{"action_id": WON_BUTTON, "value": str(deal.id), "block_id": "b"}],
               "container": {"type": "message", "channel_id": "C0SALES", "message_ts": "1.0"}, "channel": {"id": "C0SALES"},
               "response_url": slack.fake.response_url("external")}
    assert slack.interact(payload).status == 200
    slack.executor.drain()
    [told] = [c.params for c in slack.fake.calls("response_url") if c.params["_name"] == "external"]
    assert "serves the *Fake Team* workspace only" in told["text"] and told["response_type"] == "ephemeral"
    assert row_counts(slack) == before_rows and rows(slack, Opportunity)[0].status == "open"
    assert not slack.fake.calls("users.info") or all(c.params.get("user") != "U0EXTERNAL" for c in slack.fake.calls("users.info"))


def test_an_org_wide_install_serves_every_workspace_of_its_organisation_only(slack):
    workspaces = slack.oppbot.services.workspaces
    workspaces.installation = Installation("T0TEST", "Fake Org", enterprise_id="E0ORG", is_enterprise_install=True)
    form = {"token": "legacy", "team_id": "T0SISTER", "enterprise_id": "E0ORG", "channel_id": "C0SALES", "user_id": "U0REP1",
            "command": "/opp", "text": "list", "api_app_id": "A0OPPBOT", "response_url": slack.fake.response_url("sister"), "trigger_id": "t-s"}
    body = "&".join(f"{k}={v}" for k, v in form.items())
    assert slack.post(body, "application/x-www-form-urlencoded").status == 200
    slack.executor.drain()
    assert [c for c in slack.fake.calls("response_url") if c.params["_name"] == "sister"], "a sister workspace of the org is served"
    other_org = slack.post(body.replace("E0ORG", "E0ELSE").replace("T0SISTER", "T0STRANGER"), "application/x-www-form-urlencoded")
    assert "workspace only" in other_org.json["text"]
    assert "T0STRANGER" not in team_ids(slack)


def test_a_payload_without_a_team_or_a_user_is_a_400(slack):
    click = {"type": "block_actions", "api_app_id": "A0OPPBOT", "actions": [{"action_id": WON_BUTTON, "value": "1"}]}
    assert slack.interact({**click, "user": {"id": "U0REP1"}}).status == 400
    assert slack.interact({**click, "team": {"id": "T0TEST"}}).status == 400
    slack.executor.drain()
    assert slack.fake.calls() == [c for c in slack.fake.calls() if c.method == "auth.test"]


def test_the_outbox_and_the_digests_serve_no_other_workspace(slack):
    """Rows an older version let in (a seeded foreign workspace, its due work) get nothing."""
    slack.oppbot.services.workspaces.installation = None  # as an offline command: seed the foreign team as the old code did
    slack.oppbot.services.workspaces.ensure_workspace(FOREIGN)
    slack.oppbot.services.workspaces.installation = Installation.from_auth_test(slack.oppbot.client.auth_test().data)
    now = slack.oppbot.services.clock.now()
    with slack.oppbot.engine.begin() as connection:
        connection.execute(text("INSERT INTO delivery (team_id, kind, subject_id, dedupe_key, payload, status, due_at, scheduled_for, "
                                "attempts, created_at) VALUES (:t, 'message', 0, 'foreign-1', :p, :s, :d, :d, 0, :d)"),
                           {"t": FOREIGN, "p": json.dumps({"channel": "C0SALES", "text": "from elsewhere"}), "s": PENDING,
                            "d": now - timedelta(minutes=1)})
    calls = len(slack.fake.calls())
    slack.oppbot.dispatcher.run_once(kinds=("message",))
    assert slack.fake.calls()[calls:] == []
    assert slack.oppbot.services.digests.plan_now() > 0, "our own teams' digests are planned"
    assert [(d.kind, d.status) for d in rows(slack, Delivery, team_id=FOREIGN)] == [("message", PENDING)], "none for the other team"
