"""Slack payloads parsed once into typed requests: who (team, user), where (channel, message), and what.

Listeners work with these, never with the raw body; a payload without a team or a user is not a
request oppbot can answer (`Malformed`). Every string is read through `typed_text`, so what people
typed reaches the rest of oppbot without the control characters no one means to store; a value of
the wrong type reads as missing, never as an exception.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any


class Malformed(ValueError):
    """The payload lacks what every request has (team, user)."""


@dataclass(frozen=True)
class Request:
    team_id: str
    user_id: str
    trigger_id: str | None = None
    response_url: str | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class CommandRequest(Request):
    text: str = ""


@dataclass(frozen=True)
class ActionRequest(Request):
    action_id: str = ""
    value: str = ""  # a button's value, or the chosen option's
    block_id: str = ""
    message_ts: str | None = None
    is_ephemeral: bool = False
    in_home: bool = False  # clicked on the App Home tab

    @property
    def in_message(self) -> bool:
        """A click on a message that chat.update can reach (not an ephemeral, not a view)."""
        return bool(self.channel_id and self.message_ts and not self.is_ephemeral and not self.in_home)


@dataclass(frozen=True)
class SubmissionRequest(Request):
    callback_id: str = ""
    values: dict[str, str | None] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    input_blocks: tuple[str, ...] = ()  # block ids of the view's inputs, in order: where an error can be shown


@dataclass(frozen=True)
class ShortcutRequest(Request):
    callback_id: str = ""
    message_text: str = ""
    message_ts: str | None = None


@dataclass(frozen=True)
class HomeOpened(Request):
    tab: str = "home"


# C0 controls but tab and line feed, DEL, and lone surrogates (a JSON payload can carry "\ud800"; no
# database or encoder takes one). A CR-LF is a line break typed on some clients: it becomes LF first.
_UNTYPEABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def typed_text(value: Any) -> str:
    """A string from a payload as oppbot may read and store it; anything that isn't a string reads as ""."""
    if not isinstance(value, str):
        return ""
    return _UNTYPEABLE.sub("", value.replace("\r\n", "\n"))


def _text(value: Any) -> str | None:
    return typed_text(value) or None


_CONVERSATION = re.compile(r"[CDG][A-Z0-9]{2,31}")


def conversation_id(value: Any) -> str | None:
    """A channel, group or DM id (C…, G…, D…) as carried in a form's metadata; anything else is None."""
    return value if isinstance(value, str) and _CONVERSATION.fullmatch(value) else None


def metadata_id(value: Any) -> int | None:
    """A database id as carried in a form's metadata (a JSON number oppbot wrote); anything else is None."""
    return value if type(value) is int and 0 < value < 10**12 else None


def web_url(value: Any) -> str | None:
    """An http(s) URL as carried in a form's metadata (a response_url); anything else is None."""
    if not isinstance(value, str) or len(value) > 2000 or _UNTYPEABLE.search(value) or any(c.isspace() for c in value):
        return None
    parts = urllib.parse.urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


# What Slack's team and user ids look like (T0123ABCD, U0123ABCD, W…, E…), no longer than oppbot stores.
_SLACK_ID = re.compile(r"[A-Za-z0-9]{1,32}")


def _slack_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _SLACK_ID.fullmatch(value) else None


def who(body: dict) -> tuple[str, str]:
    """The team and the user a payload comes from, or Malformed: slash commands name them flat
    (team_id, user_id), interactions nest them (team.id, user.id)."""
    team = _slack_id(body.get("team_id") or _dict(body.get("team")).get("id"))
    user = _slack_id(body.get("user_id") or _dict(body.get("user")).get("id"))
    if team is None or user is None:
        raise Malformed("no team or user in the payload")
    return team, user


def command(body: dict) -> CommandRequest:
    team, user = who(body)
    return CommandRequest(team, user, _text(body.get("trigger_id")), _text(body.get("response_url")), _text(body.get("channel_id")),
                          text=typed_text(body.get("text")))


def action(body: dict) -> ActionRequest:
    team, user = who(body)
    actions = body.get("actions") or [{}]
    first = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    selected = _dict(first.get("selected_option"))
    container = _dict(body.get("container"))
    in_home = container.get("type") == "view" and _dict(body.get("view")).get("type") == "home"
    return ActionRequest(
        team, user, _text(body.get("trigger_id")), _text(body.get("response_url")),
        _text(container.get("channel_id")) or _text(_dict(body.get("channel")).get("id")),
        action_id=typed_text(first.get("action_id")), value=typed_text(first.get("value")) or typed_text(selected.get("value")),
        block_id=typed_text(first.get("block_id")), message_ts=_text(container.get("message_ts")),
        is_ephemeral=container.get("is_ephemeral") is True, in_home=bool(in_home),
    )


def _element_value(element: dict) -> str | None:
    """The value of one input element, for the element types our modals use; None when it holds none (or nonsense)."""
    kind = element.get("type")
    if kind == "plain_text_input":
        raw = element.get("value")
    elif kind in ("static_select", "radio_buttons"):
        raw = _dict(element.get("selected_option")).get("value")
    elif kind == "users_select":
        raw = element.get("selected_user")
    elif kind == "datepicker":
        raw = element.get("selected_date")
    elif kind == "timepicker":
        raw = element.get("selected_time")
    elif kind == "conversations_select":
        raw = element.get("selected_conversation")
    else:
        return None
    return typed_text(raw) if isinstance(raw, str) else None


def form_values(view: Any) -> dict[str, str | None]:
    """Flatten view.state.values to {block_id: value}; what isn't shaped as Slack sends it reads as not filled in."""
    values: dict[str, str | None] = {}
    for block_id, actions in _dict(_dict(_dict(view).get("state")).get("values")).items():
        for element in _dict(actions).values():
            if isinstance(element, dict):
                values[block_id] = _element_value(element)
    return values


def metadata(view: Any) -> dict:
    raw = _dict(view).get("private_metadata")
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class ShownView:
    """The open modal a select inside it was changed in (a block_actions from a view): what redrawing it needs."""

    view_id: str
    hash: str
    values: dict[str, str | None]
    metadata: dict


def shown_view(body: dict) -> ShownView | None:
    """The modal of a block_actions payload, or None when it came from elsewhere (a message, the App Home)."""
    view = body.get("view")
    if not isinstance(view, dict) or not isinstance(view.get("id"), str) or not view["id"]:
        return None
    shown_hash = view.get("hash")
    return ShownView(typed_text(view["id"]), typed_text(shown_hash) if isinstance(shown_hash, str) else "", form_values(view), metadata(view))


def submission(body: dict) -> SubmissionRequest:
    team, user = who(body)
    view = _dict(body.get("view"))
    blocks = view.get("blocks")
    inputs = tuple(b["block_id"] for b in (blocks if isinstance(blocks, list) else [])
                   if isinstance(b, dict) and b.get("type") == "input" and isinstance(b.get("block_id"), str) and b["block_id"])
    return SubmissionRequest(team, user, _text(body.get("trigger_id")), None, None, callback_id=typed_text(view.get("callback_id")),
                             values=form_values(view), metadata=metadata(view), input_blocks=inputs)


def shortcut(body: dict) -> ShortcutRequest:
    team, user = who(body)
    message = _dict(body.get("message"))
    channel = _dict(body.get("channel"))
    return ShortcutRequest(team, user, _text(body.get("trigger_id")), _text(body.get("response_url")), _text(channel.get("id")),
                           callback_id=typed_text(body.get("callback_id")), message_text=typed_text(message.get("text")),
                           message_ts=_text(message.get("ts")))


def home_opened(event: dict, team_id: str | None) -> HomeOpened:
    team, user = _slack_id(team_id), _slack_id(event.get("user"))
    if team is None or user is None:
        raise Malformed("no team or user in the event")
    return HomeOpened(team, user, tab=typed_text(event.get("tab")))
