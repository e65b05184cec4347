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
            _tick, IntervalTrigger(seconds=tick_seconds), args=[dispatcher, lane], id=job_id,
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


def wake(scheduler: BackgroundScheduler) -> None:
    """Run the delivery job now (after a commit that recorded alerts) instead of at the next tick."""
    job = scheduler.get_job(JOB_ID)
    if job is not None:
        job.modify(next_run_time=datetime.now(timezone.utc))


def _tick(dispatcher: Dispatcher, lane: dict) -> None:
    try:
        stats = dispatcher.run_once(**lane)
    except Exception:  # keep ticking: the next run picks the work up again
        log.exception("delivery tick failed")
        return
    if stats.sent or stats.failed or stats.retried:
        log.info("deliveries: %d sent, %d skipped, %d retrying, %d failed", stats.sent, stats.skipped, stats.retried, stats.failed)
