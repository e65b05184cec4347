"""The per-channel pacer (pure) and the scheduler waking up for the next due row."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.delivery import DispatchStats
from bot.pacing import ChannelPacer, Paced, delivery_scope


class Ticking:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_three_goes_at_once_then_one_slot_a_second():
    time = Ticking()
    pacer = ChannelPacer(time, rate=1.0, burst=3)
    assert [pacer.reserve("D1") for _ in range(6)] == [0, 0, 0, 1.0, 2.0, 3.0]
    assert pacer.reserve("C2") == 0  # channels don't share slots
    time.now += 10  # idle for a while: the burst is back
    assert [pacer.reserve("D1") for _ in range(4)] == [0, 0, 0, 1.0]


def test_a_429_holds_the_channel_back_for_retry_after():
    time = Ticking()
    pacer = ChannelPacer(time, rate=1.0, burst=3)
    pacer.hold_off("D1", 5)
    assert pacer.reserve("D1") == pytest.approx(5.0)
    assert pacer.reserve("D2") == 0


def test_only_a_deliverys_first_post_is_paced_and_a_held_slot_is_not_taken_twice():
    time = Ticking()
    pacer = ChannelPacer(time, rate=1.0, burst=1)
    pacer.before_post("D1")  # not inside a delivery (a user's click): never held back
    pacer.before_post("D1")
    with delivery_scope(holds_slot=False):
        pacer.before_post("D1")  # the channel's first slot
        pacer.before_post("D1")  # the same delivery's second message goes with the first
    with delivery_scope(holds_slot=False), pytest.raises(Paced) as paced:
        pacer.before_post("D1")
    assert paced.value.wait == pytest.approx(1.0)
    time.now += 1.0
    with delivery_scope(holds_slot=True):
        pacer.before_post("D1")  # the put-back row posts in the slot it was given
    with delivery_scope(holds_slot=False), pytest.raises(Paced):
        pacer.before_post("D1")


class StubDispatcher:
    def __init__(self, next_due: datetime | None) -> None:
        self._next_due = next_due
        self.lanes: list[dict] = []

    def run_once(self, **lane) -> DispatchStats:
        self.lanes.append(lane)
        return DispatchStats()

    def next_due(self, *, kinds=None, skip=()) -> datetime | None:
        return self._next_due


@pytest.mark.parametrize("due_in, wakes", [(timedelta(seconds=2), True), (timedelta(hours=2), False), (None, False)])
def test_after_a_tick_the_delivery_job_wakes_when_the_next_row_falls_due(due_in, wakes):
    from bot.scheduler import JOB_ID, _tick, build_scheduler

    now = datetime.now(timezone.utc)
    dispatcher = StubDispatcher(now + due_in if due_in is not None else None)
    scheduler = build_scheduler(dispatcher, 3600)  # type: ignore[arg-type]
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(JOB_ID)
        job.modify(next_run_time=now + timedelta(hours=1))
        _tick(dispatcher, {"skip": ("digest",), "plan": False}, scheduler, JOB_ID)  # type: ignore[arg-type]
        expected = now + due_in if wakes else now + timedelta(hours=1)
        assert scheduler.get_job(JOB_ID).next_run_time == expected
    finally:
        scheduler.shutdown(wait=False)
