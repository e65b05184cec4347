"""The narrow slice of the Slack Web API the core uses, behind one object that tests can fake."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.slack.pacing import ChannelPacer

log = logging.getLogger(__name__)

# Errors that mean "the bot can't post in this conversation", so the card goes to a DM instead.
CANNOT_POST_HERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "cannot_dm_bot", "ekm_access_denied", "team_access_not_granted"}


def make_web_client(token: str, base_url: str, *, retries: int = 2) -> WebClient:
    """A WebClient that retries 5xx and dropped connections a few times, and never sleeps through a 429.

    The interactive client answers the person who acted within seconds or not at all; the delivery
    client (retries=0) fails fast and the outbox reschedules, Retry-After honoured. Neither blocks a
    thread for a Retry-After: whatever the bot sends on its own is an outbox row.
    """
    client = WebClient(token=token, base_url=base_url, timeout=10)
    client.retry_handlers.extend([
        ServerErrorRetryHandler(max_retry_count=retries),
        ConnectionErrorRetryHandler(max_retry_count=retries),
    ])
    return client


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
    def __init__(self, client: WebClient, pacer: ChannelPacer | None = None) -> None:
        self.client = client
        # The delivery path paces its posts per channel (bot/pacing.py); a user's click is never held back.
        self.pacer = pacer
        # conversations.open returns the same DM channel for a user every time: ask once per process
        self._dm_channels: dict[str, str] = {}
        self._dm_lock = threading.Lock()

    def post(self, channel: str, text: str, blocks: list[dict] | None) -> tuple[str, str]:
        with self._posting(channel):
            response = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
        return response["channel"], response["ts"]

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

    def user_info(self, user_id: str) -> dict | None:
        """users.info's user, or None when Slack says there is no such user."""
        try:
            return self.client.users_info(user=user_id)["user"]
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
