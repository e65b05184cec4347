"""The interval jobs per process that drain due deliveries, and a daily housekeeping job.

The durable state is the `delivery` table, not APScheduler's job store (which can't be shared
between processes): the job only asks the dispatcher to claim and send what is due.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.delivery import Dispatcher
from bot.digest import DIGEST

log = logging.getLogger(__name__)
JOB_ID = "deliveries"
SLOW_JOB_ID = "digests"
DAILY_JOB_ID = "daily"
SLOW_KINDS = (DIGEST,)  # building a digest runs a dozen aggregates: it has a lane of its own


def build_scheduler(dispatcher: Dispatcher, tick_seconds: float, *, daily: Callable[[], object] | None = None) -> BackgroundScheduler:
    """Two lanes on their own threads: quick deliveries (reminders, alerts, posts) and digest building;
    and `daily` (refreshing SQLite's planner statistics), once a day from a day after start-up."""
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    for job_id, lane in ((JOB_ID, {"skip": SLOW_KINDS, "plan": False}), (SLOW_JOB_ID, {"kinds": SLOW_KINDS})):
        scheduler.add_job(
            _tick, IntervalTrigger(seconds=tick_seconds), args=[dispatcher, lane, scheduler, job_id], id=job_id,
            max_instances=1, coalesce=True, misfire_grace_time=None,  # a late tick still runs: nothing is dropped
        )
    if daily is not None:
        scheduler.add_job(_daily, IntervalTrigger(days=1), args=[daily], id=DAILY_JOB_ID, max_instances=1, coalesce=True)
    return scheduler


def _daily(job: Callable[[], object]) -> None:
    try:
        job()
    except Exception:  # tomorrow's run tries again
        log.exception("daily job failed")


def wake(scheduler: BackgroundScheduler, at: datetime | None = None) -> None:
    """Run the delivery job now (after a commit that recorded alerts), or at `at` (a new follow-up's
    due time), when that is before its next tick."""
    _wake_at(scheduler, JOB_ID, at or datetime.now(timezone.utc))


def _wake_at(scheduler: BackgroundScheduler, job_id: str, when: datetime | None) -> None:
    job = scheduler.get_job(job_id)
    current = getattr(job, "next_run_time", None)  # None: paused, or the scheduler is not started
    if job is None or when is None or current is None or current <= when:
        return
    job.modify(next_run_time=when)


def _tick(dispatcher: Dispatcher, lane: dict, scheduler: BackgroundScheduler | None = None, job_id: str | None = None) -> None:
    try:
        stats = dispatcher.run_once(**lane)
        if scheduler is not None and job_id is not None:
            # Between ticks, wake up when the next row falls due: a reminder due in 2 s (or a row the
            # pacer put back for 1 s) shouldn't wait for the next tick.
            _wake_at(scheduler, job_id, dispatcher.next_due(kinds=lane.get("kinds"), skip=lane.get("skip", ())))
    except Exception:  # keep ticking: the next run picks the work up again
        log.exception("delivery tick failed")
        return
    if stats.sent or stats.failed or stats.retried or stats.paced:
        log.info("deliveries: %d sent, %d skipped, %d retrying, %d failed, %d paced", stats.sent, stats.skipped, stats.retried,
                 stats.failed, stats.paced)
