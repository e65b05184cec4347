"""Slack payloads parsed once into typed requests: who (team, user), where (channel, message), and what.

Listeners work with these, never with the raw body; a payload without a team or a user is not a
request oppbot can answer (`Malformed`).
"""

from __future__ import annotations

import json
import re
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
    values: dict[str, Any] = field(default_factory=dict)
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


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_CONVERSATION = re.compile(r"[CDG][A-Z0-9]{2,}")


def conversation_id(value: Any) -> str | None:
    """A channel, group or DM id (C…, G…, D…) as carried in a form's metadata; anything else is None."""
    return value if isinstance(value, str) and _CONVERSATION.fullmatch(value) else None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _who(body: dict) -> tuple[str, str]:
    """Slash commands name the team and user flat (team_id, user_id); interactions nest them (team.id, user.id)."""
    team = body.get("team_id") or _dict(body.get("team")).get("id")
    user = body.get("user_id") or _dict(body.get("user")).get("id")
    if not isinstance(team, str) or not team or not isinstance(user, str) or not user:
        raise Malformed("no team or user in the payload")
    return team, user


def command(body: dict) -> CommandRequest:
    team, user = _who(body)
    return CommandRequest(team, user, _text(body.get("trigger_id")), _text(body.get("response_url")), _text(body.get("channel_id")),
                          text=str(body.get("text") or ""))


def action(body: dict) -> ActionRequest:
    team, user = _who(body)
    actions = body.get("actions") or [{}]
    first = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    selected = _dict(first.get("selected_option"))
    container = _dict(body.get("container"))
    in_home = container.get("type") == "view" and _dict(body.get("view")).get("type") == "home"
    return ActionRequest(
        team, user, _text(body.get("trigger_id")), _text(body.get("response_url")),
        _text(container.get("channel_id")) or _text(_dict(body.get("channel")).get("id")),
        action_id=str(first.get("action_id") or ""), value=str(first.get("value") or selected.get("value") or ""),
        block_id=str(first.get("block_id") or ""), message_ts=_text(container.get("message_ts")),
        is_ephemeral=bool(container.get("is_ephemeral")), in_home=bool(in_home),
    )


def form_values(view: dict) -> dict[str, Any]:
    """Flatten view.state.values to {block_id: value} for the element types our modals use."""
    values: dict[str, Any] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        if not isinstance(actions, dict):
            continue
        for element in actions.values():
            if not isinstance(element, dict):
                continue
            kind = element.get("type")
            if kind == "plain_text_input":
                values[block_id] = element.get("value")
            elif kind in ("static_select", "radio_buttons"):
                values[block_id] = (element.get("selected_option") or {}).get("value")
            elif kind == "users_select":
                values[block_id] = element.get("selected_user")
            elif kind == "datepicker":
                values[block_id] = element.get("selected_date")
            elif kind == "timepicker":
                values[block_id] = element.get("selected_time")
            elif kind == "conversations_select":
                values[block_id] = element.get("selected_conversation")
    return values


def metadata(view: dict) -> dict:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def submission(body: dict) -> SubmissionRequest:
    team, user = _who(body)
    view = _dict(body.get("view"))
    inputs = tuple(b["block_id"] for b in view.get("blocks") or [] if isinstance(b, dict) and b.get("type") == "input" and b.get("block_id"))
    return SubmissionRequest(team, user, _text(body.get("trigger_id")), None, None, callback_id=str(view.get("callback_id") or ""),
                             values=form_values(view), metadata=metadata(view), input_blocks=inputs)


def shortcut(body: dict) -> ShortcutRequest:
    team, user = _who(body)
    message = _dict(body.get("message"))
    channel = _dict(body.get("channel"))
    return ShortcutRequest(team, user, _text(body.get("trigger_id")), _text(body.get("response_url")), _text(channel.get("id")),
                           callback_id=str(body.get("callback_id") or ""), message_text=str(message.get("text") or ""),
                           message_ts=_text(message.get("ts")))


def home_opened(event: dict, team_id: str | None) -> HomeOpened:
    user = event.get("user")
    if not team_id or not isinstance(user, str) or not user:
        raise Malformed("no team or user in the event")
    return HomeOpened(team_id, user, tab=str(event.get("tab") or ""))
