"""One person's burst never delays another person's work after the ack: each requester gets at most a
share of the after-ack threads, and requesters take them in turn (handlers/fairness.py)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator

import pytest

from bot.slack.ids import HOME_NEW_BUTTON, NEW_MODAL
from handlers.fairness import THREADS_PER_REQUESTER, FairExecutor, requested_by

A, B = ("T0TEST", "U0REP1"), ("T0TEST", "U0REP2")
BURST = 40


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s")
        time.sleep(0.005)


class HeldTasks:
    """Tasks that note when they start, and by whom, then wait for the gate to open."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self._changed = threading.Condition()
        self.started: list[str] = []
        self.running: Counter[Hashable] = Counter()
        self.most_at_once: Counter[Hashable] = Counter()

    def task(self, requester: Hashable, label: str = "") -> Callable[[], str]:
        def run() -> str:
            with self._changed:
                self.started.append(label)
                self.running[requester] += 1
                self.most_at_once[requester] = max(self.most_at_once[requester], self.running[requester])
                self._changed.notify_all()
            try:
                assert self.gate.wait(timeout=10), "the gate never opened"
            finally:
                with self._changed:
                    self.running[requester] -= 1
            return label

        return run

    def wait_started(self, count: int, timeout: float = 5.0) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.started) >= count, timeout), f"{len(self.started)} of {count} started"


@pytest.fixture
def executor() -> Iterator[FairExecutor]:
    executor = FairExecutor(16, per_requester=4, thread_name_prefix="fair-test")
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


def submit_as(executor: FairExecutor, requester: Hashable, fn: Callable[[], object]):
    with requested_by(requester):
        return executor.submit(fn)


def worker_threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


# ----- the executor ------------------------------------------------------------------------------

def test_a_burst_holds_at_most_its_share_and_someone_else_starts_at_once(executor):
    held = HeldTasks()
    burst = [submit_as(executor, A, held.task(A)) for _ in range(BURST)]
    held.wait_started(4)
    other = submit_as(executor, B, held.task(B, "B"))
    held.wait_started(5)  # B's task runs while A's burst holds its four threads
    assert held.running == Counter({A: 4, B: 1})
    held.gate.set()
    assert other.result(timeout=5) == "B"
    assert [f.result(timeout=10) for f in burst] == [""] * BURST
    assert held.most_at_once[A] == 4


def test_bursts_from_many_fill_every_thread_and_the_next_requester_starts_when_one_is_free(executor):
    held = HeldTasks()
    bursters = [("T0TEST", f"U{n}") for n in range(4)]
    for who in bursters:
        for _ in range(10):
            submit_as(executor, who, held.task(who))
    held.wait_started(16)
    late = submit_as(executor, B, lambda: "late")
    assert not late.done()  # all 16 threads are held: four shares of four
    assert len(worker_threads("fair-test")) == 16
    held.gate.set()
    assert late.result(timeout=5) == "late"
    assert all(held.most_at_once[who] == 4 for who in bursters)
    executor.shutdown(wait=True)
    assert len(worker_threads("fair-test")) == 0


@pytest.mark.parametrize("per_requester", [1, 2])
def test_requesters_take_the_threads_in_turn(per_requester):
    executor = FairExecutor(1, per_requester=per_requester)
    held = HeldTasks()
    blocker = submit_as(executor, "G", held.task("G", "G"))
    held.wait_started(1)
    order: list[str] = []
    for requester, label in (("A", "A1"), ("A", "A2"), ("A", "A3"), ("B", "B1"), ("B", "B2"), ("C", "C1")):
        submit_as(executor, requester, lambda label=label: order.append(label))
    held.gate.set()
    blocker.result(timeout=5)
    executor.shutdown(wait=True)
    assert order == ["A1", "B1", "C1", "A2", "B2", "A3"]


def test_tasks_without_a_requester_share_one_share(executor):
    held = HeldTasks()
    futures = [executor.submit(held.task("nobody")) for _ in range(10)]
    held.wait_started(4)
    assert submit_as(executor, B, lambda: "B").result(timeout=5) == "B"
    held.gate.set()
    for future in futures:
        future.result(timeout=5)
    assert held.most_at_once["nobody"] == 4


def test_a_future_carries_the_result_or_the_exception_and_a_failure_stops_nothing():
    executor = FairExecutor(1, per_requester=1)

    def fail() -> None:
        raise ValueError("boom")

    failed = submit_as(executor, A, fail)
    after = submit_as(executor, A, lambda: 42)
    assert after.result(timeout=5) == 42
    assert isinstance(failed.exception(timeout=5), ValueError)
    with pytest.raises(ValueError, match="boom"):
        failed.result()
    assert list(executor.map(lambda n: n * 2, range(5))) == [0, 2, 4, 6, 8]
    called: list[object] = []
    submit_as(executor, A, lambda: "x").add_done_callback(lambda f: called.append(f.result()))
    executor.shutdown(wait=True)
    assert called == ["x"]


def test_a_task_cancelled_while_it_waits_never_runs_and_frees_its_turn():
    executor = FairExecutor(1, per_requester=1)
    held = HeldTasks()
    blocker = submit_as(executor, A, held.task(A))
    held.wait_started(1)
    ran: list[str] = []
    cancelled = submit_as(executor, A, lambda: ran.append("cancelled"))
    after = submit_as(executor, A, lambda: ran.append("after"))
    assert cancelled.cancel()
    held.gate.set()
    blocker.result(timeout=5)
    after.result(timeout=5)
    assert cancelled.cancelled() and ran == ["after"]
    executor.shutdown()


def test_shutdown_waits_for_the_waiting_tasks_then_refuses_new_ones(executor):
    held = HeldTasks()
    futures = [submit_as(executor, A, held.task(A)) for _ in range(8)]
    held.wait_started(4)
    shutting = threading.Thread(target=executor.shutdown, kwargs={"wait": True})
    shutting.start()
    shutting.join(timeout=0.2)
    assert shutting.is_alive()  # four tasks run and four wait: shutdown waits for all eight
    with pytest.raises(RuntimeError):
        executor.submit(lambda: None)
    held.gate.set()
    shutting.join(timeout=5)
    assert not shutting.is_alive()
    assert all(f.done() and not f.cancelled() for f in futures)
    assert worker_threads("fair-test") == []


def test_shutdown_can_cancel_the_waiting_tasks(executor):
    held = HeldTasks()
    futures = [submit_as(executor, A, held.task(A)) for _ in range(8)]
    held.wait_started(4)
    held.gate.set()  # the four running finish; the four waiting are cancelled before they start
    executor.shutdown(wait=True, cancel_futures=True)
    assert sum(f.cancelled() for f in futures) + len(held.started) == 8
    assert all(f.done() for f in futures) and len(held.started) >= 4


def test_shutdown_without_wait_returns_at_once_and_the_waiting_tasks_still_run(executor):
    held = HeldTasks()
    futures = [submit_as(executor, A, held.task(A)) for _ in range(8)] + [submit_as(executor, B, held.task(B))]
    held.wait_started(5)
    executor.shutdown(wait=False)
    assert not any(f.done() for f in futures)
    held.gate.set()
    assert [f.result(timeout=5) for f in futures] == [""] * 9


# ----- through Slack -----------------------------------------------------------------------------

def test_one_users_burst_never_delays_another_users_modal(slack):
    """A's 40 `/opp list` replies wait on a slow Slack; meanwhile B's `/opp new` and New opportunity
    button open their forms within the trigger's 3 seconds, while Slack still holds A's replies."""
    release = threading.Event()
    slack.fake.hang_next("response_url", release=release, times=BURST)
    try:
        for _ in range(BURST):
            assert slack.command("list", user="U0REP1", wait=False).status == 200
        slack.fake.wait_hanging(lambda n: n >= THREADS_PER_REQUESTER)
        assert slack.command("new Beta rollout", user="U0REP2", wait=False).status == 200
        assert slack.click(HOME_NEW_BUTTON, user="U0REP2", home=True, wait=False).status == 200
        opened = slack.fake.wait_for("views.open", count=2, timeout=3)
        assert slack.fake.hanging == THREADS_PER_REQUESTER  # A's replies are still held, and only A's share of them
    finally:
        release.set()
    slack.executor.drain()

    assert [c.response["ok"] for c in opened] == [True, True]
    assert [c.params["view"]["callback_id"] for c in opened] == [NEW_MODAL, NEW_MODAL]
    replies = slack.responses()
    assert len(replies) == BURST and {r["text"] for r in replies} == {"0 open opportunities"}
    assert len(slack.fake.calls("views.open")) == 2
