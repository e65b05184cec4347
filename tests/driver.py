"""Talks to the running app the way Slack does: signed, form-encoded or JSON requests over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.app import AFTER_ACK_THREADS, OppBot, create_app
from bot.deals.cards import CARD_KINDS
from bot.domain.clock import FakeClock
from bot.outbox.messages import MESSAGE
from bot.reports.service import EXPORT, FUNNEL_CHART
from bot.server import uvicorn_server
from bot.settings import Settings
from bot.workspace.config import WorkspaceConfig
from handlers.fairness import FairExecutor
from tests.fakeslack import FakeSlack

SIGNING_SECRET = "test-signing-secret"
TEAM = "T0TEST"
_ids = itertools.count(1)


class TrackingExecutor(FairExecutor):
    """Bolt runs listeners here after ack(), shared fairly as in production; tests wait for them instead of sleeping."""

    def __init__(self) -> None:
        super().__init__(AFTER_ACK_THREADS, thread_name_prefix="after-ack")
        self._futures: list[Future] = []
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self._futures.append(future)
        return future

    def drain(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._futures if not f.done()]
                self._futures = pending
            if not pending:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{len(pending)} listener(s) still running after {timeout}s")
            pending[0].result(timeout=remaining)


@dataclass
class Reply:
    status: int
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


# What the bot sends on its own right after a request (cards, their refreshes and notes, notices, the
# files someone asked for) is delivered by the driver after each request, as the delivery lanes would
# within the second; alerts, reminders and digests stay for the tests to deliver (dispatcher.run_once).
AFTER_EACH_REQUEST = (*CARD_KINDS, MESSAGE, FUNNEL_CHART, EXPORT)


class SlackDriver:
    def __init__(self, base_url: str, oppbot: OppBot, fake: FakeSlack, executor: TrackingExecutor, clock: FakeClock) -> None:
        self.base_url = base_url
        self.oppbot = oppbot
        self.fake = fake
        self.executor = executor
        self.clock = clock
        self.deliver_after_each: tuple[str, ...] = AFTER_EACH_REQUEST

    def deliver(self, kinds: tuple[str, ...] | None = None) -> None:
        """Send what is due of these kinds (default: every kind), as the delivery lane would."""
        self.oppbot.dispatcher.run_once(kinds=kinds, plan=False)

    # ----- transport --------------------------------------------------------------------------

    def post(self, body: str, content_type: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET,
             headers: dict[str, str] | None = None, wait: bool = True) -> Reply:
        timestamp = int(time.time()) if timestamp is None else timestamp
        signature = "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
        request = urllib.request.Request(self.base_url + "/slack/events", data=body.encode(), method="POST", headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature, **(headers or {}),
        })
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                reply = Reply(response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            reply = Reply(exc.code, exc.read().decode())
        if wait:
            self.executor.drain()
            if self.deliver_after_each:
                self.deliver(self.deliver_after_each)
        return reply

    def get(self, path: str) -> Reply:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=15) as response:
                return Reply(response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read().decode())

    def interact(self, payload: dict, **kwargs: Any) -> Reply:
        return self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kwargs)

    # ----- what users do ----------------------------------------------------------------------

    def command(self, text: str, *, user: str = "U0REP1", channel: str = "C0SALES", **kwargs: Any) -> Reply:
        n = next(_ids)
        form = {
            "token": "legacy", "team_id": TEAM, "team_domain": "test", "channel_id": channel, "channel_name": "sales",
            "user_id": user, "user_name": user.lower(), "command": "/opp", "text": text, "api_app_id": "A0OPPBOT",
            "response_url": self.fake.response_url(f"cmd{n}"), "trigger_id": f"trigger-cmd-{n}",
        }
        return self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded", **kwargs)

    def click(self, action_id: str, *, value: str | None = None, selected: str | None = None, user: str = "U0REP1",
              channel: str | None = "C0SALES", message_ts: str | None = "1.0", ephemeral: bool = False, home: bool = False, **kwargs: Any) -> Reply:
        n = next(_ids)
        action: dict[str, Any] = {"action_id": action_id, "block_id": "b", "action_ts": "1"}
        if selected is not None:
            action.update(type="static_select", selected_option={"text": {"type": "plain_text", "text": "x"}, "value": selected})
        else:
            action.update(type="button", value=value)
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user}, "api_app_id": "A0OPPBOT",
            "trigger_id": f"trigger-act-{n}", "actions": [action],
        }
        if home:
            payload["container"] = {"type": "view", "view_id": "V0HOME"}
            payload["view"] = {"id": "V0HOME", "type": "home"}
        else:
            payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": ephemeral}
            payload["channel"] = {"id": channel}
            payload["response_url"] = self.fake.response_url(f"act{n}")
            if not ephemeral:
                payload["message"] = {"ts": message_ts, "text": "card"}
        return self.interact(payload, **kwargs)

    def open_modal(self) -> dict:
        """The modal the app opened or updated last, as the fake Slack stores it (with its id and hash)."""
        view = self.fake.latest_modal()
        assert view is not None, "the app opened no modal"
        return view

    def choose_in_modal(self, block_id: str, selected: str, values: dict[str, Any] | None = None, *, user: str = "U0REP1",
                        **kwargs: Any) -> Reply:
        """Pick `selected` in the select of input block `block_id` of the open modal (a dispatch_action select), with
        the other inputs filled as `values` ({block_id: value}): the block_actions payload Slack sends from a modal."""
        view = self.open_modal()
        block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
        action_id = block["element"]["action_id"]
        state = self._state(view, {**(values or {}), block_id: selected})
        payload = {
            "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user}, "api_app_id": "A0OPPBOT",
            "trigger_id": f"trigger-act-{next(_ids)}", "container": {"type": "view", "view_id": view["id"]},
            "view": {"id": view["id"], "hash": view["hash"], "type": "modal", "callback_id": view.get("callback_id"),
                     "private_metadata": view.get("private_metadata", ""), "state": {"values": state}},
            "actions": [{"action_id": action_id, "block_id": block_id, "type": block["element"]["type"], "action_ts": "1",
                         "selected_option": {"text": {"type": "plain_text", "text": selected}, "value": selected}}],
        }
        return self.interact(payload, **kwargs)

    def submit(self, view: dict, values: dict[str, Any], *, user: str = "U0REP1", **kwargs: Any) -> Reply:
        """Submit a modal the app opened, with {block_id: value} filled in as Slack's client would."""
        state = self._state(view, values)
        payload = {
            "type": "view_submission", "team": {"id": TEAM}, "user": {"id": user}, "api_app_id": "A0OPPBOT",
            "trigger_id": f"trigger-view-{next(_ids)}",
            "view": {"id": view.get("id", "V0MODAL"), "type": "modal", "callback_id": view.get("callback_id"),
                     "private_metadata": view.get("private_metadata", ""), "state": {"values": state}},
        }
        return self.interact(payload, **kwargs)

    @staticmethod
    def _state(view: dict, values: dict[str, Any]) -> dict[str, dict]:
        state: dict[str, dict] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input" or block["block_id"] not in values:
                continue
            element = block["element"]
            value = values[block["block_id"]]
            kind = element["type"]
            if kind == "plain_text_input":
                entry = {"type": kind, "value": value}
            elif kind in ("static_select", "radio_buttons"):
                entry = {"type": kind, "selected_option": None if value is None else {"text": {"type": "plain_text", "text": str(value)}, "value": value}}
            elif kind == "users_select":
                entry = {"type": kind, "selected_user": value}
            elif kind == "datepicker":
                entry = {"type": kind, "selected_date": value}
            elif kind == "timepicker":
                entry = {"type": kind, "selected_time": value}
            else:
                raise ValueError(f"unsupported element {kind}")
            state[block["block_id"]] = {element["action_id"]: entry}
        return state

    def shortcut(self, callback_id: str, *, user: str = "U0REP1", message: dict | None = None, channel: str | None = None) -> Reply:
        n = next(_ids)
        payload: dict[str, Any] = {"type": "message_action" if message else "shortcut", "callback_id": callback_id,
                                   "team": {"id": TEAM}, "user": {"id": user}, "trigger_id": f"trigger-sc-{n}", "api_app_id": "A0OPPBOT"}
        if message:
            payload.update(message=message, channel={"id": channel}, response_url=self.fake.response_url(f"sc{n}"))
        return self.interact(payload)

    def event(self, event: dict, *, event_id: str | None = None, retry_num: int | None = None, **kwargs: Any) -> Reply:
        envelope = {"token": "legacy", "team_id": TEAM, "api_app_id": "A0OPPBOT", "type": "event_callback",
                    "event_id": event_id or f"Ev{next(_ids)}", "event_time": int(time.time()), "event": event}
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else None
        return self.post(json.dumps(envelope), "application/json", headers=headers, **kwargs)

    # ----- conveniences -----------------------------------------------------------------------

    def last_view(self, method: str = "views.open") -> dict:
        return self.fake.calls(method)[-1].params["view"]

    def responses(self) -> list[dict]:
        return [c.params for c in self.fake.calls("response_url")]

    def last_response(self) -> dict:
        responses = self.responses()
        assert responses, "the app sent nothing to a response_url"
        return responses[-1]

    def create(self, name: str = "Acme rollout", *, user: str = "U0REP1", channel: str = "C0SALES", **values: Any) -> Reply:
        """/opp new then submit the modal; returns the submission's reply."""
        self.command(f"new {name}" if name else "new", user=user, channel=channel)
        view = self.last_view()
        fields = {"name": name, "customer": "Acme Corp", **values}
        return self.submit(view, fields, user=user)


@contextmanager
def running_app(*, engine, fake: FakeSlack, clock: FakeClock, config: WorkspaceConfig, sign_in: bool = True) -> Iterator[SlackDriver]:
    """The app served over HTTP on a free port; signed in as `oppbot run` does (which needs the database) unless `sign_in` is False."""
    settings = Settings(slack_bot_token=fake.bot_token, slack_signing_secret=SIGNING_SECRET, slack_api_url=fake.api_url,
                        database_url=engine.url.render_as_string(hide_password=False), port=0)
    executor = TrackingExecutor()
    oppbot = create_app(settings, clock=clock, engine=engine, config=config, listener_executor=executor)
    fake.stamp_messages_with(lambda: clock.now().timestamp())  # Slack's time is the test's time
    if sign_in:
        oppbot.sign_in(oppbot.client.auth_test())
    server = uvicorn_server(oppbot, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield SlackDriver(f"http://127.0.0.1:{port}", oppbot, fake, executor, clock)
    finally:
        executor.drain()
        server.should_exit = True
        thread.join(timeout=10)
        executor.shutdown(wait=True)
