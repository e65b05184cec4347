"""The outbox: durable delivery of everything the bot sends on its own (cards and their refreshes,
notices, reminder DMs, nudges, alerts, digests, files someone asked for).

Work is a row in `delivery` with a due time, written in the transaction of the change that causes
it (storage/outbox.py holds the SQL). The delivery lanes of each process call `run_once()`:
it claims due rows for a lease (on PostgreSQL with FOR UPDATE SKIP LOCKED, so any number of
processes share one database), sends them through the sender registered for their kind, and
marks them sent. A Slack failure leaves the row pending with a later due time (Retry-After
honoured for 429, exponential backoff otherwise); after MAX_ATTEMPTS it is flagged failed with
the reason. A process that dies holding a lease only delays the row until the lease expires.

Every message is posted once, whatever fails between the post and the record of it. Each
chat.postMessage of a delivery carries metadata naming the row and the post's part (0, 1, … within
the delivery), and the claim marks the row in doubt (`in_doubt_since`) until an outcome is known.
When the last attempt's outcome is unknown — the process was killed, Slack timed out, the
connection dropped, Slack answered 5xx, or the database failed the transaction recording "sent" —
the next attempt first looks in the conversation's history (its last 1,000 messages at most) for a
message with that metadata and records it instead of posting again (bot/slack/gateway.py); if Slack
can't be asked, the row waits.
Slack's answer of an error (a 429, channel_not_found) means nothing was posted, so it clears the
doubt unless an earlier attempt left one.

Two kinds of sending stay at least once. Files (files_upload_v2: funnel_chart, export, digest_chart)
carry no metadata and can't be looked for, so a file whose upload got no answer may be shared twice.
Ephemeral messages (chat.postEphemeral, the card note) have no history to look in: one whose answer
was lost may be shown twice. chat.update (card_refresh) needs nothing: doing it twice changes nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot.domain.clock import Clock
from bot.logs import log_context
from bot.slack.gateway import outcome_unknown, retry_after, slack_error
from bot.slack.pacing import DeliveryScope, Paced, delivery_scope
from storage.db import UnitOfWork, UnitOfWorkFactory, is_unreachable
from storage.models import CANCELLED, FAILED, PENDING, SENT, Delivery

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Sending is mostly waiting (on Slack, on the database's commit): this many rows are in flight at once.
WORKERS = 16
# last_error of a row the pacer put back: it holds its channel's slot (bot/pacing.py).
PACED = "paced: waiting for the channel's next slot"
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
LEASE = timedelta(minutes=2)
# Rows claimed at a time. A run sends its batch before claiming more, so a small one keeps a row
# falling due mid-batch from waiting long (bench_reminders, 10,000 due in a minute: p99 3.2 s late with 200, 1.7 s with 64).
BATCH = 64
# Slack answers that no retry will fix.
PERMANENT_ERRORS = {"user_not_found", "cannot_dm_bot", "account_inactive", "user_disabled", "invalid_blocks", "msg_too_long",
                    "channel_not_found", "is_archived", "invalid_auth", "not_authed", "missing_scope", "no_text"}


class Undeliverable(Exception):
    """No retry can deliver this (e.g. a #channel that doesn't exist): flag it failed with this reason."""


@dataclass(frozen=True)
class Sent:
    channel_id: str | None = None
    message_ts: str | None = None
    # Follow-on work (e.g. the reminder's nudge) recorded in the same transaction that marks the row sent.
    then: Callable[[UnitOfWork], None] | None = None


@dataclass(frozen=True)
class Skip:
    """The work is obsolete (done, moved, cancelled): nothing to send."""

    reason: str


@dataclass(frozen=True)
class RetryLater:
    """Not deliverable yet for a reason of ours (e.g. waiting for an admin); try again at `at`."""

    at: datetime
    reason: str


Outcome = Sent | Skip | RetryLater
Sender = Callable[[Delivery, datetime], Outcome]
# Given the claimed rows of one kind, returns one outcome per row, in order: an Outcome, or the
# exception that stopped that row (recorded exactly as if a Sender had raised it).
BatchSender = Callable[[list[Delivery], datetime], Sequence[Outcome | Exception]]


@dataclass(frozen=True)
class _Batched:
    sender: BatchSender
    size: int
    lease: timedelta


@dataclass
class DispatchStats:
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0
    paced: int = 0
    errors: list[str] = field(default_factory=list)


def instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, BASE_BACKOFF * (2 ** max(0, attempts - 1)))


class Dispatcher:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, *, team_ids: Callable[[], list[str]] | None = None, owner: str | None = None,
                 lease: timedelta = LEASE, batch: int = BATCH, workers: int = WORKERS) -> None:
        self.uow = uow
        # The workspaces whose rows are sent: those this bot token serves (Workspaces.team_ids).
        self.team_ids = team_ids or self._every_workspace
        self.clock = clock
        self.owner = owner or instance_id()
        self.lease = lease
        self.batch = batch
        # Sending is waiting on Slack: a claimed batch goes out over several connections at once.
        self.workers = workers
        self.senders: dict[str, Sender] = {}
        self.sequences: dict[str, Callable[[Delivery], str]] = {}
        self.batch_senders: dict[str, _Batched] = {}
        # Called at the start of every run to record newly due work (e.g. the digests whose time came).
        self.before_run: Callable[[], object] | None = None
        # Set by `stop_claiming` when the process shuts down: checked before each claim, so a run ends after its batch.
        self.stopping = False
        self.metrics: Metrics | None = None  # bot/metrics.py: lateness and failures of what this dispatcher records

    def _every_workspace(self) -> list[str]:
        with self.uow() as uow:
            return uow.workspaces.all_team_ids()

    def register(self, kind: str, sender: Sender, *, sequence: Callable[[Delivery], str] | None = None) -> None:
        """`sequence` names the row's sequence: claimed rows of one sequence (of any kinds) are sent one
        after the other in the order they were scheduled, e.g. a digest's message before its chart in
        the same DM; other rows go out side by side."""
        self.senders[kind] = sender
        if sequence is not None:
            self.sequences[kind] = sequence

    def register_batch(self, kind: str, sender: BatchSender, *, size: int = 1000, lease: timedelta | None = None) -> None:
        """Rows of `kind` are claimed up to `size` at a time (per workspace) and handed to `sender` together,
        e.g. so that the digests due at the same minute are built in one pass over the data. Each row's
        outcome is still recorded on its own, as for a `Sender`. `lease` (default: the dispatcher's) should
        cover building a whole batch."""
        self.batch_senders[kind] = _Batched(sender, size, lease or self.lease)

    def run_once(self, *, max_batches: int = 50, kinds: tuple[str, ...] | None = None, skip: tuple[str, ...] = (),
                 plan: bool = True) -> DispatchStats:
        """Claim and send what is due: every kind, or only `kinds`, or all but `skip` (separate lanes,
        so that slow work such as building digests never holds up reminders and alerts)."""
        stats = DispatchStats()
        if plan and self.before_run is not None:
            try:
                self.before_run()
            except Exception as exc:  # planning must not stop the sending of what is already due
                log.error("planning due work failed: %s", f"{exc.__class__.__name__}: {exc}"[:300], exc_info=not is_unreachable(exc))
        team_ids = self.team_ids()
        batched = [kind for kind in self.batch_senders if (kinds is None or kind in kinds) and kind not in skip]
        for team_id in team_ids:
            for kind in batched:
                batch = self.batch_senders[kind]
                for _ in range(max_batches):
                    claimed = self.claim(team_id, kinds=(kind,), limit=batch.size, lease=batch.lease)
                    if not claimed:
                        break
                    self._tally(stats, self._deliver_batch(batch.sender, claimed))
            for _ in range(max_batches):
                claimed = self.claim(team_id, kinds=kinds, skip=(*skip, *self.batch_senders))
                if not claimed:
                    break
                for outcomes in self._in_parallel(self._deliver_in_turn, self._sequences_of(claimed)):
                    self._tally(stats, outcomes)
        return stats

    def _in_parallel(self, work: Callable, items: list) -> list:
        if self.workers > 1 and len(items) > 1:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(items)), thread_name_prefix="deliver") as pool:
                return list(pool.map(work, items))
        return [work(item) for item in items]

    @staticmethod
    def _tally(stats: DispatchStats, outcomes: list[tuple[str, str | None]]) -> None:
        for label, error in outcomes:
            setattr(stats, label, getattr(stats, label) + 1)
            if error is not None:
                stats.errors.append(error)

    def claim(self, team_id: str, *, kinds: tuple[str, ...] | None = None, skip: tuple[str, ...] = (), limit: int | None = None,
              lease: timedelta | None = None) -> list[Delivery]:
        """Take a lease on a batch of due rows (skipping rows another process holds) and return them."""
        if self.stopping:
            return []
        now = self.clock.now()
        with self.uow(write=True) as uow:
            rows = uow.outbox.claim(team_id, now, owner=self.owner, until=now + (lease or self.lease), limit=limit or self.batch,
                                    kinds=kinds, skip=skip)
            if rows:
                uow.commit()
        return rows

    def _sequences_of(self, claimed: list[Delivery]) -> list[list[Delivery]]:
        """Claimed rows (in due order) split into what may go out side by side: a row on its own, or
        the rows of one sequence in order."""
        sequences: dict[object, list[Delivery]] = {}
        for delivery in claimed:
            name = self.sequences.get(delivery.kind)
            sequences.setdefault(name(delivery) if name is not None else delivery.id, []).append(delivery)
        return list(sequences.values())

    def _deliver_in_turn(self, deliveries: list[Delivery]) -> list[tuple[str, str | None]]:
        return [self._deliver(delivery) for delivery in deliveries]

    def _deliver(self, delivery: Delivery) -> tuple[str, str | None]:
        """Send one claimed row and record the outcome; returns ("sent" | "skipped" | "retried" | "failed", error)."""
        sender = self.senders.get(delivery.kind)
        now = self.clock.now()
        outcome: Outcome | Exception
        # claimed rows have their id (the table's key)
        scope = DeliveryScope(delivery.id, delivery.in_doubt_since, holds_slot=delivery.last_error == PACED)  # type: ignore[arg-type]
        with log_context(team=delivery.team_id, delivery_id=delivery.id):
            try:
                if sender is None:
                    raise LookupError(f"no sender for kind {delivery.kind!r}")
                with delivery_scope(scope):
                    outcome = sender(delivery, now)
            except Exception as exc:
                outcome = exc
            return self._record(delivery, outcome, now, posts=scope.parts)

    def _deliver_batch(self, sender: BatchSender, claimed: list[Delivery]) -> list[tuple[str, str | None]]:
        """Hand claimed rows of one kind to their batch sender together, then record each row's outcome."""
        now = self.clock.now()
        outcomes: list[Outcome | Exception]
        try:
            outcomes = list(sender(claimed, now))
            if len(outcomes) != len(claimed):
                raise RuntimeError(f"the batch sender returned {len(outcomes)} outcomes for {len(claimed)} rows")
        except Exception as exc:  # the whole batch failed: every row is retried
            outcomes = [exc] * len(claimed)
        return self._in_parallel(lambda pair: self._record(pair[0], pair[1], now), list(zip(claimed, outcomes)))

    def _record(self, delivery: Delivery, outcome: Outcome | Exception, now: datetime, *, posts: int = 0) -> tuple[str, str | None]:
        """Record a row's outcome (or the exception that stopped it) and release its claim. `posts`: how
        many of the delivery's posts are, or may be, in Slack after this attempt."""
        values: dict
        error: str | None = None
        then = None
        if isinstance(outcome, Paced):
            # Not an attempt: the row comes back when its channel's slot is due, and keeps that slot.
            values = {"due_at": now + timedelta(seconds=outcome.wait), "last_error": PACED}
        elif isinstance(outcome, Undeliverable):
            error = str(outcome)
            values = self._failure(delivery, error, now, permanent=True)
        elif isinstance(outcome, SlackApiError):
            error = slack_error(outcome)
            wait = retry_after(outcome)
            if wait is not None:
                # Slack asks for patience, the message is fine: not an attempt, never a reason to give up.
                values = {"due_at": now + timedelta(seconds=wait), "last_error": f"ratelimited: retry after {wait}s"}
            else:
                values = self._failure(delivery, error, now, permanent=error in PERMANENT_ERRORS)
        elif isinstance(outcome, Exception) and (outcome_unknown(outcome) or is_unreachable(outcome)):
            # Slack or the database didn't answer: retry later, one line in the log
            error = f"{outcome.__class__.__name__}: {outcome}"[:300]
            values = self._failure(delivery, error, now, permanent=False)
        elif isinstance(outcome, Exception):  # a bug: keep the row, retry later, say why
            error = f"{outcome.__class__.__name__}: {outcome}"[:300]
            log.error("delivery %s (%s) raised", delivery.id, delivery.kind, exc_info=outcome)
            values = self._failure(delivery, error, now, permanent=False)
        elif isinstance(outcome, Sent):
            values = {"status": SENT, "sent_at": now, "channel_id": outcome.channel_id, "message_ts": outcome.message_ts,
                      "attempts": delivery.attempts + 1}
            then = outcome.then
        elif isinstance(outcome, Skip):
            values = {"status": CANCELLED, "last_error": outcome.reason[:300]}
        else:
            values = {"due_at": outcome.at, "last_error": outcome.reason[:300]}
        values.update(claimed_by=None, claimed_until=None)
        if not self._in_doubt(delivery, values, posts):
            values["in_doubt_since"] = None
        try:
            with self.uow(write=True) as uow:
                uow.outbox.settle(delivery, self.owner, values)
                if then is not None:
                    then(uow)
                uow.commit()
        except Exception as exc:
            # The row stays claimed and in doubt: once the lease runs out it is claimed again, and what this
            # attempt posted is found in Slack rather than posted twice.
            log.error("recording the outcome of delivery %s (%s) failed; it is taken up again when its lease expires: %s",
                      delivery.id, delivery.kind, f"{exc.__class__.__name__}: {exc}"[:300], exc_info=not is_unreachable(exc))
            return "retried", f"not recorded: {exc.__class__.__name__}"
        self._measure(delivery, values)
        if error is not None:
            return ("failed" if values.get("status") == FAILED else "retried"), error
        status = values.get("status")
        if values.get("last_error") == PACED:
            return "paced", None
        return ("sent" if status == SENT else "skipped" if status == CANCELLED else "retried"), None

    def _measure(self, delivery: Delivery, values: dict) -> None:
        if self.metrics is None:
            return
        if values.get("status") == SENT:
            first_due = delivery.scheduled_for or delivery.due_at
            if first_due.tzinfo is None:
                first_due = first_due.replace(tzinfo=timezone.utc)
            self.metrics.delivery_lateness.labels(delivery.kind).observe(max(0.0, (values["sent_at"] - first_due).total_seconds()))
        elif values.get("status") == FAILED:
            self.metrics.deliveries_failed.labels(delivery.kind).inc()

    @staticmethod
    def _in_doubt(delivery: Delivery, values: dict, posts: int) -> bool:
        """Whether the row's next attempt must first look in Slack for what was posted: it will be retried,
        and an earlier attempt's outcome is unknown or this attempt's posts are (or may be) in Slack."""
        return values.get("status", PENDING) == PENDING and (delivery.in_doubt_since is not None or posts > 0)

    def _failure(self, delivery: Delivery, error: str, now: datetime, *, permanent: bool) -> dict:
        attempts = delivery.attempts + 1
        if permanent or attempts >= MAX_ATTEMPTS:
            log.error("delivery %s (%s for %s) failed for good after %d attempt(s): %s",
                      delivery.id, delivery.kind, delivery.dedupe_key, attempts, error)
            return {"status": FAILED, "attempts": attempts, "last_error": error[:300]}
        wait = backoff(attempts)
        log.warning("delivery %s (%s) failed (%s); retrying in %s", delivery.id, delivery.kind, error, wait)
        return {"status": PENDING, "attempts": attempts, "last_error": error[:300], "due_at": now + wait}

    def next_due(self, *, kinds: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()) -> datetime | None:
        """When the earliest pending row of these kinds that nobody holds falls due (one index range per workspace)."""
        now = self.clock.now()
        with self.uow() as uow:
            dues = [uow.outbox.next_due(team_id, now, kinds=kinds, skip=skip) for team_id in self.team_ids()]
        return min((due for due in dues if due is not None), default=None)

    def failed_count(self) -> int:
        with self.uow() as uow:
            return sum(uow.outbox.failed_count(team_id) for team_id in self.team_ids())

    def stop_claiming(self) -> None:
        """Claim nothing more (the process is shutting down); the sends in flight go on."""
        self.stopping = True

    def release_held(self) -> int:
        """Hand the rows this dispatcher still holds to whoever claims next, due now rather than when the
        lease runs out: the last step of a shutdown. A row whose send was in flight stays in doubt, so
        the next attempt looks for what was posted first. Returns how many rows were released."""
        now = self.clock.now()
        with self.uow(write=True) as uow:
            released = sum(uow.outbox.release(team_id, self.owner, now) for team_id in self.team_ids())
            uow.commit()
        return released


# Called after a commit that recorded outbox rows: run now, or by `at`.
Wake = Callable[..., None]


class WakeUp:
    """Called after a commit that recorded outbox rows: the delivery lane runs now, or by `at` (a
    follow-up due before the next tick). `oppbot run` connects it to the lane; until then it does nothing."""

    def __init__(self) -> None:
        self.target: Callable[[datetime | None], None] | None = None

    def __call__(self, at: datetime | None = None) -> None:
        if self.target is not None:
            self.target(at)
