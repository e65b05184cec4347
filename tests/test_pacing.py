"""The per-channel pacer (pure) and the scheduler waking up for the next due row."""

from __future__ import annotations

import threading
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
        self.runs = 0
        self.clock = type("Clock", (), {"now": staticmethod(lambda: datetime.now(timezone.utc))})()
        self.ran = threading.Event()

    def run_once(self, **lane) -> DispatchStats:
        self.runs += 1
        self.ran.set()
        return DispatchStats()

    def next_due(self, *, kinds=None, skip=()) -> datetime | None:
        return self._next_due


@pytest.mark.parametrize("due_in, wait", [(timedelta(seconds=2), 2.0), (timedelta(seconds=-5), 0.0), (timedelta(hours=2), 30.0), (None, 30.0)])
def test_a_lane_sleeps_until_the_next_row_falls_due_at_most_a_tick(due_in, wait):
    from bot.scheduler import sleep_for

    now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    assert sleep_for(now + due_in if due_in is not None else None, now, 30) == wait


def test_a_wake_up_during_a_run_or_a_sleep_makes_the_lane_run_again_at_once():
    from bot.scheduler import DeliveryLane

    dispatcher = StubDispatcher(next_due=None)
    lane = DeliveryLane(dispatcher, "deliveries", {}, tick_seconds=3600)  # type: ignore[arg-type]
    lane.start()
    try:
        assert dispatcher.ran.wait(5)  # the first run is at start-up
        for expected in (2, 3):
            dispatcher.ran.clear()
            lane.wake()  # an alert was recorded: no waiting for the hour-long tick
            assert dispatcher.ran.wait(5) and dispatcher.runs == expected
        dispatcher.ran.clear()
        lane.wake(datetime.now(timezone.utc) + timedelta(hours=1))  # for later (still before the tick): no run now
        assert not dispatcher.ran.wait(0.3)
        lane.wake(datetime.now(timezone.utc) + timedelta(milliseconds=200))  # a follow-up due in 0.2 s
        assert dispatcher.ran.wait(5) and dispatcher.runs == 4
    finally:
        lane.stop()
