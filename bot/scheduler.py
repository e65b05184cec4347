"""The one interval job per process that drains due deliveries.

The durable state is the `delivery` table, not APScheduler's job store (which can't be shared
between processes): the job only asks the dispatcher to claim and send what is due.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.delivery import Dispatcher

log = logging.getLogger(__name__)
JOB_ID = "deliveries"


def build_scheduler(dispatcher: Dispatcher, tick_seconds: float) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    scheduler.add_job(
        _tick, IntervalTrigger(seconds=tick_seconds), args=[dispatcher], id=JOB_ID,
        max_instances=1, coalesce=True, misfire_grace_time=None,  # a late tick still runs: nothing is dropped
    )
    return scheduler


def wake(scheduler: BackgroundScheduler) -> None:
    """Run the delivery job now (after a commit that recorded alerts) instead of at the next tick."""
    job = scheduler.get_job(JOB_ID)
    if job is not None:
        job.modify(next_run_time=datetime.now(timezone.utc))


def _tick(dispatcher: Dispatcher) -> None:
    try:
        stats = dispatcher.run_once()
    except Exception:  # keep ticking: the next run picks the work up again
        log.exception("delivery tick failed")
        return
    if stats.sent or stats.failed or stats.retried:
        log.info("deliveries: %d sent, %d skipped, %d retrying, %d failed", stats.sent, stats.skipped, stats.retried, stats.failed)
