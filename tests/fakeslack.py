"""A small in-process fake of the Slack Web API for tests.

Point a ``slack_sdk.WebClient`` at it with ``WebClient(token=fake.bot_token,
base_url=fake.api_url)``. Every request is recorded as a :class:`Call`, so tests
can assert on what the bot sent, inject failures (errors, 429s, 5xx) and check
Block Kit payloads against Slack's documented limits (also usable without a
server via :func:`check_blocks` / :func:`check_view`). Opt in to Slack's per-channel
posting limit with :meth:`FakeSlack.limit_posts_per_channel` (driven by an injectable
clock, so tests move time instead of sleeping).
"""
from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

__all__ = ["Call", "FakeSlack", "check_blocks", "check_view"]

JSON_PARAMS = ("blocks", "view", "attachments", "metadata")
KNOWN_BLOCKS = {"section", "divider", "header", "context", "actions", "input",
                "image", "rich_text", "video", "file", "markdown"}
MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
OPTION_ELEMENTS = {"static_select", "multi_static_select", "overflow", "radio_buttons", "checkboxes"}
# Methods that post a message into a channel and so share its posting limit. chat.postEphemeral,
# chat.update, views.* and users.info are not subject to it (they have only their method tiers).
CHANNEL_POSTING = ("chat.postMessage", "files.completeUploadExternal")


# --------------------------------------------------------------------------- Block Kit checks
class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, path: str, msg: str) -> None:
        self.errors.append(f"[ERROR] {msg} [json-pointer:{path}]")

    def maxlen(self, path: str, value: Any, n: int) -> None:
        if isinstance(value, dict):
            value, path = value.get("text"), path + "/text"
        if isinstance(value, str) and len(value) > n:
            self.err(path, f"must be less than {n + 1} characters (got {len(value)})")

    def maxitems(self, path: str, seq: Any, n: int) -> None:
        if isinstance(seq, list) and len(seq) > n:
            self.err(path, f"must be less than {n + 1} items (got {len(seq)})")

    def option(self, path: str, opt: Any) -> None:
        if not isinstance(opt, dict):
            return self.err(path, "option must be an object")
        self.maxlen(f"{path}/text", opt.get("text"), 75)
        self.maxlen(f"{path}/value", opt.get("value"), 150)
        self.maxlen(f"{path}/description", opt.get("description"), 75)

    def options(self, path: str, opts: Any, n: int | None) -> None:
        if n is not None:
            self.maxitems(path, opts, n)
        for i, opt in enumerate(opts if isinstance(opts, list) else []):
            self.option(f"{path}/{i}", opt)

    def element(self, p: str, el: Any) -> None:
        if not isinstance(el, dict):
            return self.err(p, "element must be an object")
        t = el.get("type")
        self.maxlen(f"{p}/action_id", el.get("action_id"), 255)
        self.maxlen(f"{p}/placeholder", el.get("placeholder"), 150)
        if t == "button":
            self.maxlen(f"{p}/text", el.get("text"), 75)
            self.maxlen(f"{p}/value", el.get("value"), 2000)
            self.maxlen(f"{p}/url", el.get("url"), 3000)
        elif t in OPTION_ELEMENTS:
            limit = {"overflow": 5, "radio_buttons": 10, "checkboxes": 10}.get(t, 100)
            self.options(f"{p}/options", el.get("options"), limit)
            groups = el.get("option_groups")
            self.maxitems(f"{p}/option_groups", groups, 100)
            for i, g in enumerate(groups if isinstance(groups, list) else []):
                if isinstance(g, dict):
                    self.maxlen(f"{p}/option_groups/{i}/label", g.get("label"), 75)
                    self.options(f"{p}/option_groups/{i}/options", g.get("options"), 100)
            if "initial_option" in el:
                self.option(f"{p}/initial_option", el["initial_option"])
            self.options(f"{p}/initial_options", el.get("initial_options"), None)
        elif t == "plain_text_input":
            for key in ("max_length", "min_length"):
                if isinstance(el.get(key), int) and el[key] > 3000:
                    self.err(f"{p}/{key}", "must be at most 3000")
            self.maxlen(f"{p}/initial_value", el.get("initial_value"), 3000)

    def block(self, p: str, b: Any, surface: str) -> None:
        if not isinstance(b, dict):
            return self.err(p, "block must be an object")
        t = b.get("type")
        if t not in KNOWN_BLOCKS:
            return self.err(f"{p}/type", f"unknown block type {t!r}")
        self.maxlen(f"{p}/block_id", b.get("block_id"), 255)
        if t == "section":
            text, fields = b.get("text"), b.get("fields")
            if not text and not fields:
                self.err(p, "section must have text or fields")
            if isinstance(text, dict) and text.get("text") == "":
                self.err(f"{p}/text/text", "must be more than 0 characters")
            self.maxlen(f"{p}/text", text, 3000)
            self.maxitems(f"{p}/fields", fields, 10)
            for i, f in enumerate(fields if isinstance(fields, list) else []):
                self.maxlen(f"{p}/fields/{i}", f, 2000)
            if "accessory" in b:
                self.element(f"{p}/accessory", b["accessory"])
        elif t == "header":
            self.maxlen(f"{p}/text", b.get("text"), 150)
        elif t == "context":
            self.maxitems(f"{p}/elements", b.get("elements"), 10)
        elif t == "actions":
            els = b.get("elements")
            self.maxitems(f"{p}/elements", els, 25)
            for i, el in enumerate(els if isinstance(els, list) else []):
                self.element(f"{p}/elements/{i}", el)
        elif t == "input":
            if surface == "home":
                self.err(f"{p}/type", "input blocks are not allowed in home views")
            self.maxlen(f"{p}/label", b.get("label"), 2000)
            self.maxlen(f"{p}/hint", b.get("hint"), 2000)
            self.element(f"{p}/element", b.get("element"))
        elif t == "image":
            self.maxlen(f"{p}/image_url", b.get("image_url"), 3000)
            self.maxlen(f"{p}/alt_text", b.get("alt_text"), 2000)
        elif t == "markdown":
            self.maxlen(f"{p}/text", b.get("text"), 12000)


def check_blocks(blocks: Any, surface: str = "message", _prefix: str = "/blocks") -> list[str]:
    """Return Slack-style error messages for ``blocks`` ([] when valid).

    ``surface`` is "message" (max 50 blocks), "modal" or "home" (max 100 blocks)."""
    c = _Checker()
    if not isinstance(blocks, list):
        c.err(_prefix, "blocks must be an array")
        return c.errors
    c.maxitems(_prefix, blocks, MAX_BLOCKS.get(surface, 50))
    for i, b in enumerate(blocks):
        c.block(f"{_prefix}/{i}", b, surface)
    return c.errors


def check_view(view: Any) -> list[str]:
    """Return Slack-style error messages for a modal/home ``view`` ([] when valid)."""
    c = _Checker()
    if not isinstance(view, dict):
        c.err("/view", "view must be an object")
        return c.errors
    vtype = view.get("type")
    if vtype not in ("modal", "home"):
        c.err("/view/type", f"view type must be 'modal' or 'home' (got {vtype!r})")
    if vtype == "modal" and not view.get("title"):
        c.err("/view/title", "modal views require a title")
    for key in ("title", "submit", "close"):
        c.maxlen(f"/view/{key}", view.get(key), 24)
    c.maxlen("/view/private_metadata", view.get("private_metadata"), 3000)
    c.maxlen("/view/callback_id", view.get("callback_id"), 255)
    c.maxlen("/view/external_id", view.get("external_id"), 255)
    blocks = view.get("blocks", [])
    if (vtype == "modal" and not view.get("submit") and isinstance(blocks, list)
            and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)):
        c.err("/view/submit", "modals with input blocks require a submit button")
    return c.errors + check_blocks(blocks, "home" if vtype == "home" else "modal", "/view/blocks")


# --------------------------------------------------------------------------- server
@dataclass
class Call:
    method: str
    params: dict
    headers: dict
    at: float
    response: dict
    status: int = 200  # HTTP status the fake answered with


@dataclass
class _Reply:
    body: dict | str
    status: int = 200
    headers: dict = field(default_factory=dict)


def _err(error: str, *messages: str) -> dict:
    resp: dict = {"ok": False, "error": error}
    if messages:
        resp["response_metadata"] = {"messages": list(messages)}
    return resp


class _PostLimit:
    """Slack's per-channel posting limit: about ``rate`` messages a second per channel, with
    short bursts of up to ``burst`` allowed, as a GCRA (virtual scheduling) per channel id.

    Each channel keeps a theoretical arrival time (TAT): a post at ``t`` fits when
    ``TAT - t <= (burst - 1) * interval`` and moves the TAT to ``max(TAT, t) + interval``. So an
    idle channel takes ``burst`` posts at once, then one more every ``interval = 1 / rate`` s."""

    # Slack for clock resolution, so moving the clock by one interval frees exactly one slot: a
    # datetime clock (FakeClock) moves in whole microseconds and .timestamp() is a float (~0.2 us
    # apart at today's epoch), so timedelta(seconds=1/3) can fall a hair short of 1/3 s.
    EPS = 1e-5

    def __init__(self, rate: float, burst: int, now: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.interval, self.tolerance, self._now = 1.0 / rate, (burst - 1) / rate, now
        self._origin: float | None = None
        self._tat: dict[str, float] = {}

    def now(self) -> float:
        # Seconds since the first reading: epoch timestamps (~1.8e9) would cost float precision.
        t = float(self._now())
        if self._origin is None:
            self._origin = t
        return t - self._origin

    def wait(self, channels: list[str], t: float) -> float:
        """Seconds until every channel in ``channels`` has a free slot; <= 0 when they have one now."""
        return max((self._tat.get(ch, t) - self.tolerance - t for ch in channels), default=0.0)

    def take(self, channels: list[str], t: float) -> None:
        for ch in channels:
            self._tat[ch] = max(self._tat.get(ch, t), t) + self.interval


def _tz_offset(tz: str) -> int:
    try:
        return int(datetime.now(ZoneInfo(tz)).utcoffset().total_seconds())
    except Exception:
        return 0


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeSlack/1.0"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        # the handler's server is typed as socketserver's BaseServer; it is our _Server
        fake: FakeSlack = self.server.fake  # type: ignore[attr-defined]
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        method = path[5:] if path.startswith("/api/") else "response_url" if path.startswith("/response/") else path
        if fake._hang(method) == "drop":
            self.close_connection = True
            return
        if path.startswith("/api/"):
            reply = fake._handle_api(path[5:], query, body, self.headers)
        elif path.startswith("/response/"):
            reply = fake._handle_response_url(path[10:], body, self.headers)
        elif path.startswith("/upload/"):
            reply = fake._handle_upload(path[8:], body, self.headers)
        else:
            reply = _Reply("not found", 404)
        if reply.status == 0:  # lose_reply_next(status=0): the work is done, the answer never arrives
            self.close_connection = True
            return
        is_json = isinstance(reply.body, dict)
        data = (json.dumps(reply.body) if is_json else str(reply.body)).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8" if is_json else "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    # Slack accepts many connections at once; the standard library's backlog of 5 would reset them.
    request_queue_size = 256
    fake: FakeSlack  # set by FakeSlack.start, read by the handler


class FakeSlack:
    def __init__(self, bot_token: str = "xoxb-test", team_id: str = "T0TEST",
                 bot_user_id: str = "U0BOT", bot_id: str = "B0BOT") -> None:
        self.bot_token, self.team_id, self.bot_user_id, self.bot_id = bot_token, team_id, bot_user_id, bot_id
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._seq = 0  # never reset: ids stay unique across reset()
        self._last_stamp = 0  # microseconds of the last ts stamped from a clock; never reset either
        self._methods: dict[str, Callable[[dict], dict]] = {
            "auth.test": self._auth_test, "chat.postMessage": self._post_message,
            "chat.update": self._chat_update, "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._post_ephemeral, "chat.getPermalink": self._permalink,
            "conversations.open": self._conv_open, "conversations.join": self._conv_join,
            "conversations.info": self._conv_info, "conversations.list": self._conv_list,
            "views.open": self._views_open, "views.push": self._views_open,
            "views.update": self._views_update, "views.publish": self._views_publish,
            "users.info": self._users_info, "usergroups.list": self._usergroups_list,
            "files.getUploadURLExternal": self._upload_url, "files.completeUploadExternal": self._complete_upload,
            "conversations.history": self._conv_history, "apps.connections.open": self._connections_open,
        }
        self.app_token = "xapp-test"
        self.reset()

    # ----- lifecycle
    def start(self) -> FakeSlack:
        if self._server is None:
            self._server = _Server(("127.0.0.1", 0), _Handler)
            self._server.daemon_threads = True
            self._server.fake = self
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="FakeSlack", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)  # type: ignore[union-attr]  # started with the server, so not None here
            self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base_url}/response/{name}"

    # ----- state / configuration
    def reset(self) -> None:
        """Forget calls, injected failures and all state (users, channels, messages, views, uploads...).

        Also turns the per-channel posting limit off again."""
        with self._lock:
            self._calls: list[Call] = []
            self._failures: dict[str, deque] = {}
            self._users: dict[str, dict] = {}
            self._channels: dict[str, dict] = {}
            self._usergroups: list[dict] = []
            self._not_in: set[str] = set()
            self._not_found: set[str] = set()
            self._messages: dict[tuple[str, str], dict] = {}
            self._opened: set[str] = set()
            self._used_triggers: set[str] = set()
            self._expired_triggers: set[str] = set()
            self._views: dict[str, dict] = {}
            self._home: dict[str, dict] = {}
            self._uploads: dict[str, dict] = {}
            self._post_limit: _PostLimit | None = None
            self._hangs: dict[str, deque] = {}
            self._lost_replies: dict[str, deque] = {}
            self._hanging = 0
            self._stamp: Callable[[], float] | None = None
            self.enterprise_id: str | None = None  # auth.test names an Enterprise Grid organisation when set

    def add_user(self, user_id: str, name: str | None = None, tz: str = "America/Los_Angeles",
                 is_admin: bool = False, is_owner: bool = False, *, real_name: str | None = None,
                 deleted: bool = False, is_bot: bool = False, locale: str = "en-US") -> None:
        name = name or user_id.lower()
        real = real_name or name
        with self._lock:
            self._users[user_id] = {
                "id": user_id, "team_id": self.team_id, "name": name, "real_name": real, "tz": tz,
                "tz_offset": _tz_offset(tz), "is_admin": is_admin, "is_owner": is_owner,
                "deleted": deleted, "is_bot": is_bot, "profile": {"display_name": name, "real_name": real}, "locale": locale}

    def add_channel(self, channel_id: str, name: str, is_private: bool = False, is_member: bool = True) -> None:
        with self._lock:
            self._channels[channel_id] = {"id": channel_id, "name": name, "is_channel": not is_private,
                                          "is_private": is_private, "is_member": is_member}
            (self._not_in.discard if is_member else self._not_in.add)(channel_id)

    def add_usergroup(self, usergroup_id: str, handle: str, name: str | None = None,
                      users: list[str] | None = None) -> None:
        with self._lock:
            self._usergroups.append({"id": usergroup_id, "team_id": self.team_id, "handle": handle,
                                     "name": name or handle, "users": list(users or [])})

    def invite_bot(self, channel_id: str) -> None:
        """Someone ran /invite @oppbot in the channel."""
        with self._lock:
            self._not_in.discard(channel_id)
            if channel_id in self._channels:
                self._channels[channel_id]["is_member"] = True

    def bot_not_in_channel(self, channel_id: str) -> None:
        with self._lock:
            self._not_in.add(channel_id)
            if channel_id in self._channels:
                self._channels[channel_id]["is_member"] = False

    def channel_not_found(self, channel_id: str) -> None:
        with self._lock:
            self._not_found.add(channel_id)

    def expire_trigger(self, trigger_id: str) -> None:
        with self._lock:
            self._expired_triggers.add(trigger_id)

    # ----- failure injection
    def _inject(self, method: str, reply: _Reply, times: int) -> None:
        with self._lock:
            self._failures.setdefault(method, deque()).extend([reply] * times)

    def fail_next(self, method: str, error: str, times: int = 1) -> None:
        self._inject(method, _Reply(_err(error)), times)

    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        self._inject(method, _Reply(_err("ratelimited"), 429, {"Retry-After": str(retry_after)}), times)

    def server_error_next(self, method: str, status: int = 500, times: int = 1) -> None:
        body = "service unavailable" if status == 503 else _err("internal_error")
        self._inject(method, _Reply(body, status), times)

    def hang_next(self, method: str, *, release: threading.Event | None = None, seconds: float | None = None,
                  times: int = 1, then: str = "reply") -> threading.Event:
        """The next ``times`` calls of ``method`` (or "response_url") hang, as Slack does when it is slow:
        until ``release`` is set (returned; a new Event by default) or ``seconds`` have passed, whichever
        is first. ``then="reply"`` answers normally afterwards; ``then="drop"`` closes the connection
        without an answer (the client sees a timeout or a reset). Nothing is processed while hanging."""
        release = release or threading.Event()
        with self._lock:
            self._hangs.setdefault(method, deque()).extend([(release, seconds, then)] * times)
        return release

    def lose_reply_next(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` take effect (a post is delivered) but the client is told
        otherwise: HTTP ``status`` (5xx), or ``status=0`` to drop the connection. How a post whose outcome
        is unknown looks from the sender's side."""
        with self._lock:
            self._lost_replies.setdefault(method, deque()).extend([status] * times)

    @property
    def hanging(self) -> int:
        """Calls being held by :meth:`hang_next` right now."""
        with self._lock:
            return self._hanging

    def wait_hanging(self, predicate: Callable[[int], bool], timeout: float = 5.0) -> int:
        """Block until the number of calls held by :meth:`hang_next` satisfies ``predicate`` (e.g.
        ``lambda n: n >= 4``); return it, or raise AssertionError after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self._hanging), timeout):
                raise AssertionError(f"after {timeout}s, {self._hanging} call(s) are held")
            return self._hanging

    def _hang(self, method: str) -> str | None:
        """Hold a call as hang_next asked; returns "drop" when the connection is to be closed unanswered."""
        with self._lock:
            queue = self._hangs.get(method)
            hang = queue.popleft() if queue else None
            if hang is not None:
                self._hanging += 1
                self._cond.notify_all()
        if hang is None:
            return None
        release, seconds, then = hang
        try:
            release.wait(seconds)
        finally:
            with self._cond:
                self._hanging -= 1
                self._cond.notify_all()
        return "drop" if then == "drop" else None

    def limit_posts_per_channel(self, rate: float = 1.0, burst: int = 3,
                                now: Callable[[], float] | None = None) -> None:
        """Enforce Slack's per-channel posting limit (off by default; :meth:`reset` turns it off).

        Slack allows about 1 message per second per channel, with short bursts; over that it
        answers HTTP 429, ``Retry-After: <whole seconds>`` and ``{"ok": false, "error":
        "ratelimited"}``. Here each channel takes ``burst`` posts at once, then one every
        ``1 / rate`` seconds. chat.postMessage counts, and so does files.completeUploadExternal
        sharing into a channel; chat.postEphemeral, chat.update, views.* and users.info do not.
        The channel is the resolved one: a DM is counted under its D... id as conversations.open
        returns it, whether posted to by that id or by the user's id. Only delivered posts use a
        slot (a post Slack rejects, e.g. not_in_channel, does not). A post over the limit is
        recorded as a :class:`Call` (status 429, see :meth:`rate_limited`) but delivers no
        message; its Retry-After is the seconds until the channel's next slot, rounded up, >= 1.

        ``now`` returns seconds as a float, e.g. ``lambda: clock.now().timestamp()`` for a
        FakeClock, so tests move time instead of sleeping; default :func:`time.monotonic`.
        Calling this again starts afresh (every channel idle)."""
        with self._lock:
            self._post_limit = _PostLimit(rate, burst, now or time.monotonic)

    def stamp_messages_with(self, now: Callable[[], float] | None) -> None:
        """Stamp each message's ts from ``now`` (seconds as a float, e.g. ``lambda: clock.now().timestamp()``
        for a FakeClock), as Slack stamps them with its time, so that ``conversations.history``'s
        ``oldest`` and ``latest`` compare them with real moments; ts stay unique and increasing.
        Off by default and after :meth:`reset`: ts then count up from 1700000000 whatever the time."""
        with self._lock:
            self._stamp = now

    # ----- inspection
    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def rate_limited(self, method: str | None = None) -> list[Call]:
        """The calls (of ``method``) answered 429: by the per-channel limit or by rate_limit_next()."""
        return [c for c in self.calls(method) if c.status == 429]

    def wait_for(self, method: str | None, count: int = 1, timeout: float = 5.0,
                 predicate: Callable[[Call], bool] | None = None) -> list[Call]:
        """Block until >= ``count`` calls of ``method`` (matching ``predicate``) were recorded; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self._calls if (method is None or c.method == method)
                         and (predicate is None or predicate(c))]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    break
                self._cond.wait(remaining)
            if len(found) >= count:
                return found
            seen = "\n".join(f"  {c.method} -> {c.status} {c.response.get('ok')} {c.response.get('error', '')}"
                             for c in self._calls[-30:]) or "  (none)"
        raise AssertionError(f"timed out after {timeout}s waiting for {count} call(s) of {method!r} "
                             f"(matched {len(found)}); {len(self.calls())} call(s) seen:\n{seen}")

    def message(self, channel: str, ts: str) -> dict | None:
        with self._lock:
            msg = self._messages.get((channel, ts))
            return dict(msg) if msg else None

    def messages(self, channel: str | None = None) -> list[dict]:
        """Messages delivered (and not deleted), oldest first; rejected and 429'd posts are not here."""
        with self._lock:
            return [dict(m) for (ch, _), m in self._messages.items() if channel is None or ch == channel]

    def home_view(self, user_id: str) -> dict | None:
        with self._lock:
            view = self._home.get(user_id)
            return dict(view) if view else None

    def view(self, view_id: str) -> dict | None:
        with self._lock:
            return self._views.get(view_id)

    def latest_modal(self) -> dict | None:
        """The modal opened or updated last (views.update keeps its id, gives it a new hash)."""
        with self._lock:
            modals = [v for v in self._views.values() if v.get("type") == "modal"]
            latest = max(modals, key=lambda v: v["hash"].split(".")[-1].lstrip("h").zfill(12), default=None) if modals else None
            return dict(latest) if latest else None

    def uploaded(self, file_id: str) -> bytes | None:
        with self._lock:
            return self._uploads[file_id]["data"]

    # ----- request plumbing
    def _record(self, method: str, params: dict, headers: Any, reply: _Reply) -> None:
        response = reply.body if isinstance(reply.body, dict) else {"ok": reply.status < 400, "_body": reply.body}
        with self._cond:
            self._calls.append(Call(method, params, dict(headers.items()), time.monotonic(), response, reply.status))
            self._cond.notify_all()

    def _take_failure(self, method: str) -> _Reply | None:
        queue = self._failures.get(method)
        return queue.popleft() if queue else None

    def _handle_api(self, method: str, query: str, body: bytes, headers: Any) -> _Reply:
        params: dict = dict(parse_qsl(query, keep_blank_values=True))
        ctype = (headers.get("Content-Type") or "").lower()
        text = body.decode("utf-8", "replace")
        if "json" in ctype and text.strip():
            try:
                params.update(json.loads(text))
            except ValueError:
                params["_raw"] = text
        elif text:
            params.update(parse_qsl(text, keep_blank_values=True))
        for key in JSON_PARAMS:
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        token = params.pop("token", None)
        auth = headers.get("Authorization") or ""
        with self._lock:
            reply = self._take_failure(method)
            if reply is None:
                presented = (auth.removeprefix("Bearer ").strip(), token)
                if method == "apps.connections.open":
                    reply = (_Reply(self._connections_open(params)) if self.app_token in presented
                             else _Reply(_err("invalid_auth")))
                elif self.bot_token not in presented:
                    reply = _Reply(_err("invalid_auth"))
                elif method not in self._methods:
                    reply = _Reply(_err("unknown_method"))
                else:
                    reply = self._limited_post(method, params)
                    lost = self._lost_replies.get(method)
                    if lost and reply.status == 200:
                        status = lost.popleft()
                        reply = _Reply("internal error" if status else "", status)
            self._record(method, params, headers, reply)
        return reply

    def _posting_channels(self, method: str, params: dict) -> list[str]:
        """The resolved channels a call posts into (for the per-channel limit); [] if it posts nowhere."""
        if method not in CHANNEL_POSTING:
            return []
        if method == "chat.postMessage":
            ids = [params.get("channel")]
        else:  # files.completeUploadExternal shares into channel_id or the comma-separated channels
            ids = [params.get("channel_id")] + str(params.get("channels") or "").split(",")
        out = []
        for cid in (str(c).strip() for c in ids if c):
            cid = "D" + cid if cid[:1] in ("U", "W") else cid  # posting to a user goes to the DM
            if cid and cid not in out:
                out.append(cid)
        return out

    def _limited_post(self, method: str, params: dict) -> _Reply:
        limit = self._post_limit
        channels = self._posting_channels(method, params) if limit is not None else []
        if limit is None or not channels:
            return _Reply(self._methods[method](params))
        t = limit.now()
        wait = limit.wait(channels, t)
        if wait > limit.EPS:
            retry_after = max(1, math.ceil(wait - limit.EPS))
            return _Reply(_err("ratelimited"), 429, {"Retry-After": str(retry_after)})
        body = self._methods[method](params)
        if body.get("ok"):
            limit.take(channels, t)
        return _Reply(body)

    def _handle_response_url(self, name: str, body: bytes, headers: Any) -> _Reply:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {"_raw": body.decode("utf-8", "replace")}
        params = {**(params if isinstance(params, dict) else {"_raw": params}), "_name": name}
        with self._lock:
            reply = self._take_failure("response_url") or _Reply("ok")
            self._record("response_url", params, headers, reply)
        return reply

    def _handle_upload(self, file_id: str, body: bytes, headers: Any) -> _Reply:
        with self._lock:
            reply = self._take_failure("upload")
            if reply is None and file_id not in self._uploads:
                reply = _Reply("file not found", 404)
            elif reply is None:
                self._uploads[file_id]["data"] = body
                reply = _Reply(f"OK - {len(body)}")
            self._record("upload", {"_file_id": file_id, "_length": len(body)}, headers, reply)
        return reply

    def _next(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:08d}"

    def _next_ts(self) -> str:
        self._seq += 1
        if self._stamp is not None:
            micros = max(round(self._stamp() * 1_000_000), self._last_stamp + 1)
            self._last_stamp = micros
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
        n = self._seq * 100
        return f"{1700000000 + n // 1_000_000}.{n % 1_000_000:06d}"

    def _channel_error(self, channel: Any) -> dict | None:
        if not channel or channel in self._not_found:
            return _err("channel_not_found")
        if channel in self._not_in and not str(channel).startswith("D"):
            return _err("not_in_channel")
        return None

    def _message_error(self, params: dict) -> dict | None:
        blocks = params.get("blocks")
        if not params.get("text") and not blocks and not params.get("attachments"):
            return _err("no_text")
        if blocks is not None:
            if not isinstance(blocks, list):
                return _err("invalid_blocks_format")
            problems = check_blocks(blocks, "message")
            if problems:
                return _err("invalid_blocks", *problems)
        if len(params.get("text") or "") > 40000:
            return _err("msg_too_long")
        return None

    # ----- Web API methods (called with the lock held)
    def _auth_test(self, p: dict) -> dict:
        identity = {"ok": True, "url": "https://fake.slack.com/", "team": "Fake Team", "team_id": self.team_id,
                    "user": "oppbot", "user_id": self.bot_user_id, "bot_id": self.bot_id}
        if self.enterprise_id:
            identity["enterprise_id"] = self.enterprise_id
        return identity

    def _connections_open(self, p: dict) -> dict:
        # Socket Mode: called with the app-level token, not the bot token (see _handle_api)
        return {"ok": True, "url": "ws://127.0.0.1:1/link"}

    def _conv_history(self, p: dict) -> dict:
        """Newest first, as Slack: ``oldest``/``latest`` bounds (exclusive), ``limit`` (default 100),
        ``cursor`` paging; message ``metadata`` only with ``include_all_metadata``."""
        channel = p.get("channel")
        if not channel or channel in self._not_found:
            return _err("channel_not_found")
        if channel in self._not_in and not str(channel).startswith("D"):
            return _err("not_in_channel")
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or 9e12)
        found = sorted((m for (ch, _), m in self._messages.items() if ch == channel and oldest < float(m["ts"]) < latest),
                       key=lambda m: float(m["ts"]), reverse=True)
        start = int(p.get("cursor") or 0)
        limit = max(1, min(999, int(p.get("limit") or 100)))
        page = found[start:start + limit]
        with_metadata = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        messages = [{k: v for k, v in m.items() if k != "channel" and (with_metadata or k != "metadata")} for m in page]
        more = start + limit < len(found)
        return {"ok": True, "messages": messages, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _post_message(self, p: dict) -> dict:
        channel = p.get("channel")
        error = self._channel_error(channel) or self._message_error(p)
        if error:
            return error
        ts = self._next_ts()
        msg = {"type": "message", "text": p.get("text", ""), "blocks": p.get("blocks") or [], "ts": ts,
               "user": self.bot_user_id, "bot_id": self.bot_id}
        if p.get("thread_ts"):
            msg["thread_ts"] = p["thread_ts"]
        metadata = p.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return _err("invalid_metadata_format")
        if metadata is not None:
            if not isinstance(metadata, dict) or not metadata.get("event_type") or not isinstance(metadata.get("event_payload"), dict):
                return _err("invalid_metadata_format")
            msg["metadata"] = metadata
        self._messages[(channel, ts)] = {**msg, "channel": channel}
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    def _chat_update(self, p: dict) -> dict:
        key = (p.get("channel"), p.get("ts"))
        if key not in self._messages:
            return _err("message_not_found")
        error = self._message_error(p)
        if error:
            return error
        msg = self._messages[key]
        msg["text"] = p.get("text", msg["text"])
        if "blocks" in p:
            msg["blocks"] = p["blocks"] or []
        return {"ok": True, "channel": key[0], "ts": key[1], "text": msg["text"],
                "message": {k: v for k, v in msg.items() if k != "channel"}}

    def _chat_delete(self, p: dict) -> dict:
        key = (p.get("channel"), p.get("ts"))
        if self._messages.pop(key, None) is None:
            return _err("message_not_found")
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _post_ephemeral(self, p: dict) -> dict:
        if not p.get("user"):
            return _err("user_not_found")
        error = self._channel_error(p.get("channel")) or self._message_error(p)
        return error or {"ok": True, "message_ts": self._next_ts()}

    def _permalink(self, p: dict) -> dict:
        channel, ts = p.get("channel"), p.get("message_ts")
        if not channel or channel in self._not_found:
            return _err("channel_not_found")
        if not ts:
            return _err("message_not_found")
        return {"ok": True, "channel": channel,
                "permalink": f"https://fake.slack.com/archives/{channel}/p{str(ts).replace('.', '')}"}

    def _conv_open(self, p: dict) -> dict:
        if p.get("channel"):
            cid = p["channel"]
        else:
            users = [u.strip() for u in str(p.get("users") or "").split(",") if u.strip()]
            if not users:
                return _err("users_list_not_supplied")
            cid = "D" + users[0] if len(users) == 1 else "G" + "".join(sorted(users))
        already = cid in self._opened
        self._opened.add(cid)
        return {"ok": True, "no_op": already, "already_open": already, "channel": {"id": cid}}

    def _conv_join(self, p: dict) -> dict:
        cid = p.get("channel")
        if not cid or cid in self._not_found:
            return _err("channel_not_found")
        if self._channels.get(cid, {}).get("is_private") and cid in self._not_in:
            return _err("method_not_supported_for_channel_type")  # private channels need an invitation
        self._not_in.discard(cid)
        if cid in self._channels:
            self._channels[cid]["is_member"] = True
        return {"ok": True, "channel": self._conv_dict(cid)}

    def _conv_dict(self, cid: str) -> dict:
        if cid in self._channels:
            return dict(self._channels[cid])
        if cid.startswith("D"):
            return {"id": cid, "is_im": True, "user": cid[1:], "is_private": True, "is_member": True}
        return {"id": cid, "name": cid.lower(), "is_channel": True, "is_private": False,
                "is_member": cid not in self._not_in}

    def _conv_info(self, p: dict) -> dict:
        cid = p.get("channel")
        if not cid or cid in self._not_found:
            return _err("channel_not_found")
        return {"ok": True, "channel": self._conv_dict(cid)}

    def _conv_list(self, p: dict) -> dict:
        types = set(str(p.get("types") or "public_channel").split(","))
        chans = [dict(c) for c in self._channels.values()
                 if ("private_channel" if c["is_private"] else "public_channel") in types]
        return {"ok": True, "channels": chans, "response_metadata": {"next_cursor": ""}}

    def _view_error(self, view: Any) -> dict | None:
        if not isinstance(view, dict):
            return _err("invalid_arguments", "[ERROR] missing required field: view")
        problems = check_view(view)
        return _err("invalid_arguments", *problems) if problems else None

    def _store_view(self, view: dict, view_id: str | None = None) -> dict:
        view_id = view_id or self._next("V")
        stored = {**view, "id": view_id, "team_id": self.team_id, "hash": f"{time.time():.0f}.{self._next('h')}",
                  "state": {"values": {}}, "blocks": view.get("blocks", []),
                  "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
                  "external_id": view.get("external_id", ""), "bot_id": self.bot_id}
        self._views[view_id] = stored
        return stored

    def _views_open(self, p: dict) -> dict:
        tid = p.get("trigger_id")
        if not tid:
            return _err("invalid_arguments", "[ERROR] missing required field: trigger_id")
        if tid in self._used_triggers or tid in self._expired_triggers:
            return _err("expired_trigger_id")
        error = self._view_error(p.get("view"))
        if error:
            return error
        self._used_triggers.add(tid)
        return {"ok": True, "view": self._store_view(p["view"])}

    def _views_update(self, p: dict) -> dict:
        view_id, ext = p.get("view_id"), p.get("external_id")
        if not view_id and ext:
            view_id = next((v["id"] for v in self._views.values() if v.get("external_id") == ext), None)
        if not view_id and not ext:
            return _err("invalid_arguments", "[ERROR] view_id or external_id is required")
        if view_id not in self._views:
            return _err("not_found")
        if p.get("hash") and p["hash"] != self._views[view_id]["hash"]:
            return _err("hash_conflict")
        error = self._view_error(p.get("view"))
        return error or {"ok": True, "view": self._store_view(p["view"], view_id)}

    def _views_publish(self, p: dict) -> dict:
        user, view = p.get("user_id"), p.get("view")
        if not user:
            return _err("invalid_arguments", "[ERROR] missing required field: user_id")
        if isinstance(view, dict) and view.get("type") != "home":
            return _err("invalid_arguments", "[ERROR] view type must be 'home' [json-pointer:/view/type]")
        error = self._view_error(view)
        if error:
            return error
        old = self._home.get(user)
        self._home[user] = self._store_view(view, old["id"] if old else None)
        return {"ok": True, "view": self._home[user]}

    def _users_info(self, p: dict) -> dict:
        user = self._users.get(p.get("user"))
        if not user:
            return _err("user_not_found")
        user = json.loads(json.dumps(user))
        if str(p.get("include_locale", "")).lower() not in ("1", "true"):
            user.pop("locale", None)  # as Slack: the locale only when asked for
        return {"ok": True, "user": user}

    def _usergroups_list(self, p: dict) -> dict:
        include_users = str(p.get("include_users", "")).lower() in ("1", "true")
        groups = [{k: v for k, v in g.items() if k != "users" or include_users} for g in self._usergroups]
        return {"ok": True, "usergroups": groups}

    def _upload_url(self, p: dict) -> dict:
        if not p.get("filename") or not str(p.get("length", "")).isdigit():
            return _err("invalid_arguments", "[ERROR] filename and length are required")
        file_id = self._next("F")
        self._uploads[file_id] = {"filename": p["filename"], "length": int(p["length"]), "data": None}
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, p: dict) -> dict:
        files = p.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                return _err("invalid_arguments", "[ERROR] files must be a JSON array")
        if not isinstance(files, list) or not files:
            return _err("invalid_arguments", "[ERROR] missing required field: files")
        p["files"] = files
        channel = p.get("channel_id") or (str(p["channels"]).split(",")[0] if p.get("channels") else None)
        if channel:
            error = self._channel_error(channel)
            if error:
                return error
        out = []
        for f in files:
            fid = f.get("id") if isinstance(f, dict) else None
            if fid not in self._uploads:
                return _err("file_not_found")
            out.append({"id": fid, "title": f.get("title") or self._uploads[fid]["filename"]})
        return {"ok": True, "files": out}
