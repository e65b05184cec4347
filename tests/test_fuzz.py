"""Bad input never reaches a 500: random and malformed requests through the Slack-shaped surface.

Every request is signed and sent over HTTP to the running app, as Slack would. Each test asserts
that no answer is a 5xx, that nothing was logged at ERROR or with a traceback (uvicorn's own
"Exception in ASGI application" included), and that the database holds no partial record: every
deal has its first stage-history row and its card's outbox row, and no stored text carries a
control character. The random tests are seeded, so a failure reproduces; the seed and the request
are in the assertion's message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from bot.deals.cards import CARD_POST
from bot.slack import commands
from bot.slack.ids import ADD_FOLLOW_UP_BUTTON, LOST_BUTTON, NEW_MODAL
from storage.models import Delivery, Opportunity, StageChange
from tests.driver import SIGNING_SECRET, TEAM, Reply, SlackDriver
from tests.support import rows, stage_ids

SEED = 20261201
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
PEOPLE = ("U0REP1", "U0REP2", "U0MGR", "U0ADMIN", "U0OTHER")

# Pieces of hostile text: C0 controls and DEL, line endings, full-width look-alikes, invisible and
# bidirectional marks, combining characters, emoji sequences, other scripts, markup Slack reads.
NASTY = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\r", "\r\n", "\x1b[31m", "\x1f", "\x7f", "\t", "\n", "\x85", "\x9f",
         "ＯＰＰ－１", "１２３", "\u3000", "\xa0", "\u200b", "\u200d", "\u202e", "\ufeff", "\u2028", "e\u0301", "😀", "👩🏽‍💻", "🇨🇳",
         "中文商机", "صفقة", "Ωμέγα", "'; DROP TABLE opportunity; --", "<!channel>", "<@U0REP2>", "<#C0SALES|sales>", "*bold*",
         "`code`", "&lt;&amp;", "<>&\"'", "%00", "\\x00", "\\u0000", "{}", "[]", "null", "payload", "OPP-1", "  "]
# Only JSON can carry a lone surrogate (a form body is UTF-8): the interactions' payloads get them too.
SURROGATES = ["\ud800", "\udfff", "a\ud83d"]


def nasty_text(rng: random.Random, *, pieces: int = 6, surrogates: bool = False) -> str:
    pool = NASTY + SURROGATES if surrogates else NASTY
    parts = []
    for _ in range(rng.randrange(1, pieces + 1)):
        roll = rng.random()
        if roll < 0.5:
            parts.append(rng.choice(pool))
        elif roll < 0.8:
            parts.append("".join(chr(rng.randrange(0x20, 0xD000)) for _ in range(rng.randrange(1, 8))))
        else:
            parts.append(rng.choice(["deal", "call", "back", "price", "Acme", "x"]))
    return "".join(parts)


def sprinkled(rng: random.Random, text: str, *, surrogates: bool = True) -> str:
    """Text as someone might paste it: a control character or an odd mark inside."""
    at = rng.randrange(len(text) + 1)
    marks = ["", "\x00", "\r\n", "\x7f", "\x1b", "\u200b", "\t", *(["\ud800"] if surrogates else [])]
    return text[:at] + rng.choice(marks) + text[at:]


def huge_text(rng: random.Random) -> str:
    return rng.choice(["x", "é", "中", "😀", "\x00", "a\x01"]) * rng.choice([151, 501, 3001, 20_000])


def wrong_type(rng: random.Random) -> Any:
    return rng.choice([5, -1, 1.5, 10**30, True, False, None, [], ["x"], {}, {"value": "x"}, [{"a": 1}]])


@dataclass
class Watch:
    """Every request sent and its answer, for the assertions and their messages."""

    seed: int
    sent: list[tuple[str, Reply]] = field(default_factory=list)

    def record(self, what: str, reply: Reply) -> Reply:
        self.sent.append((what, reply))
        return reply

    def server_errors(self) -> list[str]:
        return [f"{reply.status} for {what[:300]!r}: {reply.body[:200]!r}" for what, reply in self.sent if reply.status >= 500]


@pytest.fixture
def fuzzing(slack: SlackDriver, caplog: pytest.LogCaptureFixture) -> Iterator[SlackDriver]:
    """The running app, with what it logs captured: uvicorn's error logger doesn't propagate, so it is
    watched directly. Cards and notices are not delivered after each request (the outbox rows are what
    the checks read), which keeps a thousand requests quick."""
    slack.deliver_after_each = ()
    uvicorn_errors = logging.getLogger("uvicorn.error")
    uvicorn_errors.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING)
    try:
        yield slack
    finally:
        uvicorn_errors.removeHandler(caplog.handler)


def failures_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()[:300]}" for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def stored_text_with_control_characters(slack: SlackDriver) -> list[str]:
    found = []

    def walk(table: str, column: str, value: Any) -> None:
        if isinstance(value, str) and CONTROL.search(value):
            found.append(f"{table}.{column}: {value[:80]!r}")
        elif isinstance(value, dict):
            for item in value.values():
                walk(table, column, item)
        elif isinstance(value, list):
            for item in value:
                walk(table, column, item)

    with slack.oppbot.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for column, value in row._mapping.items():
                    walk(table.name, column, value)
    return found


def partial_deals(slack: SlackDriver) -> list[str]:
    """Deals without their first stage-history row or their card's outbox row."""
    problems = []
    card_posts = {d.subject_id for d in rows(slack, Delivery, kind=CARD_POST)}
    for deal in rows(slack, Opportunity):
        history = rows(slack, StageChange, opportunity_id=deal.id)
        if not history or history[0].from_stage_id is not None or history[0].from_status is not None:
            problems.append(f"{deal.number} has no first stage-history row")
        if deal.id not in card_posts:
            problems.append(f"{deal.number} has no card_post row")
    return problems


def assert_nothing_failed(slack: SlackDriver, watch: Watch, caplog: pytest.LogCaptureFixture) -> None:
    slack.executor.drain()
    assert not watch.server_errors(), f"seed {watch.seed}: {len(watch.server_errors())} of {len(watch.sent)} answered 5xx: {watch.server_errors()[:5]}"
    assert not failures_logged(caplog), f"seed {watch.seed}: {failures_logged(caplog)[:5]}"
    assert not partial_deals(slack), partial_deals(slack)
    assert not stored_text_with_control_characters(slack), stored_text_with_control_characters(slack)[:10]


# ----- raw requests: whatever headers and body we choose ------------------------------------------------

def signed_headers(body: str, *, timestamp: str | None = None, content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def raw_post(slack: SlackDriver, body: bytes, headers: dict[str, str]) -> Reply:
    # http.client sends a str header as Latin-1 and can't send others: UTF-8 bytes go as they are.
    sent = {name: value.encode() for name, value in headers.items()}
    request = urllib.request.Request(slack.base_url + "/slack/events", data=body, method="POST", headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            reply = Reply(response.status, response.read().decode())
    except urllib.error.HTTPError as exc:
        reply = Reply(exc.code, exc.read().decode())
    slack.executor.drain()
    return reply


def form_of(payload: Any) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


# ----- the deals the random commands and forms work on ---------------------------------------------

def make_deals(slack: SlackDriver, watch: Watch, count: int) -> None:
    for n in range(count):
        user = PEOPLE[n % 3]
        reply = watch.record(f"create {n}", slack.create(f"Seed deal {n}", user=user, owner=user))
        assert reply.status == 200 and reply.body == "", reply


def refs(rng: random.Random, numbers: int) -> str:
    return rng.choice([f"OPP-{rng.randrange(1, numbers + 1)}", f"opp-{rng.randrange(1, numbers + 1)}", f"#{rng.randrange(1, numbers + 1)}",
                       str(rng.randrange(1, numbers + 1)), "OPP-0", "OPP-999999999", "OPP-" + "9" * 30, "OPP-１", "ＯＰＰ－１", "OPP-\x001",
                       "OPP-1\x00", "OPP--1", "OPP-", nasty_text(rng, pieces=2)])


def mention(rng: random.Random) -> str:
    return rng.choice(["<@U0REP2>", "<@U0REP1|rep1>", "<@U0MGR>", "<@U0NOBODY>", "<@U0GONE>", "<@U0BOTUSER>", "<@U" + "A" * 40 + ">",
                       "<@u0rep2>", "@rep2", "<@>", "<@U0REP2|\x00>", "<@U0REP2\x00>", "<#C0SALES>", "<!here>"])


# ----- /opp commands ------------------------------------------------------------------------------

def command_text(rng: random.Random, numbers: int, stages: list[str]) -> str:
    def stage() -> str:
        name = rng.choice(stages)
        return rng.choice([name, name.lower(), name[: rng.randrange(1, len(name) + 1)], str(rng.randrange(0, 9)), name.upper() + "\x00",
                           "won", "lost", nasty_text(rng, pieces=2)])

    def free_text() -> str:
        return huge_text(rng) if rng.random() < 0.08 else sprinkled(rng, nasty_text(rng), surrogates=False)

    def when() -> str:
        return rng.choice(["in 3 days", "tomorrow 9am", "friday", "2026-12-24 14:00", "in 0 days", "in 99999999 days", "yesterday",
                           "2026-13-45", "next monday", "in 3 days\x00", "tomorrow\x0b", "9am"])

    subcommand = rng.choice(list(commands.REGISTRY.values()))
    name = rng.choice([subcommand.name, *subcommand.aliases])
    templates: dict[str, Callable[[], str]] = {
        "new": lambda: f"{name} {free_text()}",
        "list": lambda: f"{name} {rng.choice(['', stage()])} {rng.choice(['', mention(rng)])}",
        "show": lambda: f"{name} {refs(rng, numbers)}",
        "stage": lambda: f"{name} {refs(rng, numbers)} {stage()}",
        "move": lambda: f"{name} {refs(rng, numbers)} {rng.choice(['renewals', 'new business', 'partners:commit', free_text()])} "
                        f"{rng.choice(['', stage()])}",
        "followup": lambda: f"{name} {refs(rng, numbers)} {when()} {free_text()}",
        "won": lambda: f"{name} {refs(rng, numbers)}",
        "lost": lambda: f"{name} {refs(rng, numbers)} {free_text()}",
        "team": lambda: f"{name} {rng.choice(['', 'add', 'remove'])} {rng.choice(['', mention(rng)])} {rng.choice(['', 'East', free_text()])}",
        "funnel": lambda: f"{name} {rng.choice(['', 'team', 'East', mention(rng), free_text()])}",
        "report": lambda: f"{name} by {rng.choice(['stage', 'owner', 'industry', 'region', 'source', free_text()])} "
                          f"{rng.choice(['', 'this month', 'last quarter', '2026', '2026-Q3', '2026-11', 'last 90 days', free_text()])}",
        "export": lambda: f"{name} " + " ".join(rng.choice(["status:open", "status:won", "status:nope", "stage:Prospect", f"owner:{mention(rng)}",
                                                              "since:2026-01-01", "since:soon", "region:" + nasty_text(rng, pieces=1),
                                                              free_text()]) for _ in range(rng.randrange(0, 4))),
        "suggest": lambda: f"{name} {refs(rng, numbers)}",
        "assign": lambda: f"{name} {refs(rng, numbers)} {mention(rng)}",
        "away": lambda: f"{name} {rng.choice(['', mention(rng)])} {rng.choice(['off', 'back', 'until 2026-12-24', 'until never', 'until ' + free_text()])}",
        "config": lambda: f"{name} {rng.choice(['', free_text()])}",
        "help": lambda: f"{name} {rng.choice(['', free_text()])}",
    }
    roll = rng.random()
    if roll < 0.7:
        text = templates[subcommand.name]()
    elif roll < 0.9:
        pool = [lambda: refs(rng, numbers), stage, lambda: mention(rng), free_text, when, lambda: rng.choice(list(commands.REGISTRY))]
        text = " ".join([name, *(rng.choice(pool)() for _ in range(rng.randrange(0, 6)))])
    else:
        text = free_text()
    if rng.random() < 0.2:
        # Slack passes on whatever separates the words: tabs, line breaks, ideographic spaces, NULs.
        text = text.replace(" ", rng.choice(["\t", "\n", "\r\n", "\u3000", "\x00", " \x0b ", "  "]))
    if rng.random() < 0.1:
        text = text.upper()
    return text


def test_a_thousand_random_commands_are_answered_and_store_nothing_broken(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(SEED)
    watch = Watch(SEED)
    make_deals(fuzzing, watch, 6)
    stages = list(stage_ids(fuzzing))
    numbers = 6
    started = time.monotonic()
    for n in range(1000):
        if n % 100 == 99:
            # the commands win and lose deals: keep some open to change
            make_deals(fuzzing, watch, 2)
            numbers = len(rows(fuzzing, Opportunity))
        text = command_text(rng, numbers, stages)
        watch.record(f"/opp {text}", fuzzing.command(text, user=rng.choice(PEOPLE)))
    logging.getLogger(__name__).info("1000 commands in %.1f s", time.monotonic() - started)
    assert_nothing_failed(fuzzing, watch, caplog)
    # Some commands did change deals: the fuzz reached the database, not only the parser.
    assert any(d.status != "open" for d in rows(fuzzing, Opportunity))


# ----- the New opportunity, Lost and follow-up modals ---------------------------------------------

def element_entry(rng: random.Random, element: dict, value: Any) -> Any:
    """What Slack's client puts in view.state.values for an element, or (rarely) something it never would."""
    roll = rng.random()
    if roll < 0.03:
        return wrong_type(rng)  # the entry itself isn't an object
    if roll < 0.06:
        return {"type": rng.choice(["plain_text_input", "static_select", "mystery", 5]), "value": value, "selected_option": value}
    entry = element_entry_as_slack_sends(element, value)
    if "selected_option" in entry and rng.random() < 0.05:
        entry["selected_option"] = wrong_type(rng)
    return entry


def element_entry_as_slack_sends(element: dict, value: Any) -> dict:
    kind = element["type"]
    if kind == "plain_text_input":
        return {"type": kind, "value": value}
    if kind in ("static_select", "radio_buttons"):
        return {"type": kind, "selected_option": None if value is None else {"text": {"type": "plain_text", "text": "x"}, "value": value}}
    if kind == "users_select":
        return {"type": kind, "selected_user": value}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "timepicker":
        return {"type": kind, "selected_time": value}
    raise ValueError(kind)


def options_of(element: dict) -> list[str]:
    return [o["value"] for o in element.get("options", [])]


# Per field kind (or block id): values Slack's client could send, then edge values it could too but oppbot refuses.
PLAUSIBLE: dict[str, tuple[list[Any], list[Any]]] = {
    "amount": (["12500", "12,500.50", "0", "１２３", ""], ["1e9", "-5", "0.001", "9" * 40, "12.5.0"]),
    "name": (["Acme rollout", "Ünïcödé 商机 😀", "x"], ["", " ", "\x00"]),
    "customer": (["Acme Corp", "Ωμέγα GmbH", "صفقة"], ["", "\u3000"]),
    "plain_text_input": (["", "referral", "call the buyer", "line one\r\nline two"], ["\x00\x7f"]),
    "users_select": (["U0REP1", "U0REP2", None], ["U0MGR", "U0GONE", "U0BOTUSER", "U0NOBODY", "", "U" + "A" * 40, "u0rep1", "U0REP1\n"]),
    "datepicker": (["2026-12-24", "2027-01-31", None], ["1999-01-01", "2026-02-30", "", "24/12/2026", "2026-12-24\x00", "2000-01-01"]),
    "timepicker": (["09:00", "23:59", None], ["24:00", "9:00", "", "noon"]),
}


def field_value(rng: random.Random, block_id: str, element: dict, *, chaotic: bool) -> Any:
    """A value for one field: in a chaotic form often of the wrong type, huge or hostile; otherwise plausible,
    now and then an edge value."""
    kind = element["type"]
    roll = rng.random()
    if chaotic and roll < 0.1:
        return wrong_type(rng)
    if chaotic and roll < 0.18:
        return huge_text(rng)
    if chaotic and roll < 0.35:
        return nasty_text(rng, surrogates=True)
    if kind in ("static_select", "radio_buttons"):
        plausible, edge = [*options_of(element), None], [None, "EUR", "999", "0", "Prospect"]
    else:
        plausible, edge = PLAUSIBLE.get(block_id) or PLAUSIBLE[kind]
    value = rng.choice(edge if rng.random() < 0.04 else plausible)
    return sprinkled(rng, value) if kind == "plain_text_input" else value


def garbage_metadata(rng: random.Random) -> Any:
    return rng.choice(["not json", "[1, 2]", "null", "\"text\"", "5", "", "{", "[" * 5000, 5, None, ["x"], {"opp": 1},
                       json.dumps({"opp": "1"}), json.dumps({"opp": 10**30}), json.dumps({"opp": True}), json.dumps({"opp": -1}),
                       json.dumps({"opp": 1.5}), json.dumps({"channel": ["C0SALES"]}), json.dumps({"channel": "C0SALES\x00"}),
                       json.dumps({"channel": "C" + "0" * 200}), json.dumps({"opp": 1, "response_url": 5}),
                       json.dumps({"opp": 1, "response_url": "not a url"}), json.dumps({"opp": 1, "response_url": "javascript:alert(1)"})])


def random_submission(rng: random.Random, view: dict, *, user: str, metadata: str) -> dict:
    """A submission of the view: half the forms are chaotic, the others plausible (so that some are saved)."""
    chaotic = rng.random() < 0.5
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input" or rng.random() < 0.08:
            continue
        element = block["element"]
        value = field_value(rng, block["block_id"], element, chaotic=chaotic)
        state[block["block_id"]] = {element["action_id"]: element_entry(rng, element, value) if chaotic else element_entry_as_slack_sends(element, value)}
    values: Any = state
    private_metadata: Any = metadata
    roll = rng.random() if chaotic else 1.0
    if roll < 0.03:
        values = rng.choice([[], "values", 5, None, [state]])
    elif roll < 0.05:
        values = {block_id: wrong_type(rng) for block_id in state}
    elif roll < 0.1:
        private_metadata = garbage_metadata(rng)
    view_state: Any = {"values": values} if rng.random() > 0.02 else rng.choice(["state", [], None])
    return {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": user}, "api_app_id": "A0OPPBOT",
            "trigger_id": f"trigger-fuzz-{rng.randrange(10**9)}",
            "view": {"id": "V0MODAL", "type": "modal", "callback_id": view["callback_id"], "private_metadata": private_metadata,
                     "blocks": view["blocks"], "state": view_state}}


def submit_randomly(slack: SlackDriver, watch: Watch, rng: random.Random, view: dict, count: int, *, metadata: Callable[[], str]) -> list[Reply]:
    replies = []
    for _ in range(count):
        payload = random_submission(rng, view, user=rng.choice(PEOPLE[:4]), metadata=metadata())
        replies.append(watch.record(json.dumps(payload)[:2000], slack.interact(payload)))
    return replies


def answered_as_a_form(reply: Reply) -> bool:
    """An ack of a view submission: empty (accepted) or the fields' errors."""
    return reply.status == 200 and (reply.body == "" or reply.json.get("response_action") == "errors")


def test_random_new_opportunity_lost_and_follow_up_forms_are_answered(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(SEED + 1)
    watch = Watch(SEED + 1)
    make_deals(fuzzing, watch, 4)
    fuzzing.command("new")
    new_view = fuzzing.last_view()
    assert new_view["callback_id"] == NEW_MODAL
    started = time.monotonic()
    new_forms = submit_randomly(fuzzing, watch, rng, new_view, 300, metadata=lambda: new_view["private_metadata"])
    created = len(rows(fuzzing, Opportunity)) - 4
    deals = rows(fuzzing, Opportunity)

    fuzzing.click(LOST_BUTTON, value=str(deals[0].id))
    lost_view = fuzzing.last_view()
    lost_forms = submit_randomly(fuzzing, watch, rng, lost_view, 100,
                                 metadata=lambda: json.dumps({"opp": rng.choice(deals).id, "response_url": None}))

    fuzzing.click(ADD_FOLLOW_UP_BUTTON, value=str(deals[1].id), user="U0REP2")
    follow_up_view = fuzzing.last_view()
    follow_up_forms = submit_randomly(fuzzing, watch, rng, follow_up_view, 100, metadata=lambda: json.dumps({"opp": rng.choice(deals).id}))
    logging.getLogger(__name__).info("500 forms in %.1f s", time.monotonic() - started)

    assert_nothing_failed(fuzzing, watch, caplog)
    unanswered = [r for r in new_forms + lost_forms + follow_up_forms if not answered_as_a_form(r)]
    assert not unanswered, unanswered[:5]
    # The fuzz made deals as well as errors: the checks above looked at real rows.
    assert created >= 5, created


# ----- requests Slack would never send, and the answer each gets ------------------------------------

def command_form(text: str = "list", **overrides: str) -> str:
    form = {"token": "legacy", "team_id": TEAM, "channel_id": "C0SALES", "user_id": "U0REP1", "command": "/opp", "text": text,
            "response_url": "http://127.0.0.1:9/response/none", "trigger_id": "trigger-raw"}
    form.update(overrides)
    return urllib.parse.urlencode(form)


# The cases of each test below share one running app (a subtest each): starting one per case would
# take most of the file's time.

TIMESTAMPS = {
    "missing": None, "empty": "", "not a number": "abc", "not digits": "1e9", "negative": "-1", "full-width digits": "１７００００００００",
    "padded": " {now}", "fractional": "{now}.5", "over 5 minutes old": "{stale}", "over 5 minutes ahead": "{future}", "5000 digits": "9" * 5000,
    "hex": "0x10", "underscores": "1_700_000_000",
}


def test_a_missing_non_numeric_or_stale_timestamp_is_unauthorized(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture, subtests: pytest.Subtests) -> None:
    body = command_form()
    for why, timestamp in TIMESTAMPS.items():
        with subtests.test(why):
            caplog.clear()
            now = int(time.time())
            if timestamp is None:
                headers = signed_headers(body)
                del headers["X-Slack-Request-Timestamp"]
            else:
                headers = signed_headers(body, timestamp=timestamp.format(now=now, stale=now - 301, future=now + 301))
            reply = raw_post(fuzzing, body.encode(), headers)
            assert reply.status == 401, reply
            assert not failures_logged(caplog)


SIGNATURES = [None, "", "v0=", "v0=" + "0" * 64, "v1=abc", "v0=é", "v0=" + "é" * 64, "sha256=x"]


def test_a_missing_or_wrong_signature_is_unauthorized(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture, subtests: pytest.Subtests) -> None:
    body = command_form()
    for signature in SIGNATURES:
        with subtests.test(repr(signature)[:30]):
            caplog.clear()
            headers = signed_headers(body)
            if signature is None:
                del headers["X-Slack-Signature"]
            else:
                headers["X-Slack-Signature"] = signature
            # "é" reaches the app as two non-ASCII bytes, read as Latin-1.
            reply = raw_post(fuzzing, body.encode(), headers)
            assert reply.status == 401, reply
            assert not failures_logged(caplog)


UNREADABLE_BODIES = [
    # form bodies whose payload= is not a JSON object
    ("payload=not+json", "application/x-www-form-urlencoded"),
    ("payload=", "application/x-www-form-urlencoded"),
    (urllib.parse.urlencode({"payload": "[1, 2]"}), "application/x-www-form-urlencoded"),
    (urllib.parse.urlencode({"payload": "null"}), "application/x-www-form-urlencoded"),
    (urllib.parse.urlencode({"payload": "\"a string\""}), "application/x-www-form-urlencoded"),
    (urllib.parse.urlencode({"payload": "5"}), "application/x-www-form-urlencoded"),
    (urllib.parse.urlencode({"payload": "[" * 100_000}), "application/x-www-form-urlencoded"),
    (urllib.parse.urlencode({"payload": '{"type": "block_actions"' + ', "a": [' * 5000 + "]" * 5000 + "}"}), "application/x-www-form-urlencoded"),
    (urllib.parse.urlencode({"payload": '{"n": ' + "9" * 5000 + "}"}), "application/x-www-form-urlencoded"),
    # Events API bodies that are not a JSON object
    ("not json", "application/json"),
    ("", "application/json"),
    ("[1, 2]", "application/json"),
    ("null", "application/json"),
    ("\"event\"", "application/json"),
    ("{", "application/json"),
    ('{"type": "event_callback"', "application/json"),
    ("{" * 100_000, "application/json; charset=utf-8"),
    ('{"type": "event_callback", "event": ' + "[" * 3000 + "]" * 3000 + "}", "application/json"),
    # a body Bolt would read as JSON whatever its content type
    ("{not json", "application/x-www-form-urlencoded"),
    # neither a form nor JSON
    ('{"type": "url_verification", "challenge": "c"}', "text/plain"),
    ("text=hello", "multipart/form-data; boundary=x"),
    ("<xml/>", "application/xml"),
    ("team_id=T0TEST", ""),  # urllib would add a form content type: this one is sent empty
]


def test_a_signed_body_that_is_not_a_json_object_or_a_form_is_a_bad_request(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture, subtests: pytest.Subtests) -> None:
    for body, content_type in UNREADABLE_BODIES:
        with subtests.test(f"{content_type}: {body[:40]}"):
            caplog.clear()
            reply = raw_post(fuzzing, body.encode(), signed_headers(body, content_type=content_type))
            assert reply.status == 400, reply
            assert reply.body and len(reply.body) < 200 and "Traceback" not in reply.body
            assert not failures_logged(caplog)


def event_envelope(event: Any, **extra: Any) -> dict:
    return {"token": "legacy", "team_id": TEAM, "api_app_id": "A0OPPBOT", "type": "event_callback", "event_id": "Ev1", "event_time": 1,
            "event": event, **extra}


def click_payload(**overrides: Any) -> dict:
    payload = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U0REP1"}, "api_app_id": "A0OPPBOT", "trigger_id": "t",
               "container": {"type": "message", "channel_id": "C0SALES", "message_ts": "1.0"}, "channel": {"id": "C0SALES"},
               "actions": [{"action_id": "card_won", "block_id": "b", "type": "button", "value": "1"}]}
    payload.update(overrides)
    return payload


BOLT_UNREADABLE = [
    # shapes Bolt's own dispatch can't read (its ids, matchers and kwargs index these without looking)
    json.dumps(event_envelope("app_home_opened")),
    json.dumps(event_envelope(None)),
    json.dumps(event_envelope(["app_home_opened"])),
    json.dumps(event_envelope({"type": "app_home_opened", "user": 5, "tab": "home"})),
    json.dumps(event_envelope({"type": "app_home_opened", "user": "U0REP1", "tab": "home"}, authorizations="x")),
    json.dumps(event_envelope({"type": "app_home_opened", "user": "U0REP1", "tab": "home"}, authorizations=[5])),
    json.dumps(event_envelope({"type": "message", "channel_type": "im", "message": "x", "channel": ["C1"]})),
    form_of(click_payload(actions=[])),
    form_of(click_payload(actions="card_won")),
    form_of(click_payload(actions=[5])),
    form_of(click_payload(actions=[{"value": "1"}])),
    form_of(click_payload(team=5)),
    form_of(click_payload(team=["id"])),
    form_of(click_payload(user=["id"])),
    form_of(click_payload(channel=7)),
    form_of(click_payload(enterprise=["E1"])),
    form_of(click_payload(response_url=5)),
    form_of(click_payload(response_url="not a url")),
    form_of(click_payload(user={"id": ["U0REP1"]})),
    form_of(click_payload(team={"id": {"id": TEAM}})),
    command_form(response_url="5"),
    form_of(click_payload(response_urls="x")),
    form_of({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": "U0REP1"}, "view": "new_opportunity"}),
    form_of({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": "U0REP1"}, "view": None}),
    form_of({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": "U0REP1"}, "view": {"callback_id": NEW_MODAL}}),
    form_of({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": "U0REP1"}, "view": {"type": "modal", "callback_id": [NEW_MODAL]}}),
    form_of({"type": "workflow_step_edit", "callback_id": "x", "team": {"id": TEAM}, "user": {"id": "U0REP1"}}),
    form_of({"type": "shortcut", "callback_id": ["new_opportunity"], "team": {"id": TEAM}, "user": {"id": "U0REP1"}}),
]


def post_signed(slack: SlackDriver, body: str) -> Reply:
    content_type = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
    return raw_post(slack, body.encode(), signed_headers(body, content_type=content_type))


def test_an_envelope_bolt_cannot_dispatch_is_a_bad_request(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture, subtests: pytest.Subtests) -> None:
    for body in BOLT_UNREADABLE:
        with subtests.test(urllib.parse.unquote_plus(body)[:80]):
            caplog.clear()
            reply = post_signed(fuzzing, body)
            assert reply.status == 400, reply
            assert not failures_logged(caplog)


def new_form_payload(slack: SlackDriver, *, state: Any = None, values: Any = None, metadata: Any = None) -> dict:
    view = slack.last_view()
    submitted: dict[str, Any] = {"id": "V0MODAL", "type": "modal", "callback_id": view["callback_id"], "blocks": view["blocks"],
                                 "private_metadata": view["private_metadata"] if metadata is None else metadata}
    submitted["state"] = {"values": values} if state is None else state
    return {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": "U0REP1"}, "api_app_id": "A0OPPBOT", "trigger_id": "t", "view": submitted}


WELL_FORMED = {"name": {"value": {"type": "plain_text_input", "value": "Acme"}}, "customer": {"value": {"type": "plain_text_input", "value": "Acme Corp"}}}


UNSHAPED_STATES = [
    (None, []), (None, "values"), (None, 5), (None, None), ("state", None), ([], None), ({"values": {"name": "Acme"}}, None),
    ({"values": {"name": []}}, None), ({"values": {"name": {"value": "Acme"}}}, None),
    (None, {"name": {"value": {"type": "plain_text_input", "value": 5}}, "customer": {"value": {"type": "plain_text_input", "value": ["Acme"]}}}),
    (None, {"name": {"value": {"type": "plain_text_input", "value": "\x00\x01\x7f"}}, "customer": {"value": "Acme Corp"}}),
]


def test_a_new_opportunity_form_whose_state_is_not_what_slack_sends_gets_field_errors(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture,
                                                                                     subtests: pytest.Subtests) -> None:
    fuzzing.command("new")
    for state, values in UNSHAPED_STATES:
        with subtests.test(repr((state, values))[:80]):
            caplog.clear()
            reply = fuzzing.interact(new_form_payload(fuzzing, state=state, values=values))
            assert reply.status == 200 and reply.json["response_action"] == "errors", reply
            assert {"name", "customer"} <= set(reply.json["errors"])
            assert rows(fuzzing, Opportunity) == []
            assert not failures_logged(caplog)


WRONG_SHAPES = [
    ("stage", {"type": "static_select", "selected_option": "4"}),
    ("currency", {"type": "static_select", "selected_option": ["USD"]}),
    ("currency", {"type": "static_select", "selected_option": {"value": {"code": "USD"}}}),
    ("industry", {"type": "static_select", "selected_option": {"value": 5}}),
    ("close_date", {"type": "datepicker", "selected_date": 20261224}),
    ("amount", {"type": "plain_text_input", "value": 12500}),
    ("notes", {"type": "plain_text_input", "value": {"text": "x"}}),
    ("source", "referral"),
    ("next_step", ["call"]),
]


def test_an_optional_field_of_the_wrong_shape_reads_as_not_filled_in(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture, subtests: pytest.Subtests) -> None:
    fuzzing.command("new")
    for field_name, entry in WRONG_SHAPES:
        with subtests.test(f"{field_name}: {entry!r}"[:80]):
            caplog.clear()
            reply = fuzzing.interact(new_form_payload(fuzzing, values={**WELL_FORMED, field_name: {"value": entry}}))
            assert (reply.status, reply.body) == (200, "")
            deal = rows(fuzzing, Opportunity)[-1]
            assert (deal.stage_id, deal.currency, deal.industry, deal.close_date, deal.amount, deal.notes, deal.source, deal.next_step) == (
                stage_ids(fuzzing)["Prospect"], "USD", None, None, None, None, None, None)
            assert not failures_logged(caplog)
    assert len(rows(fuzzing, Opportunity)) == len(WRONG_SHAPES)
    assert not partial_deals(fuzzing)


GARBAGE_NEW_METADATA = ["not json", "[1]", "null", 5, ["C0SALES"], "[" * 5000, json.dumps({"channel": 5}), json.dumps({"channel": "C0SALES\x00"}),
                        json.dumps({"channel": "C" + "0" * 100})]


def test_a_new_opportunity_form_with_garbage_metadata_still_makes_the_deal(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture, subtests: pytest.Subtests) -> None:
    fuzzing.command("new")
    for made, metadata in enumerate(GARBAGE_NEW_METADATA, start=1):
        with subtests.test(repr(metadata)[:60]):
            caplog.clear()
            reply = fuzzing.interact(new_form_payload(fuzzing, values=WELL_FORMED, metadata=metadata))
            assert (reply.status, reply.body) == (200, "")
            assert len(rows(fuzzing, Opportunity)) == made
            assert not failures_logged(caplog)
    assert not partial_deals(fuzzing)


# (metadata, whether the deal is lost): OPP stands for the deal's id.
GARBAGE_LOST_METADATA: list[tuple[Any, bool]] = [
    ("not json", False), ("[OPP]", False), (5, False), (None, False), ('{"opp": "OPP"}', False), (json.dumps({"opp": 10**30}), False),
    ('{"opp": true}', False), ('{"opp": -OPP}', False), ('{"opp": OPP.0}', False),
    ('{"opp": OPP, "response_url": 5}', True), ('{"opp": OPP, "response_url": "not a url"}', True),
    ('{"opp": OPP, "response_url": "file:///etc/passwd"}', True),
]


def test_a_lost_form_with_garbage_metadata_is_answered(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture, subtests: pytest.Subtests) -> None:
    for n, (metadata, loses_the_deal) in enumerate(GARBAGE_LOST_METADATA):
        with subtests.test(repr(metadata)[:60]):
            fuzzing.create(f"Deal {n}")
            deal = rows(fuzzing, Opportunity)[-1]
            fuzzing.click(LOST_BUTTON, value=str(deal.id))
            view = fuzzing.last_view()
            caplog.clear()
            submitted = metadata.replace("OPP", str(deal.id)) if isinstance(metadata, str) else metadata
            payload = {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": "U0REP1"}, "api_app_id": "A0OPPBOT", "trigger_id": "t",
                       "view": {"id": "V0MODAL", "type": "modal", "callback_id": view["callback_id"], "private_metadata": submitted,
                                "blocks": view["blocks"], "state": {"values": {"reason": {"value": {"type": "plain_text_input", "value": "price"}}}}}}
            reply = fuzzing.interact(payload)
            assert answered_as_a_form(reply), reply
            assert not failures_logged(caplog)
            assert rows(fuzzing, Opportunity, id=deal.id)[0].status == ("lost" if loses_the_deal else "open")


def test_control_characters_are_stripped_from_what_people_type_before_it_is_stored(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture) -> None:
    assert fuzzing.create("Al\x00pha\x1b", customer="Acme\r\nCorp\x7f", notes="line one\r\nline\ttwo\x0b\x00").status == 200
    assert fuzzing.command("lost OPP-1 too\x00 expensive\x08").status == 200
    fuzzing.create("Beta")
    assert fuzzing.command("followup OPP-2 tomorrow 9am call\x00 back\x1f").status == 200
    alpha, beta = rows(fuzzing, Opportunity)
    assert (alpha.name, alpha.customer, alpha.notes, alpha.status, alpha.lost_reason) == (
        "Alpha", "Acme\nCorp", "line one\nline\ttwo", "lost", "too expensive")
    assert not stored_text_with_control_characters(fuzzing)
    assert not failures_logged(caplog)


def test_a_mention_longer_than_a_slack_id_names_nobody(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture) -> None:
    too_long = "<@U" + "A" * 40 + ">"
    for user, text in (("U0ADMIN", f"away {too_long} until 2026-12-24"), ("U0MGR", f"team add {too_long} East"), ("U0MGR", f"funnel {too_long}")):
        reply = fuzzing.command(text, user=user)
        assert reply.status == 200 and "Usage: /opp" in reply.body, reply  # answered in the ack, with help
    assert not failures_logged(caplog)
    assert not stored_text_with_control_characters(fuzzing)


def test_a_command_whose_text_says_payload_is_read_as_a_command(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture) -> None:
    """Bolt reads any form body containing the word "payload" as an interaction's payload= form."""
    fuzzing.create("Alpha")
    reply = fuzzing.command("lost OPP-1 the payload was too heavy")
    assert reply.status == 200, reply
    [deal] = rows(fuzzing, Opportunity)
    assert (deal.status, deal.lost_reason) == ("lost", "the payload was too heavy")
    assert not failures_logged(caplog)


# ----- random corruption of well-formed requests ---------------------------------------------------

def corrupt(rng: random.Random, node: Any) -> Any:
    """A copy of a payload with one value somewhere replaced, removed, or given the wrong type."""
    if isinstance(node, dict) and node:
        key = rng.choice(sorted(node))
        copy = dict(node)
        roll = rng.random()
        if roll < 0.4 and isinstance(node[key], (dict, list)) and node[key]:
            copy[key] = corrupt(rng, node[key])
        elif roll < 0.55:
            del copy[key]
        else:
            copy[key] = rng.choice([wrong_type(rng), nasty_text(rng, pieces=2, surrogates=True), huge_text(rng)])
        return copy
    if isinstance(node, list) and node:
        index = rng.randrange(len(node))
        copy_list = list(node)
        if rng.random() < 0.5 and isinstance(node[index], (dict, list)):
            copy_list[index] = corrupt(rng, node[index])
        else:
            copy_list[index] = wrong_type(rng)
        return copy_list
    return wrong_type(rng)


def test_well_formed_requests_corrupted_at_random_are_answered(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(SEED + 2)
    watch = Watch(SEED + 2)
    make_deals(fuzzing, watch, 3)
    deal = rows(fuzzing, Opportunity)[0]
    fuzzing.command("new")
    new_form = new_form_payload(fuzzing, values=WELL_FORMED)
    fuzzing.click(ADD_FOLLOW_UP_BUTTON, value=str(deal.id))
    follow_up_view = fuzzing.last_view()
    follow_up_form = {**new_form, "view": {**new_form["view"], "callback_id": follow_up_view["callback_id"], "blocks": follow_up_view["blocks"],
                                           "private_metadata": follow_up_view["private_metadata"], "state": {"values": {
                                               "what": {"value": {"type": "plain_text_input", "value": "call back"}},
                                               "quick": {"value": {"type": "radio_buttons", "selected_option": {"value": "tomorrow"}}},
                                               "assignee": {"value": {"type": "users_select", "selected_user": "U0REP1"}}}}}}
    fuzzing.command("config", user="U0ADMIN")
    config_view = fuzzing.last_view()
    config_form = {**new_form, "user": {"id": "U0ADMIN"}, "view": {
        **new_form["view"], "callback_id": config_view["callback_id"], "blocks": config_view["blocks"], "private_metadata": "",
        "state": {"values": {b["block_id"]: {"value": {"type": "plain_text_input", "value": "50"}} for b in config_view["blocks"]
                             if b.get("type") == "input" and b["block_id"].endswith(("probability", "max_days"))}}}}
    stage = stage_ids(fuzzing)["Negotiation"]

    def click(action_id: str, value: str) -> dict:
        return click_payload(actions=[{"action_id": action_id, "block_id": "b", "type": "button", "value": value}])

    interactions = [
        click("card_won", str(deal.id)), click("card_lost", str(deal.id)), click("card_details", str(deal.id)),
        click("add_follow_up", str(deal.id)), click("needs_owner", str(deal.id)), click("assign_to", f"{deal.id}:U0REP2"),
        click("follow_up_done", "1"), click("alert_take", "1"), click("digest_full_report", "1"),
        click_payload(actions=[{"action_id": "card_stage_select", "block_id": "b", "type": "static_select",
                                "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": f"{deal.id}:{stage}"}}]),
        click_payload(actions=[{"action_id": "list_page", "block_id": "b", "type": "button", "value": json.dumps({"o": "U0REP1", "n": 0})}]),
        click_payload(container={"type": "view", "view_id": "V0HOME"}, view={"id": "V0HOME", "type": "home"},
                      actions=[{"action_id": "home_new_opportunity", "block_id": "b", "type": "button", "value": "x"}]),
        new_form, follow_up_form, config_form,
        {"type": "shortcut", "callback_id": "new_opportunity", "team": {"id": TEAM}, "user": {"id": "U0REP1"}, "trigger_id": "t"},
        {"type": "message_action", "callback_id": "opportunity_from_message", "team": {"id": TEAM}, "user": {"id": "U0REP1"}, "trigger_id": "t",
         "channel": {"id": "C0SALES"}, "message": {"ts": "1.5", "text": "call me\x00 back"}, "response_url": fuzzing.fake.response_url("sc")},
    ]
    event = event_envelope({"type": "app_home_opened", "user": "U0REP1", "tab": "home", "channel": "D0HOME"})
    command = urllib.parse.parse_qs(command_form("lost OPP-1 price", response_url=fuzzing.fake.response_url("fuzz")))
    for n in range(300):
        kind = n % 4
        original: Any = event if kind == 0 else {key: values[0] for key, values in command.items()} if kind == 1 else rng.choice(interactions)
        corrupted = original
        for _ in range(rng.randrange(1, 4)):
            corrupted = corrupt(rng, corrupted)
        if kind == 0:
            body, content_type = json.dumps(corrupted), "application/json"
        elif kind == 1:
            # a form carries strings only: a value of another type is sent as its text
            fields = corrupted if isinstance(corrupted, dict) else {"text": corrupted}
            body, content_type = urllib.parse.urlencode({key: value if isinstance(value, str) else json.dumps(value) for key, value in fields.items()},
                                                        encoding="utf-8", errors="surrogatepass"), "application/x-www-form-urlencoded"
        else:
            body, content_type = form_of(corrupted), "application/x-www-form-urlencoded"
        watch.record(body[:2000], fuzzing.post(body, content_type))
    assert_nothing_failed(fuzzing, watch, caplog)


# ----- who is asking: the gate's part ----------------------------------------------------------------

NOBODY = [
    form_of({"type": "view_submission", "user": {"id": "U0REP1"}, "view": {"type": "modal", "callback_id": NEW_MODAL, "state": {"values": {}}}}),
    form_of({"type": "view_submission", "team": {"id": TEAM}, "view": {"type": "modal", "callback_id": NEW_MODAL, "state": {"values": {}}}}),
    form_of({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": "U0REP1\x00"},
             "view": {"type": "modal", "callback_id": NEW_MODAL, "state": {"values": {}}}}),
    form_of({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": 5}, "view": {"type": "modal", "callback_id": NEW_MODAL, "state": {"values": {}}}}),
    form_of({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": "U" * 200},
             "view": {"type": "modal", "callback_id": NEW_MODAL, "state": {"values": {}}}}),
    form_of(click_payload(user={})),
    form_of(click_payload(team=None)),
    form_of({"type": "shortcut", "callback_id": "new_opportunity", "team": {"id": TEAM}, "trigger_id": "t"}),
    command_form(team_id=""),
    command_form(user_id=""),
    command_form(user_id="U0REP1\x00"),
    json.dumps(event_envelope({"type": "app_home_opened", "user": "U0REP1\x00", "tab": "home"})),
    urllib.parse.urlencode({"command": "/opp", "text": "list", "channel_id": "C0SALES"}),
    json.dumps(event_envelope({"type": "app_home_opened", "tab": "home"})),
    json.dumps({**event_envelope({"type": "app_home_opened", "user": "U0REP1", "tab": "home"}), "team_id": None}),
    form_of(click_payload(team={"id": "T0ELSEWHERE"})),
    command_form(team_id="T0ELSEWHERE"),
]


def test_a_request_without_a_team_or_user_is_answered_politely(fuzzing: SlackDriver, caplog: pytest.LogCaptureFixture, subtests: pytest.Subtests) -> None:
    for body in NOBODY:
        with subtests.test(urllib.parse.unquote_plus(body)[:80]):
            caplog.clear()
            reply = post_signed(fuzzing, body)
            assert reply.status < 500, reply
            assert not failures_logged(caplog)
            assert rows(fuzzing, Opportunity) == []
