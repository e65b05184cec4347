"""What every listener shares: the ack/after-ack split, the typed request, and the one reply path for refusals."""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.languages import ENGLISH
from bot.domain.values import N_, Invalid, OppError, parse_id
from bot.i18n import Translator, translator
from bot.slack import requests
from bot.slack.blocks import mrkdwn, plain
from bot.slack.gateway import SLACK_FAILURES, SLACK_UNREACHABLE, slack_error
from bot.slack.requests import ActionRequest, Malformed
from storage.db import counting_commits, is_unreachable

log = logging.getLogger(__name__)

Listener = Callable[..., None]


def ack_now(ack: Ack) -> None:
    ack()


# ----- in which language a listener answers when it holds no request context of its own -------------

class Readers:
    """The language of the person who acted, for answers given outside a listener's own context (a refusal, a
    failure): their cached Slack locale's (`resolve`, a read), else the configuration file's `[workspace] language`
    (`fallback`: also when the database can't be reached). Configured once by handlers.commands.register."""

    def __init__(self) -> None:
        self.resolve: Callable[[str, str], str] | None = None
        self.fallback = ENGLISH

    def configure(self, resolve: Callable[[str, str], str] | None, fallback: str) -> None:
        self.resolve, self.fallback = resolve, fallback

    def configured(self) -> Translator:
        return translator(self.fallback)

    def of(self, team_id: str | None, user_id: str | None) -> Translator:
        if self.resolve is None or not team_id or not user_id:
            return self.configured()
        try:
            return translator(self.resolve(team_id, user_id))
        except Exception as exc:  # the database is down: the configured language
            log.info("the reader's language can't be read (%s); answering in %s", exc.__class__.__name__, self.fallback)
            return self.configured()


READERS = Readers()


def _who(body: dict) -> tuple[str | None, str | None]:
    try:
        return requests.who(body)
    except Malformed:
        return None, None


def failure_translator(body: dict, exc: BaseException) -> Translator:
    """An outage answers in the configured language (the reader's can't be read); any other failure in the reader's."""
    if is_unreachable(exc) or isinstance(exc, SLACK_UNREACHABLE):
        return READERS.configured()
    return READERS.of(*_who(body))


# ----- failures after the ack: the person who acted is told, and told whether anything was saved ------

def failure_message(exc: BaseException, *, saved: bool, reference: str, t: Translator) -> str:
    if is_unreachable(exc):
        if saved:
            return t(":warning: Your change was saved, but then oppbot lost its database connection before it could finish. "
                     "Check the deal with `/opp show` in a minute.")
        return t(":warning: oppbot can't reach its database right now, so nothing was changed. Try again in a minute.")
    if isinstance(exc, SLACK_UNREACHABLE):
        if saved:
            return t(":warning: Your change was saved, but Slack didn't answer oppbot in time, so part of this answer may be missing.")
        return t(":warning: Slack didn't answer oppbot in time, so nothing was changed. Try again in a minute.")
    if saved:
        return t(":warning: Your change was saved, but something went wrong on oppbot's side afterwards (reference {reference}). "
                 "Check the deal with `/opp show`.", reference=reference)
    return t(":warning: Something went wrong on oppbot's side, and nothing was changed. Try again; if it happens again, "
             "tell your Slack admin (reference {reference}).", reference=reference)


def log_failure(where: str, exc: BaseException, reference: str) -> None:
    """One line for an outage (the database or Slack not answering); a traceback only for what is a bug."""
    if is_unreachable(exc):
        log.warning("%s [%s]: the database can't be reached: %s", where, reference, str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__)
    elif isinstance(exc, SLACK_UNREACHABLE):
        log.warning("%s [%s]: Slack didn't answer: %s: %s", where, reference, exc.__class__.__name__, exc)
    else:
        log.error("%s [%s] failed", where, reference, exc_info=exc)


def new_reference() -> str:
    """A short id that the person who saw the error and the log line share."""
    return uuid.uuid4().hex[:8]


def tell_failure(body: dict, respond: Respond | None, client: WebClient, text: str, *, t: Translator) -> None:
    """Reach the person who acted however the request allows: its response_url, a small modal on its
    trigger, or (an App Home that failed to draw) the Home tab itself."""
    try:
        if respond is not None and body.get("response_url"):
            respond(**ephemeral(text))
        elif body.get("trigger_id"):
            open_view(client, body["trigger_id"], notice_modal("oppbot", text, t=t))
        elif (event := body.get("event")) and isinstance(event, dict) and event.get("type") == "app_home_opened" and event.get("user"):
            client.views_publish(user_id=event["user"], view={"type": "home", "blocks": [{"type": "section", "text": mrkdwn(text)}]})
    except SLACK_FAILURES as exc:
        log.warning("could not tell the person who acted what went wrong: %s", exc.__class__.__name__)


# What Bolt may inject into work run after an ack (it passes a listener what its parameters name).
INJECTED = ("body", "context", "respond", "client", "event")


def after_ack(route: Callable[..., Any], ack: Listener = ack_now) -> Callable[[Listener], Listener]:
    """Register `work` to run after Slack has its answer.

    The ack (by default a bare one) runs in the request's own thread, so the HTTP answer never
    queues behind other requests' database and Web API work; `work` then runs as a Bolt lazy
    listener on the listener pool, with the arguments it names (of INJECTED). What the ack decided
    (a parsed command, a created deal) reaches `work` through `context`, which Bolt copies.
    Whatever goes wrong in `work` is told to the person who acted, with whether anything was saved.
    """

    def register(work: Listener) -> Listener:
        wanted = tuple(inspect.signature(work).parameters)
        if unknown := set(wanted) - set(INJECTED):
            raise TypeError(f"{work.__name__} asks for {', '.join(sorted(unknown))}; work after an ack gets only {', '.join(INJECTED)}")

        def guarded(body: dict, context: BoltContext, respond: Respond, client: WebClient, event: dict | None = None) -> None:
            given = {"body": body, "context": context, "respond": respond, "client": client, "event": event}
            with counting_commits() as commits:
                try:
                    work(**{name: given[name] for name in wanted})
                except Malformed as exc:
                    log.warning("%s: a malformed payload (%s)", work.__name__, exc)
                except Exception as exc:
                    reference = new_reference()
                    log_failure(f"{work.__name__} after its ack", exc, reference)
                    t = failure_translator(body, exc)
                    tell_failure(body, respond, client, failure_message(exc, saved=commits.count > 0, reference=reference, t=t), t=t)

        # Bolt tells lazy listeners apart by name.
        guarded.__name__ = guarded.__qualname__ = work.__name__
        route(ack=ack, lazy=[guarded])
        return work

    return register


SubmissionListener = Callable[[Ack, requests.SubmissionRequest, BoltContext], None]


def on_submission(route: Callable[..., Any], *, then: Listener | None = None) -> Callable[[SubmissionListener], SubmissionListener]:
    """Register `work(ack, request, context)` for a modal that saves before its ack (so the form can show
    what is wrong): the submission parsed once, and whatever goes wrong answered in the form itself, as
    an error under its first field, never by closing it. `then` runs after the ack, as for after_ack."""

    def register(work: SubmissionListener) -> SubmissionListener:
        def submitted(ack: Ack, body: dict, context: BoltContext) -> None:
            with counting_commits() as commits:
                try:
                    request = requests.submission(body)
                except Malformed as exc:
                    log.warning("%s: a malformed submission (%s)", work.__name__, exc)
                    ack()
                    return
                try:
                    work(ack, request, context)
                except Exception as exc:
                    reference = new_reference()
                    log_failure(f"{work.__name__} before its ack", exc, reference)
                    text = failure_message(exc, saved=commits.count > 0, reference=reference,
                                           t=failure_translator(body, exc)).removeprefix(":warning: ")
                    ack(response_action="errors", errors={(request.input_blocks or ("_",))[0]: text})

        submitted.__name__ = submitted.__qualname__ = work.__name__
        if then is None:
            route(submitted)
        else:
            after_ack(route, ack=submitted)(then)
        return work

    return register


def notice_modal(title: str, text: str, *, t: Translator) -> dict:
    return {"type": "modal", "title": plain(title[:24]), "close": plain(t("Close")), "blocks": [{"type": "section", "text": mrkdwn(text)}]}


def redraw(client: WebClient, shown: requests.ShownView, view: dict) -> None:
    """Replace the open modal (a select in it changed what it shows). A newer version of it (its hash changed: another
    redraw came first) is left as it is; when Slack refuses or doesn't answer the modal stays as it was, and its
    submission is checked against what it shows all the same."""
    try:
        client.views_update(view_id=shown.view_id, hash=shown.hash or None, view=view)
    except SlackApiError as exc:
        log.info("views.update of %s refused: %s", shown.view_id, slack_error(exc))
    except SLACK_UNREACHABLE as exc:
        log.warning("views.update: Slack didn't answer (%s)", exc.__class__.__name__)


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
    except SLACK_UNREACHABLE as exc:
        log.warning("views.open: Slack didn't answer (%s)", exc.__class__.__name__)
        return False


def ephemeral(text: str, blocks: list[dict] | None = None) -> dict:
    reply: dict = {"response_type": "ephemeral", "replace_original": False, "text": text}
    if blocks is not None:
        reply["blocks"] = blocks
    return reply


class Replier:
    """Answers the person who acted, and only them: through the response_url when the request has
    one, else (a click on the App Home) in a small modal. Its words (a refusal, the modal's Close) are in
    `t`: the listener sets it from its context (`reply.t = translator(ctx.language)`), else it is looked up."""

    def __init__(self, respond: Callable[..., Any] | None, client: WebClient, trigger_id: str | None, response_url: str | None,
                 reader: tuple[str | None, str | None] = (None, None)) -> None:
        self.respond = respond
        self.client = client
        self.trigger_id = trigger_id
        self.response_url = response_url
        self.reader = reader
        self._t: Translator | None = None

    @property
    def t(self) -> Translator:
        if self._t is None:
            self._t = READERS.of(*self.reader)
        return self._t

    @t.setter
    def t(self, value: Translator) -> None:
        self._t = value

    def say(self, text: str, blocks: list[dict] | None = None) -> None:
        if self.response_url and self.respond is not None:
            self.respond(**ephemeral(text, blocks))
        else:
            open_view(self.client, self.trigger_id, notice_modal("oppbot", text, t=self.t))

    def refuse(self, error: OppError) -> None:
        self.say(self.t(":warning: {problem}", problem=error.text(self.t)))

    def replace(self, text: str, blocks: list[dict]) -> None:
        """Redraw the message the click came from (an ephemeral card, a reminder DM, an alert)."""
        if self.response_url and self.respond is not None:
            self.respond(replace_original=True, text=text, blocks=blocks)


def replier(request: Any, respond: Callable[..., Any] | None, client: WebClient) -> Replier:
    return Replier(respond, client, request.trigger_id, request.response_url, reader=(request.team_id, request.user_id))


NAMES_NOTHING = {
    ("button", "an opportunity"): N_("That button doesn't name an opportunity."),
    ("button", "a follow-up"): N_("That button doesn't name a follow-up."),
    ("choice", "a follow-up"): N_("That choice doesn't name a follow-up."),
    ("button", "a stage change"): N_("That button doesn't name a stage change."),
}


def named_id(value: str, what: str, *, control: str = "button") -> int:
    """The database id a button's (or a choice's) value carries, or a refusal saying what it should have named."""
    found = parse_id(value)
    if found is None:
        message = NAMES_NOTHING.get((control, what))
        raise Invalid(message) if message else Invalid(N_("That {control} doesn't name {what}."), control=control, what=what)
    return found


ActionListener = Callable[[ActionRequest, Replier, WebClient], None]
# The listeners of on_action by (app, action_id), for a menu whose options stand for other controls (the card's More menu).
_ACTION_LISTENERS: dict[tuple[int, str], ActionListener] = {}


def _route_of(route: Callable[..., Any]) -> tuple[int, str] | None:
    """(the app, the action_id) a Bolt `app.action("…")` route was made for, when its constraint is a plain string."""
    try:
        found = inspect.getclosurevars(route).nonlocals
    except (TypeError, ValueError):
        return None
    constraints = found.get("constraints")
    return (id(found.get("self")), constraints) if isinstance(constraints, str) else None


def action_listener(app: object, action_id: str) -> ActionListener | None:
    """The on_action listener of `app` for a control, to answer a menu option that stands for it."""
    return _ACTION_LISTENERS.get((id(app), action_id))


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
        if (key := _route_of(route)) is not None:
            _ACTION_LISTENERS[key] = work
        return work

    return register
