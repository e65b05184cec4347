"""The narrow slice of the Slack Web API the core uses, behind one object that tests can fake."""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web import SlackResponse

from bot.slack.pacing import ChannelPacer, current_delivery

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

# What slack_sdk raises when Slack doesn't answer: a read timeout (TimeoutError), a refused or dropped
# connection (URLError, ConnectionError: all OSError), a broken HTTP exchange. Wherever a SlackApiError
# (Slack answered "no") is handled, these are too.
SLACK_UNREACHABLE: tuple[type[Exception], ...] = (OSError, http.client.HTTPException)
SLACK_FAILURES: tuple[type[Exception], ...] = (SlackApiError, *SLACK_UNREACHABLE)  # Slack said no, or said nothing
# Every post the outbox makes carries this metadata event, naming its delivery and which of its posts it is.
DELIVERY_EVENT = "oppbot_delivery"
# A post whose outcome is unknown is looked for from this long before its attempt: Slack stamps
# messages with its clock, the claim was stamped with ours.
CLOCK_SKEW = timedelta(seconds=60)
HISTORY_PAGE = 200
# The most messages read looking for one: beyond it (a very busy channel) the post is made again.
HISTORY_LIMIT = 1000
# A lookup made before an ack (the owner a form names) waits at most this long, once.
QUICK_TIMEOUT = 1  # seconds

# Errors that mean "the bot can't post in this conversation", so the card goes to a DM instead.
CANNOT_POST_HERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "cannot_dm_bot", "ekm_access_denied", "team_access_not_granted"}


def make_web_client(token: str, base_url: str, *, retries: int = 2) -> WebClient:
    """A WebClient that retries 5xx and dropped connections a few times, and never sleeps through a 429.

    The interactive client answers the person who acted within seconds or not at all; the delivery
    client (retries=0) fails fast and the outbox reschedules, Retry-After honoured. Neither blocks a
    thread for a Retry-After: whatever the bot sends on its own is an outbox row.
    """
    # In place of WebClient's default handlers, which retry a dropped connection once: when the answer
    # to a post is what was lost, that retry posts the message a second time.
    handlers = [ServerErrorRetryHandler(max_retry_count=retries), ConnectionErrorRetryHandler(max_retry_count=retries)] if retries else []
    return WebClient(token=token, base_url=base_url, timeout=10, retry_handlers=handlers)


class HistoryUnreadable(Exception):
    """The conversation's history can't be read (e.g. the app lacks its history scope), so whether an
    earlier attempt posted the message is still unknown: nothing is posted, the delivery is tried later."""


def outcome_unknown(exc: BaseException) -> bool:
    """Whether Slack may have done what the failed call asked: no answer came (a timeout, a dropped
    connection), the answer was a 5xx, or an earlier attempt's post could not be looked for. Any other
    SlackApiError is Slack's answer that it did nothing."""
    if isinstance(exc, SlackApiError):
        return (getattr(exc.response, "status_code", None) or 200) >= 500
    return isinstance(exc, (*SLACK_UNREACHABLE, HistoryUnreadable))


def delivery_metadata(delivery_id: int, part: int) -> dict:
    return {"event_type": DELIVERY_EVENT, "event_payload": {"delivery_id": delivery_id, "part": part}}


def is_delivery_part(message: dict, delivery_id: int, part: int) -> bool:
    """Whether a message from conversations.history is the `part` post of that delivery."""
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return (metadata.get("event_type") == DELIVERY_EVENT and str(payload.get("delivery_id")) == str(delivery_id)
            and str(payload.get("part")) == str(part))


def retry_after(exc: SlackApiError) -> int | None:
    """The seconds a 429 asks us to wait; None for any other error."""
    response = exc.response
    if getattr(response, "status_code", None) != 429:
        return None
    headers = getattr(response, "headers", {}) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return 1  # as for a value that is no number
    try:
        return max(1, int(value[0] if isinstance(value, list) else value))
    except (TypeError, ValueError):
        return 1


def slack_error(exc: SlackApiError) -> str:
    response = exc.response
    try:
        return str(response.get("error") or f"http_{response.status_code}")
    except Exception:
        return "unknown_error"


class SlackGateway:
    def __init__(self, client: WebClient, pacer: ChannelPacer | None = None, *, metrics: Metrics | None = None) -> None:
        self.client = client
        self.quick = WebClient(token=client.token, base_url=client.base_url, timeout=QUICK_TIMEOUT, retry_handlers=[])
        if metrics is not None:  # every call of these clients (Bolt's too: it shares the interactive one) goes through api_call
            metrics.instrument(self.client)
            metrics.instrument(self.quick)
        # The delivery path paces its posts per channel (bot/pacing.py); a user's click is never held back.
        self.pacer = pacer
        # conversations.open returns the same DM channel for a user every time: ask once per process
        self._dm_channels: dict[str, str] = {}
        self._dm_lock = threading.Lock()

    def post(self, channel: str, text: str, blocks: list[dict] | None) -> tuple[str, str]:
        """Post a message; returns its (channel, ts). Inside a delivery (bot/slack/pacing.py) the post is
        labelled with the delivery and its part, and when an earlier attempt's outcome is unknown the copy
        that attempt may have posted is looked for first, and returned if found."""
        delivery = current_delivery()
        if delivery is None:  # a user's click: answered now or never, nothing to reconcile later
            response = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
            return response["channel"], response["ts"]
        part = delivery.parts
        if delivery.in_doubt_since is not None:
            found = self._find_posted(channel, delivery.delivery_id, part, since=delivery.in_doubt_since)
            if found is not None:
                delivery.parts += 1
                return found
        with self._posting(channel):
            try:
                response = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False,
                                                        metadata=delivery_metadata(delivery.delivery_id, part))
            except Exception as exc:
                if outcome_unknown(exc):
                    delivery.parts += 1  # it may be in Slack: a retry looks for it as this part
                raise
        delivery.parts += 1
        return response["channel"], response["ts"]

    def _find_posted(self, channel: str, delivery_id: int, part: int, *, since: datetime) -> tuple[str, str] | None:
        """The (channel, ts) of that post of the delivery if Slack has it, from the conversation's history
        since the delivery's doubt began. Raises what conversations.history raises: without its answer,
        posting could make a second copy."""
        oldest = f"{(since - CLOCK_SKEW).timestamp():.6f}"
        cursor: str | None = None
        read = 0
        while read < HISTORY_LIMIT:
            response = self._history(channel, oldest, cursor)
            messages: list[dict] = response.get("messages", [])
            for message in messages:
                if is_delivery_part(message, delivery_id, part):
                    return channel, message["ts"]
            read += len(messages)
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        log.warning("delivery %s: not among the last %d messages of %s; posting it again", delivery_id, read, channel)
        return None

    def _history(self, channel: str, oldest: str, cursor: str | None) -> SlackResponse:
        def read() -> SlackResponse:
            return self.client.conversations_history(channel=channel, oldest=oldest, include_all_metadata=True, limit=HISTORY_PAGE,
                                                     cursor=cursor)

        try:
            return read()
        except SlackApiError as exc:
            if slack_error(exc) == "missing_scope":  # installed before the history scopes were added: reinstall the app
                raise HistoryUnreadable(f"conversations.history in {channel}: missing_scope") from exc
            if slack_error(exc) != "not_in_channel":
                raise  # a 429 (tried again after Retry-After), or the conversation is gone: as a post would be answered
            not_in_channel = exc
        # chat:write.public posts in a public channel the bot is not in, but it reads only channels it is in.
        try:
            self.client.conversations_join(channel=channel)
        except SlackApiError as refused:
            if outcome_unknown(refused) or retry_after(refused) is not None:
                raise
            raise not_in_channel from refused  # it can't be in there (e.g. a private channel): so nothing of ours is
        return read()

    @contextmanager
    def _posting(self, channel: str) -> Iterator[None]:
        if self.pacer is None:
            yield
            return
        self.pacer.before_post(channel)
        try:
            yield
        except SlackApiError as exc:
            if getattr(exc.response, "status_code", None) == 429:
                self.pacer.hold_off(channel, retry_after(exc) or 1)
            raise

    def dm(self, user_id: str, text: str, blocks: list[dict] | None = None) -> tuple[str, str]:
        return self.post(self.dm_channel(user_id), text, blocks)

    def ephemeral(self, channel: str, user_id: str, text: str, blocks: list[dict] | None = None) -> None:
        self.client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=blocks)

    def update(self, channel: str, ts: str, text: str, blocks: list[dict]) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def user_info(self, user_id: str, *, quick: bool = False) -> dict | None:
        """users.info's user, or None when Slack says there is no such user. `quick`: one try of at
        most QUICK_TIMEOUT, for a lookup on the way to an ack."""
        try:
            return (self.quick if quick else self.client).users_info(user=user_id, include_locale=True)["user"]
        except SlackApiError as exc:
            if slack_error(exc) in ("user_not_found", "user_not_visible"):
                return None
            raise

    def upload(self, channel: str, content: bytes | str, filename: str, title: str, comment: str | None = None) -> str:
        """files.getUploadURLExternal → upload → files.completeUploadExternal, shared in `channel`; returns the file id."""
        with self._posting(channel):
            response = self.client.files_upload_v2(channel=channel, content=content, filename=filename, title=title, initial_comment=comment)
        return response["file"]["id"] if response.get("file") else response["files"][0]["id"]

    def dm_channel(self, user_id: str) -> str:
        with self._dm_lock:
            cached = self._dm_channels.get(user_id)
        if cached is not None:
            return cached
        channel = self.client.conversations_open(users=user_id)["channel"]["id"]
        with self._dm_lock:
            if len(self._dm_channels) >= 100_000:
                self._dm_channels.clear()
            self._dm_channels[user_id] = channel
        return channel

    def join(self, channel: str) -> None:
        self.client.conversations_join(channel=channel)

    def channel_ids_by_name(self) -> dict[str, str]:
        """Every channel the bot can see, public and private, by name (conversations.list, paginated)."""
        found: dict[str, str] = {}
        cursor = None
        while True:
            response = self.client.conversations_list(types="public_channel,private_channel", exclude_archived=True, limit=1000, cursor=cursor)
            channels: list[dict] = response.get("channels", [])
            for channel in channels:
                found[channel["name"]] = channel["id"]
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return found

    def permalink(self, channel: str, ts: str) -> str | None:
        try:
            return self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
        except SlackApiError as exc:
            log.info("no permalink for %s/%s: %s", channel, ts, slack_error(exc))
            return None
        except SLACK_UNREACHABLE as exc:  # the form opens without the link rather than not at all
            log.info("no permalink for %s/%s: Slack didn't answer (%s)", channel, ts, exc.__class__.__name__)
            return None
