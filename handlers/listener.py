"""What every listener shares: the ack/after-ack split, the typed request, and the one reply path for refusals."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.values import Invalid, OppError, parse_id
from bot.slack import requests
from bot.slack.blocks import mrkdwn, plain
from bot.slack.gateway import slack_error
from bot.slack.requests import ActionRequest, Malformed

log = logging.getLogger(__name__)

Listener = Callable[..., None]


def ack_now(ack: Ack) -> None:
    ack()


def after_ack(route: Callable[..., Any], ack: Listener = ack_now) -> Callable[[Listener], Listener]:
    """Register `work` to run after Slack has its answer.

    The ack (by default a bare one) runs in the request's own thread, so the HTTP answer never
    queues behind other requests' database and Web API work; `work` then runs as a Bolt lazy
    listener on the listener pool, with the same injected arguments. What the ack decided (a
    parsed command, a created deal) reaches `work` through `context`, which Bolt copies.
    """

    def register(work: Listener) -> Listener:
        @functools.wraps(work)
        def logged(*args: Any, **kwargs: Any) -> None:
            try:
                work(*args, **kwargs)
            except Malformed as exc:
                log.warning("%s: a malformed payload (%s)", work.__name__, exc)
            except Exception:
                # Bolt would log only the message of a lazy listener's error, not where it came from.
                log.exception("%s failed after its ack", work.__name__)

        route(ack=ack, lazy=[logged])
        return work

    return register


def notice_modal(title: str, text: str) -> dict:
    return {"type": "modal", "title": plain(title[:24]), "close": plain("Close"), "blocks": [{"type": "section", "text": mrkdwn(text)}]}


def open_view(client: WebClient, trigger_id: str | None, view: dict) -> bool:
    if not trigger_id:
        return False
    try:
        client.views_open(trigger_id=trigger_id, view=view)
        return True
    except SlackApiError as exc:
        # An expired trigger (over 3 s) can't be retried: the user has to click again.
        log.warning("views.open failed: %s", slack_error(exc))
        return False


def ephemeral(text: str, blocks: list[dict] | None = None) -> dict:
    reply: dict = {"response_type": "ephemeral", "replace_original": False, "text": text}
    if blocks is not None:
        reply["blocks"] = blocks
    return reply


class Replier:
    """Answers the person who acted, and only them: through the response_url when the request has
    one, else (a click on the App Home) in a small modal."""

    def __init__(self, respond: Callable[..., Any] | None, client: WebClient, trigger_id: str | None, response_url: str | None) -> None:
        self.respond = respond
        self.client = client
        self.trigger_id = trigger_id
        self.response_url = response_url

    def say(self, text: str, blocks: list[dict] | None = None) -> None:
        if self.response_url and self.respond is not None:
            self.respond(**ephemeral(text, blocks))
        else:
            open_view(self.client, self.trigger_id, notice_modal("oppbot", text))

    def refuse(self, error: OppError) -> None:
        self.say(f":warning: {error}")

    def replace(self, text: str, blocks: list[dict]) -> None:
        """Redraw the message the click came from (an ephemeral card, a reminder DM, an alert)."""
        if self.response_url and self.respond is not None:
            self.respond(replace_original=True, text=text, blocks=blocks)


def replier(request: Any, respond: Callable[..., Any] | None, client: WebClient) -> Replier:
    return Replier(respond, client, request.trigger_id, request.response_url)


def named_id(value: str, what: str, *, control: str = "button") -> int:
    """The database id a button's (or a choice's) value carries, or a refusal saying what it should have named."""
    found = parse_id(value)
    if found is None:
        raise Invalid(f"That {control} doesn't name {what}.")
    return found


ActionListener = Callable[[ActionRequest, Replier, WebClient], None]


def on_action(route: Callable[..., Any]) -> Callable[[ActionListener], ActionListener]:
    """Register `work(request, reply, client)` for a button or select, run after the ack: the click
    parsed once, answered through one Replier, and a refusal (OppError: nothing was changed) told to
    the clicker, whatever the work was."""

    def register(work: ActionListener) -> ActionListener:
        # Bolt passes a listener what its parameters name: this signature, not work's.
        def clicked(body: dict, respond: Respond, client: WebClient) -> None:
            request = requests.action(body)
            reply = replier(request, respond, client)
            try:
                work(request, reply, client)
            except OppError as exc:
                reply.refuse(exc)

        clicked.__name__ = clicked.__qualname__ = work.__name__
        after_ack(route)(clicked)
        return work

    return register
