"""The example configuration can start: oppbot.example.toml parses, and `oppbot run` with it comes up in a fresh
workspace that has none of its #channels. Such a channel is reported once (a warning, one DM to the admins) and
the alerts for it wait until it exists."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

from sqlmodel import Session, select

from bot import cli
from bot.slack.ids import STAGE_SELECT
from bot.workspace.config import load_config, parse_config
from storage.models import Delivery
from tests.driver import running_app
from tests.support import opp, stage_ids

EXAMPLE = Path(__file__).resolve().parent.parent / "oppbot.example.toml"
TEAM = "T0TEST"


def example():
    return parse_config(EXAMPLE.read_text(), str(EXAMPLE))


def deliveries(engine, kind: str) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.scalars(select(Delivery).where(Delivery.kind == kind).order_by(Delivery.id)))


def admin_dms(fake) -> list:
    return [c for c in fake.calls("chat.postMessage") if c.params["channel"] == "DU0ADMIN" and c.response.get("ok")]


def posts_in(fake, channel: str) -> list:
    return [c for c in fake.calls("chat.postMessage") if c.params["channel"] == channel and c.response.get("ok")]


def first_pipeline(slack) -> str:
    """The New opportunity form's pipeline choice (the example has three): New business's."""
    return str(slack.oppbot.services.workspaces.pipelines(TEAM).default.id)


def start(slack) -> list[str]:
    """What `oppbot run` does once signed in (bot/cli.py: run)."""
    return slack.oppbot.services.alert_senders.check_channels(TEAM, slack.clock.now())


def test_the_example_config_parses_and_is_complete():
    config = load_config(EXAMPLE)  # what check-config and `oppbot run` read
    assert config == example()
    assert [p.name for p in config.pipelines] == ["New business", "Renewals", "Partners"]
    assert [s.name for s in config.pipelines[0].stages] == ["Prospect", "Solution design", "Technical evaluation", "Negotiation"]
    assert [s.name for s in config.pipelines[1].stages] == ["Renewal due", "Quote sent", "Negotiation"]
    assert [(s.probability, s.max_days) for s in config.pipelines[2].stages] == [(10, 30), (50, 21)]  # the defaults, then given
    assert config.admins == ("U0ADMIN",) and config.pipelines[0].won_channel == "#wins" and config.teams and config.exchange_rates
    # [outcomes] gives the channels a pipeline doesn't name
    assert [(p.won_channel, p.lost_channel) for p in config.pipelines] == [("#wins", "C0SALESOPS"), ("#wins", "C0RENEWALS"),
                                                                          ("#wins", "C0SALESOPS")]
    assert [(t.name, t.pipeline) for t in config.teams] == [("East", None), ("Accounts", "Renewals")]


def test_oppbot_run_with_the_example_config_starts_in_a_workspace_without_its_channels(tmp_path, fake_slack, monkeypatch, caplog):
    import bot.server

    def serve(app, stop, *, on_stop) -> bool:
        signal.raise_signal(signal.SIGTERM)  # up and serving: the operator stops it
        return True

    monkeypatch.setattr(bot.server, "run_http", serve)
    monkeypatch.setattr(cli.gc, "freeze", lambda: None)
    for key, value in {"SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_SIGNING_SECRET": "s3cret", "SLACK_API_URL": fake_slack.api_url,
                       "DATABASE_URL": f"sqlite:///{tmp_path}/run.db", "OPPBOT_CONFIG": str(EXAMPLE)}.items():
        monkeypatch.setenv(key, value)
    with caplog.at_level(logging.INFO):
        assert cli.main(["run"]) == 0
        assert cli.main(["run"]) == 0  # started again: reported again in the log, not to the admins
    lines = [r.getMessage() for r in caplog.records]
    assert lines.count(f"seeded workspace {TEAM} from {EXAMPLE}") == 1
    missing = [line for line in lines if "has no channel named" in line]
    assert missing == [f"workspace {TEAM} has no channel named #engineering, #wins (or the bot can't see it): the alerts for it wait "
                       "until it exists; create it and invite the bot, or set another channel with /opp config"] * 2
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/run.db")
    notices = deliveries(engine, "admin_notice")
    engine.dispose()
    assert sorted(n.payload["channel"] for n in notices) == ["#engineering", "#wins"]  # one each, for the one admin


def test_an_alert_for_a_missing_channel_waits_and_goes_out_once_it_exists(engine, fake_slack, clock):
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=example()) as slack:
        assert start(slack) == ["#engineering", "#wins"]
        assert start(slack) == ["#engineering", "#wins"]  # a second start-up tells nobody again
        slack.deliver(("admin_notice",))
        dms = admin_dms(fake_slack)
        assert sorted(d.params["text"] for d in dms) == [
            "oppbot can't post the alerts of stage Technical evaluation in #engineering: this workspace has no channel by that name "
            "(or oppbot can't see it). Create it and invite oppbot there with `/invite @oppbot`, or pick another channel in "
            "`/opp config`; the waiting alerts are sent once it can.",
            "oppbot can't post the won announcements of New business, the won announcements of Renewals, the won announcements "
            "of Partners in #wins: this workspace has no channel by that name (or oppbot can't see it). "
            "Create it and invite oppbot there with `/invite @oppbot`, or pick another channel in `/opp config`; "
            "the waiting alerts are sent once it can."]
        slack.create("Acme", pipeline=first_pipeline(slack))
        slack.click(STAGE_SELECT, selected=f"{opp(slack).id}:{stage_ids(slack)['Technical evaluation']}")
        for _ in range(3):
            slack.deliver()
            clock.advance(minutes=16)
        [alert] = deliveries(engine, "stage_alert")
        assert alert.status == "pending" and alert.last_error.startswith("no channel named #engineering")
        assert len(admin_dms(fake_slack)) == 2  # told once, not at every try
        fake_slack.add_channel("C0ENGINEERING", "engineering")
    # the next start-up resolves it, and what waited for it is due at once
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=example()) as slack:
        assert start(slack) == ["#wins"]
        slack.deliver()
        slack.deliver()
        assert len(posts_in(fake_slack, "C0ENGINEERING")) == 1
        assert [a.status for a in deliveries(engine, "stage_alert")] == ["sent"]
        assert len(admin_dms(fake_slack)) == 2


def test_a_waiting_announcement_goes_out_at_its_next_try_once_the_channel_exists(engine, fake_slack, clock):
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=example()) as slack:
        start(slack)
        slack.create("Acme", pipeline=first_pipeline(slack))
        slack.command("won OPP-1")
        slack.deliver()
        [announcement] = deliveries(engine, "outcome_alert")
        assert announcement.status == "pending" and "#wins" in announcement.last_error
        fake_slack.add_channel("C0WINS", "wins")
        slack.deliver()  # not due yet
        assert posts_in(fake_slack, "C0WINS") == []
        clock.advance(minutes=16)
        slack.deliver()
        slack.deliver()
        assert len(posts_in(fake_slack, "C0WINS")) == 1
        assert [a.status for a in deliveries(engine, "outcome_alert")] == ["sent"]
