"""The loops per process that drain due deliveries, and a daily housekeeping job.

The durable state is the `delivery` table, not a job store (APScheduler's can't be shared between
processes): a loop only asks the dispatcher to claim and send what is due. There are two lanes,
each a thread of its own, so that building digests never holds up reminders and alerts. A lane
runs at start-up (what fell due while the bot was down goes out at once), then sleeps until the
next pending row falls due, the tick passes, or it is woken (a commit recorded an alert, a
follow-up due before the next tick). A wake-up during a run makes the loop run again right after
it: nothing waits for the next tick because a run was in progress.

Shutting down, the lanes stop claiming at once, the sends in flight get a grace to finish, and what
is still held after it is handed back (due now) rather than left to its lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.digests.service import DIGEST
from bot.outbox.dispatcher import Dispatcher
from bot.reports.service import EXPORT
from storage.db import is_unreachable

log = logging.getLogger(__name__)
JOB_ID = "deliveries"
SLOW_JOB_ID = "digests"
DAILY_JOB_ID = "daily"
# Building a digest runs a dozen aggregates, an export reads every deal: they have a lane of their own.
SLOW_KINDS = (DIGEST, EXPORT)


def sleep_for(next_due: datetime | None, now: datetime, tick_seconds: float) -> float:
    """Seconds to wait before the next run: until the next row is due, at most one tick."""
    if next_due is None:
        return tick_seconds
    return min(tick_seconds, max(0.0, (next_due - now).total_seconds()))


class DeliveryLane:
    def __init__(self, dispatcher: Dispatcher, name: str, lane: dict, tick_seconds: float) -> None:
        self.dispatcher = dispatcher
        self.name = name
        self.lane = lane
        self.tick_seconds = tick_seconds
        self._woken = threading.Event()
        self._stopping = threading.Event()
        self._wake_at: datetime | None = None
        self._wake_now = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # when the loop will run next if nothing wakes it (None while it runs)
        self.sleeping_until: datetime | None = None
        self.settled = 0  # how many times the loop has (re)computed when to run next
        self._state = threading.Condition()
        self._database_lost = False

    def run_once(self) -> float:
        """One run of the lane; returns how long to wait before the next."""
        try:
            stats = self.dispatcher.run_once(**self.lane)
            if stats.sent or stats.failed or stats.retried or stats.paced:
                log.info("deliveries: %d sent, %d skipped, %d retrying, %d failed, %d paced", stats.sent, stats.skipped,
                         stats.retried, stats.failed, stats.paced)
            next_due = self.dispatcher.next_due(kinds=self.lane.get("kinds"), skip=self.lane.get("skip", ()))
        except Exception as exc:  # keep going: the next run picks the work up again
            if not is_unreachable(exc):
                log.exception("delivery run (%s) failed", self.name)
            elif not self._database_lost:  # one line per outage, not one traceback per tick
                log.warning("delivery lane %s: the database can't be reached (%s); deliveries wait for it", self.name,
                            str(exc).splitlines()[0][:200])
                self._database_lost = True
            return self.tick_seconds
        if self._database_lost:
            log.warning("delivery lane %s: the database answers again", self.name)
            self._database_lost = False
        now = self.dispatcher.clock.now()
        with self._lock:
            # a wake-up for later that came during this run (its row may be newer than next_due's read)
            if self._wake_at is not None and self._wake_at > now and (next_due is None or self._wake_at < next_due):
                next_due = self._wake_at
            self._wake_at = None
        return sleep_for(next_due, now, self.tick_seconds)

    def wake(self, at: datetime | None = None) -> None:
        """Run now, or by `at` (when that is before the lane would run anyway)."""
        with self._lock:
            if at is None or at <= self.dispatcher.clock.now():
                self._wake_now = True
            else:
                self._wake_at = at if self._wake_at is None else min(self._wake_at, at)
        self._woken.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"lane-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stopping.set()
        self._woken.set()
        if wait:
            self.join(timeout=60)

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the loop to end; returns whether it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        clock = self.dispatcher.clock
        while not self._stopping.is_set():
            self._woken.clear()
            deadline = clock.now() + timedelta(seconds=self.run_once())
            # Sleep until the deadline; a wake-up for now ends the sleep (one during the run, at once),
            # a wake-up for later can only bring the deadline forward.
            while not self._stopping.is_set():
                self._sleeping(deadline)
                remaining = (deadline - clock.now()).total_seconds()
                if remaining <= 0 or not self._woken.wait(remaining):
                    break
                self._woken.clear()
                with self._lock:
                    immediate, at, self._wake_now = self._wake_now, self._wake_at, False
                if immediate:
                    break
                if at is not None:
                    deadline = min(deadline, at)
            self._sleeping(None)
        log.debug("lane %s stopped", self.name)

    def _sleeping(self, until: datetime | None) -> None:
        with self._state:
            self.sleeping_until = until
            self.settled += 1
            self._state.notify_all()

    def wait_asleep(self, until: datetime, *, after: int = 0, timeout: float = 5.0) -> bool:
        """Wait until the loop, having settled more than `after` times, sleeps with this deadline
        (how tests and diagnostics see it settle)."""
        with self._state:
            return self._state.wait_for(lambda: self.settled > after and self.sleeping_until == until, timeout)


class Scheduler:
    """The two delivery lanes and, when given, a daily job; `wake` is for the quick lane."""

    def __init__(self, lanes: dict[str, DeliveryLane], daily: BackgroundScheduler | None) -> None:
        self.lanes = lanes
        self.daily = daily
        self._stopping_since: float | None = None  # time.monotonic() when stop_claiming was first called

    def start(self) -> None:
        for lane in self.lanes.values():
            lane.start()
        if self.daily is not None:
            self.daily.start()

    def stop_claiming(self) -> None:
        """The first step of a shutdown, at once: no lane claims anything more, and each ends its loop when
        its sends in flight are done. The grace of `shutdown` counts from the first call."""
        if self._stopping_since is not None:
            return
        self._stopping_since = time.monotonic()
        for dispatcher in self._dispatchers():
            dispatcher.stop_claiming()
        for lane in self.lanes.values():
            lane.stop(wait=False)
        if self.daily is not None:
            self.daily.shutdown(wait=False)

    def shutdown(self, grace: float) -> bool:
        """Stop claiming (if not yet), give the sends in flight until `grace` seconds after that to finish,
        then hand every row still held back to the next claimer, due now: another process, or this one
        restarted, sends it at once instead of when the lease runs out. Returns whether every lane ended
        in time (if not, their sends are still waiting on Slack in worker threads)."""
        self.stop_claiming()
        assert self._stopping_since is not None
        deadline = self._stopping_since + grace
        ended = [lane.join(max(0.0, deadline - time.monotonic())) for lane in self.lanes.values()]
        for dispatcher in self._dispatchers():
            try:
                released = dispatcher.release_held()
            except Exception:  # the database is gone: the rows wait out their lease instead
                log.exception("could not hand back the deliveries this process holds; they are sent when their lease runs out")
                continue
            if released:
                log.info("handed back %d delivery(ies) still in progress to the next process", released)
        return all(ended)

    def _dispatchers(self) -> list[Dispatcher]:
        return list(dict.fromkeys(lane.dispatcher for lane in self.lanes.values()))

    def wake(self, at: datetime | None = None) -> None:
        """Run the quick lane now (after a commit that recorded alerts), or by `at` (a new follow-up's due time)."""
        self.lanes[JOB_ID].wake(at)


def build_scheduler(dispatcher: Dispatcher, tick_seconds: float, *, daily: Callable[[], object] | None = None) -> Scheduler:
    """Quick deliveries (reminders, alerts, posts) and digest building in two lanes; and `daily`
    (refreshing SQLite's planner statistics), once a day from a day after start-up."""
    lanes = {
        JOB_ID: DeliveryLane(dispatcher, JOB_ID, {"skip": SLOW_KINDS, "plan": False}, tick_seconds),
        SLOW_JOB_ID: DeliveryLane(dispatcher, SLOW_JOB_ID, {"kinds": SLOW_KINDS}, tick_seconds),
    }
    housekeeping = None
    if daily is not None:
        housekeeping = BackgroundScheduler()
        housekeeping.add_job(_daily, IntervalTrigger(days=1), args=[daily], id=DAILY_JOB_ID, max_instances=1, coalesce=True)
    return Scheduler(lanes, housekeeping)


def _daily(job: Callable[[], object]) -> None:
    try:
        job()
    except Exception:  # tomorrow's run tries again
        log.exception("daily job failed")
