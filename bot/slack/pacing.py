"""Pacing deliveries to Slack's posting limit: about one message a second per channel, short bursts allowed.

A burst of reminders to one rep (or alerts to one channel) would otherwise hit 429 after 429,
each a wasted round trip and, worse, a failed attempt. The dispatcher marks every delivery it
sends (`delivery_scope`); before the delivery's first post the gateway asks the pacer for a slot
in that channel. When the slot is later than now, the post is not made: `Paced` tells the
dispatcher to put the row back, due at its slot, which stays reserved for it (`holds_slot`).
Each row is put back at most once, and the channel's messages leave at Slack's rate.

The pacer is per process. Several processes posting to one channel may still meet a 429; its
Retry-After then holds the channel back here too, and the row is retried without counting an attempt.

The scope also carries the delivery's identity, which the gateway writes into each post's metadata
and looks for before posting again when an earlier attempt's outcome is unknown (bot/slack/gateway.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

# Slack: chat.postMessage "1 per second per channel, short bursts allowed".
RATE_PER_SECOND = 1.0
BURST = 3
# A slot this close is taken at once: waiting for it costs less than a trip through the database.
NEAR = 0.05


class Paced(Exception):
    """The channel's next free slot is `wait` seconds away; nothing was posted by this call."""

    def __init__(self, channel: str, wait: float) -> None:
        super().__init__(f"{channel}: next slot in {wait:.2f}s")
        self.channel = channel
        self.wait = wait


@dataclass
class DeliveryScope:
    """The outbox row being sent in this thread, as the gateway's posts need it."""

    delivery_id: int
    # Set when an earlier attempt's outcome is unknown (it timed out, or the process died before
    # recording it): its posts may be in Slack, so each post first looks there for its copy.
    in_doubt_since: datetime | None
    holds_slot: bool
    # The first post went through the pacer: the delivery's other posts go with it.
    paced: bool = False
    # Posts of this delivery that are in Slack, or may be (no answer came): the next post's part number.
    parts: int = 0


_current: ContextVar[DeliveryScope | None] = ContextVar("oppbot_delivery", default=None)


@contextmanager
def delivery_scope(delivery: DeliveryScope) -> Iterator[None]:
    """Posts made inside are this delivery's: its first post is paced, unless it already holds its slot."""
    token = _current.set(delivery)
    try:
        yield
    finally:
        _current.reset(token)


def current_delivery() -> DeliveryScope | None:
    """The delivery being sent in this thread; None for a user's click."""
    return _current.get()


class ChannelPacer:
    """GCRA per channel: each post takes the channel's next slot, 1/rate apart, `burst` of them at once."""

    def __init__(self, now: Callable[[], float], *, rate: float = RATE_PER_SECOND, burst: int = BURST) -> None:
        self._now = now
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._theoretical: dict[str, float] = {}
        self._lock = threading.Lock()

    def before_post(self, channel: str) -> None:
        """Called by the gateway before it posts; raises Paced to put the delivery back."""
        delivery = _current.get()
        if delivery is None or delivery.paced:
            return  # not a delivery (a user's click), or a delivery's second message: only its first is paced
        delivery.paced = True
        if delivery.holds_slot:
            return
        wait = self.reserve(channel)
        if wait > NEAR:
            raise Paced(channel, wait)

    def reserve(self, channel: str) -> float:
        """Take the channel's next slot; returns how many seconds from now it is (0: now)."""
        with self._lock:
            now = self._now()
            theoretical = max(self._theoretical.get(channel, now), now)
            slot = max(now, theoretical - self._tolerance)
            self._theoretical[channel] = theoretical + self._interval
            if len(self._theoretical) > 100_000:
                self._forget_idle(now)
            return slot - now

    def hold_off(self, channel: str, seconds: float) -> None:
        """Slack answered 429 with Retry-After: no slot in this channel for that long."""
        with self._lock:
            now = self._now()
            self._theoretical[channel] = max(self._theoretical.get(channel, now), now + seconds + self._tolerance)

    def _forget_idle(self, now: float) -> None:
        for channel in [c for c, t in self._theoretical.items() if t <= now]:
            del self._theoretical[channel]
