"""What reaches POST /slack/events, checked before Bolt reads it (bot/slack/inbound.py). Pure: no HTTP, no database.

The HTTP answers are tested through the running app in tests/test_fuzz.py; here, that the envelope
checked is the one Bolt dispatches, and that Bolt accepts the signature of the body it is handed.
"""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
from slack_bolt import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.slack import inbound

SECRET = "test-signing-secret"
VERIFIER = SignatureVerifier(SECRET)
FORM = "application/x-www-form-urlencoded"


def signed(body: str, content_type: str = FORM) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {"content-type": content_type, "x-slack-request-timestamp": timestamp,
            "x-slack-signature": VERIFIER.generate_signature(timestamp=timestamp, body=body) or ""}


COMMAND = {"team_id": "T1", "user_id": "U1", "command": "/opp", "text": "lost OPP-1 the payload was too heavy"}


@pytest.mark.parametrize(("body", "content_type"), [
    (urllib.parse.urlencode({**COMMAND, "text": "list"}), FORM),
    (urllib.parse.urlencode(COMMAND), FORM),
    (urllib.parse.urlencode({**COMMAND, "text": "payload=payload&payload"}), FORM),
    (urllib.parse.urlencode({**COMMAND, "payloads": "x"}), FORM),
    ("p%61yload=%7B%7D&team_id=T1", FORM),
    (urllib.parse.urlencode({"payload": json.dumps({"type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U1"},
                                                    "actions": [{"action_id": "a", "value": "payload"}]})}), FORM),
    (json.dumps({"type": "event_callback", "team_id": "T1", "event": {"type": "app_home_opened", "user": "U1", "text": "payload"}}), "application/json"),
    (json.dumps({"type": "url_verification", "challenge": "c"}), "application/json; charset=utf-8"),
    ("", FORM),
])
def test_bolt_dispatches_the_envelope_that_was_checked_and_accepts_its_signature(body: str, content_type: str) -> None:
    headers = signed(body, content_type)
    envelope, _ = inbound.read_body(body, content_type)
    admitted = inbound.admit(body, headers, VERIFIER)
    assert BoltRequest(body=admitted.body, headers=dict(admitted.headers)).body == envelope
    assert VERIFIER.is_valid(admitted.body, admitted.headers["x-slack-request-timestamp"], admitted.headers["x-slack-signature"])


def test_a_command_that_says_payload_reaches_bolt_as_the_command() -> None:
    body = urllib.parse.urlencode(COMMAND)
    assert BoltRequest(body=body, headers={"content-type": FORM}).body == {}  # what Bolt makes of it by itself
    admitted = inbound.admit(body, signed(body), VERIFIER)
    assert BoltRequest(body=admitted.body, headers=dict(admitted.headers)).body == COMMAND


@pytest.mark.parametrize("depth", [inbound.MAX_DEPTH + 1, 900])
def test_a_body_nested_deeper_than_slack_nests_is_refused(depth: int) -> None:
    body = json.dumps({"type": "event_callback", "team_id": "T1", "event": {"type": "x", "nested": [[]]}}).replace("[[]]", "[" * depth + "]" * depth)
    with pytest.raises(inbound.Refused) as refused:
        inbound.admit(body, signed(body, "application/json"), VERIFIER)
    assert (refused.value.status, refused.value.reason) == (400, "the body is nested too deeply")


def test_a_body_signed_with_another_secret_is_unauthorized() -> None:
    body = urllib.parse.urlencode(COMMAND)
    headers = signed(body)
    headers["x-slack-signature"] = SignatureVerifier("another secret").generate_signature(timestamp=headers["x-slack-request-timestamp"], body=body) or ""
    with pytest.raises(inbound.Refused) as refused:
        inbound.admit(body, headers, VERIFIER)
    assert refused.value.status == 401
