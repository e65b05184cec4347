"""The per-channel pacer (pure) and the scheduler waking up for the next due row."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.domain.clock import FakeClock
from bot.outbox.dispatcher import DispatchStats
from bot.slack.pacing import ChannelPacer, DeliveryScope, Paced, delivery_scope


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
    with delivery_scope(DeliveryScope(1, None, holds_slot=False)):
        pacer.before_post("D1")  # the channel's first slot
        pacer.before_post("D1")  # the same delivery's second message goes with the first
    with delivery_scope(DeliveryScope(1, None, holds_slot=False)), pytest.raises(Paced) as paced:
        pacer.before_post("D1")
    assert paced.value.wait == pytest.approx(1.0)
    time.now += 1.0
    with delivery_scope(DeliveryScope(1, None, holds_slot=True)):
        pacer.before_post("D1")  # the put-back row posts in the slot it was given
    with delivery_scope(DeliveryScope(1, None, holds_slot=False)), pytest.raises(Paced):
        pacer.before_post("D1")


class StubDispatcher:
    def __init__(self, clock: FakeClock, next_due: datetime | None) -> None:
        self.clock = clock
        self._next_due = next_due
        self.runs = 0
        self.ran = threading.Event()

    def run_once(self, **lane) -> DispatchStats:
        self.runs += 1
        self.ran.set()
        return DispatchStats()

    def next_due(self, *, kinds=None, skip=()) -> datetime | None:
        return self._next_due


@pytest.mark.parametrize("due_in, wait", [(timedelta(seconds=2), 2.0), (timedelta(seconds=-5), 0.0), (timedelta(hours=2), 30.0), (None, 30.0)])
def test_a_lane_sleeps_until_the_next_row_falls_due_at_most_a_tick(due_in, wait):
    from bot.outbox.scheduler import sleep_for

    now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    assert sleep_for(now + due_in if due_in is not None else None, now, 30) == wait


def test_wake_ups_run_the_lane_at_once_or_bring_its_next_run_forward():
    from bot.outbox.scheduler import DeliveryLane

    clock = FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    dispatcher = StubDispatcher(clock, next_due=None)
    lane = DeliveryLane(dispatcher, "deliveries", {}, tick_seconds=3600)  # type: ignore[arg-type]  # the stub stands in for a Dispatcher
    tick = clock.now() + timedelta(hours=1)
    lane.start()
    try:
        assert lane.wait_asleep(tick) and dispatcher.runs == 1  # the first run is at start-up, then a tick's sleep
        for expected in (2, 3):
            dispatcher.ran.clear()
            lane.wake()  # an alert was recorded: no waiting for the hour-long tick
            assert dispatcher.ran.wait(5) and lane.wait_asleep(tick) and dispatcher.runs == expected
        follow_up_due = clock.now() + timedelta(minutes=10)
        settled = lane.settled
        lane.wake(follow_up_due)  # a follow-up due before the tick: the next run moves forward, nothing runs now
        assert lane.wait_asleep(follow_up_due, after=settled) and dispatcher.runs == 3
        settled = lane.settled
        lane.wake(clock.now() + timedelta(minutes=30))  # a later one can't push it back
        assert lane.wait_asleep(follow_up_due, after=settled) and dispatcher.runs == 3
    finally:
        lane.stop()
    assert lane.sleeping_until is None
