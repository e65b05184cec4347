"""/healthz: the database, the Slack connection and the outbox, 200 when all is well, 503 with the reason."""

from __future__ import annotations

from bot.server import STALE_OUTBOX, Link, health
from tests.outage import outage_of


def test_all_is_well(slack):
    reply = slack.get("/healthz")
    assert reply.status == 200, reply.body
    body = reply.json
    assert body["status"] == "ok" and body["database"] == "ok" and "reasons" not in body
    assert body["outbox"] == {"oldest_due_seconds": 0, "failed_deliveries": 0}
    assert body["slack"]["last_ok_call"] is not None, "auth.test at sign-in was a successful call"
    assert "socket_mode" not in body["slack"], "HTTP mode has no link to report"


def test_503_when_the_database_is_cut_off(slack):
    with outage_of(slack.oppbot.engine) as outage:
        outage.cut()
        if outage.proxy is None:  # SQLite: the app's own engine refuses
            reply = slack.get("/healthz")
        else:
            status, body = health(type(slack.oppbot)(**{**vars(slack.oppbot), "engine": outage.engine}))
            reply = type("R", (), {"status": status, "json": body})()
        assert reply.status == 503
        assert reply.json["database"] == "unavailable" and reply.json["reasons"] == ["the database doesn't answer"]
        outage.restore()
    assert slack.get("/healthz").status == 200


def test_503_when_the_oldest_due_delivery_waited_too_long(slack):
    assert slack.create("Acme rollout").status == 200
    slack.command("followup OPP-1 in 1 hour call")
    slack.clock.advance(hours=1, seconds=STALE_OUTBOX - 60)
    assert slack.get("/healthz").status == 200, "late, but not yet too late"
    slack.clock.advance(seconds=120)
    reply = slack.get("/healthz")
    assert reply.status == 503
    assert reply.json["outbox"]["oldest_due_seconds"] == STALE_OUTBOX + 60
    assert reply.json["reasons"] == [f"the oldest due delivery has waited {STALE_OUTBOX + 60} s (more than {STALE_OUTBOX} s)"]
    slack.deliver()
    assert slack.get("/healthz").status == 200


def test_503_when_the_socket_mode_link_is_down(slack):
    link = Link()
    link.is_up = lambda: True
    status, body = health(slack.oppbot, link)
    assert (status, body["slack"]["socket_mode"]) == (200, "up")
    link.is_up = lambda: False
    status, body = health(slack.oppbot, link)
    assert (status, body["slack"]["socket_mode"], body["reasons"]) == (503, "down", ["the Socket Mode link is down"])
