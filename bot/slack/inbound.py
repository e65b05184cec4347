"""What reaches POST /slack/events, checked before Bolt reads it: signed by Slack within the last five
minutes, and a body Bolt can dispatch (a form, or a JSON object, shaped as Slack sends them).

Bolt reads the request's envelope (its type, ids, event, view, actions) by indexing it: a timestamp
that isn't a number, a payload= that isn't a JSON object, or an id of the wrong type makes it raise,
which is a 500 with a traceback in the log. So the same reading is done here first, and whatever Bolt
couldn't read is answered 401 (not from Slack) or 400 (from Slack, but not readable) with a short text.
What the listeners read inside the envelope is bot/slack/requests.py's to make tolerant.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.signature import SignatureVerifier

from bot.slack.requests import web_url

FORM, JSON = "application/x-www-form-urlencoded", "application/json"
# Slack's payloads nest a dozen levels deep at most; Bolt looks for ids by recursing into nested events,
# so a body nested hundreds deep would exhaust the stack inside Bolt.
MAX_DEPTH = 64
# Where Bolt looks for the team, user, channel and enterprise ids: an id or an object with one (team.id),
# a flat field (team_id), and the objects it recurses into for them. What it finds becomes the context's
# ids, which the gate and the listeners read as strings.
_ID_HOLDERS = ("team", "user", "channel", "enterprise")
_FLAT_IDS = ("team_id", "user_id", "channel_id", "enterprise_id")
_NESTED = ("event", "message", "previous_message", "item", "assistant_thread")
# Fields Slack always sends as strings, which Bolt or the listeners hand on as they are.
_STRING_FIELDS = ("type", "command", "callback_id", "trigger_id", "api_app_id")


class Refused(Exception):
    """The request is answered with `status` and `reason` (plain text) before Bolt sees it."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Admitted:
    """The body to hand Bolt, and the headers it is to be read with."""

    body: str
    headers: Mapping[str, str]


def admit(body: str, headers: Mapping[str, str], verifier: SignatureVerifier) -> Admitted:
    """Check the signature, then that Bolt can read the body; raises Refused otherwise."""
    timestamp = check_signature(body, headers, verifier)
    envelope, for_bolt = read_body(body, headers.get("content-type"))
    if problem := unreadable_envelope(envelope):
        raise Refused(400, problem)
    if for_bolt == body:
        return Admitted(body, headers)
    # Bolt checks the signature again, of the text it is given: sign the text we hand it.
    return Admitted(for_bolt, {**dict(headers.items()), "x-slack-signature": verifier.generate_signature(timestamp=timestamp, body=for_bolt) or ""})


def check_signature(body: str, headers: Mapping[str, str], verifier: SignatureVerifier) -> str:
    """The request's timestamp, once the signature over it and the body is Slack's and it is under five minutes old."""
    timestamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    # Python's int() also reads " 12", "1_2" and "١٢"; Slack sends plain ASCII digits.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Refused(401, "missing or malformed X-Slack-Request-Timestamp")
    # hmac.compare_digest refuses non-ASCII text (a header arrives as Latin-1) with a TypeError.
    if not signature.isascii() or not signature.startswith("v0="):
        raise Refused(401, "missing or malformed X-Slack-Signature")
    if not verifier.is_valid(body, timestamp, signature):
        raise Refused(401, "invalid signature, or a timestamp over five minutes away")
    return timestamp


def read_body(body: str, content_type: str | None) -> tuple[dict, str]:
    """The envelope Bolt will dispatch, read the way Bolt reads it, and the text to hand Bolt for it."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in (FORM, JSON):
        raise Refused(400, "expected a form (application/x-www-form-urlencoded) or JSON (application/json)")
    # Bolt reads any body that starts with "{" as JSON, whatever its content type says.
    if media == JSON or body.startswith("{"):
        if not body.startswith("{"):
            raise Refused(400, "the body is not a JSON object")
        return json_object(body, "the body"), body
    form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
    # Bolt takes a form that contains "payload" anywhere for an interaction's payload= form.
    if "payload" not in body:
        return form, body
    if "payload" in form:
        return json_object(form["payload"], "payload"), body
    # A command whose text says "payload" would reach Bolt as an empty interaction: spell the word
    # with an escape (%61 is "a"), which reads back to the same form.
    return form, body.replace("payload", "p%61yload")


def json_object(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise Refused(400, f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise Refused(400, f"{what} is not a JSON object")
    if nested_deeper_than(value, MAX_DEPTH):
        raise Refused(400, f"{what} is nested too deeply")
    return value


def nested_deeper_than(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def unreadable_envelope(envelope: dict) -> str | None:
    """What in the envelope Bolt's dispatch would fail to read, or None."""
    if problem := _unreadable_ids(envelope):
        return problem
    for key in _STRING_FIELDS:
        if not _string_or_none(envelope.get(key)):
            return f"{key} is not a string"
    kind = envelope.get("type")
    if "event" in envelope and not isinstance(envelope["event"], dict):
        return "event is not an object"
    view = envelope.get("view")
    if view is not None and not isinstance(view, dict):
        return "view is not an object"
    if isinstance(view, dict) and not all(_string_or_none(view.get(key)) for key in ("team_id", "app_installed_team_id")):
        return "the view's team id is not a string"
    if kind in ("view_submission", "view_closed") and not (isinstance(view, dict) and isinstance(view.get("callback_id"), str) and "type" in view):
        return "the view has no callback_id or type"
    if kind in ("block_actions", "interactive_message") and "actions" in envelope:
        actions = envelope["actions"]
        if not (isinstance(actions, list) and actions and all(isinstance(a, dict) for a in actions)):
            return "actions is not a list of objects"
        if kind == "block_actions" and not isinstance(actions[0].get("action_id"), str):
            return "the action has no action_id"
    # Bolt's respond() posts to the first of these.
    if envelope.get("response_url") is not None and web_url(envelope["response_url"]) is None:
        return "response_url is not a URL"
    urls = envelope.get("response_urls")
    if "response_urls" in envelope and not (isinstance(urls, list) and all(isinstance(u, dict) and web_url(u.get("response_url")) for u in urls)):
        return "response_urls is not a list of response urls"
    # Workflow steps (retired by Slack) are read from a field of their own, which must then be there.
    steps = kind == "workflow_step_edit" or (kind == "view_submission" and isinstance(view, dict) and view.get("type") == "workflow_step")
    if steps and not isinstance(envelope.get("workflow_step"), dict):
        return "the workflow step is missing"
    return None


def _string_or_none(value: Any) -> bool:
    return isinstance(value, (str, type(None)))


def _unreadable_ids(payload: dict) -> str | None:
    for key in _ID_HOLDERS:
        holder = payload.get(key)
        if not isinstance(holder, (str, dict, type(None))):
            return f"{key} is neither an id nor an object"
        if isinstance(holder, dict) and not all(_string_or_none(holder.get(inner)) for inner in ("id", "team_id", "enterprise_id")):
            return f"{key}.id is not a string"
    for key in _FLAT_IDS:
        if not _string_or_none(payload.get(key)):
            return f"{key} is not a string"
    authorizations = payload.get("authorizations")
    if authorizations is not None and not (isinstance(authorizations, list) and all(isinstance(a, dict) for a in authorizations)):
        return "authorizations is not a list of objects"
    for nested in (*(payload.get(key) for key in _NESTED), *(authorizations or [])[:1]):
        if isinstance(nested, dict) and (problem := _unreadable_ids(nested)):
            return problem
    return None
