"""Fair shares of the after-ack threads: a burst from one person holds only a few of them, so everyone
else's work — a modal whose trigger_id lasts 3 s — starts at once instead of queueing behind it."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from slack_bolt import BoltContext

# A burst keeps some parallelism of its own while 12 of the 16 threads stay free for everyone else:
# it takes four people bursting at the same moment to fill the pool.
THREADS_PER_REQUESTER = 4

# Requests that name no user (some events, a malformed payload) share one share between them.
ANONYMOUS: Hashable = "anonymous"

_requester: ContextVar[Hashable] = ContextVar("requester", default=ANONYMOUS)

P = ParamSpec("P")
T = TypeVar("T")


@contextmanager
def requested_by(requester: Hashable) -> Iterator[None]:
    """Tasks submitted inside this block count against `requester`'s share."""
    token = _requester.set(requester)
    try:
        yield
    finally:
        _requester.reset(token)


def remember_requester(context: BoltContext, next: Callable[[], None]) -> None:
    """Bolt global middleware: the lazy listeners this request starts count against its sender.

    Bolt runs the global middleware, the ack listener and then submits the lazy listeners in the
    request's own thread (App.dispatch, ThreadListenerRunner.run, ThreadLazyListenerRunner.start), so
    `FairExecutor.submit` sees what is set here. A global middleware returns before the listeners
    run, so nothing can reset it afterwards; no need: the HTTP server runs each dispatch in a copy of
    the context, and in Socket Mode the next request through a thread sets its own before it submits.
    Bolt has read the ids from the body already (team_id or team.id, user_id or user.id, the event's
    user) and leaves each unset when the payload lacks it."""
    _requester.set((context.team_id, context.user_id) if context.user_id else ANONYMOUS)
    next()


class _Task:
    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.future: Future[Any] = Future()
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return  # cancelled while it waited for its turn
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # as ThreadPoolExecutor does: the caller sees it in the future
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class FairExecutor(Executor):
    """Runs each requester's tasks at most `per_requester` at a time on `max_workers` threads, taking
    the requesters in turn, so a burst from one requester waits behind its own tasks and not in front
    of anyone else's.

    The requester of a task is whoever the submitting context names (`remember_requester` in a Bolt
    dispatch, `requested_by` elsewhere; ANONYMOUS otherwise). The threads come from a
    ThreadPoolExecutor, each running a loop that takes the next task in turn and ends when no waiting
    task may start. So the threads start only when they are needed, and at interpreter exit they
    finish the waiting work the way Bolt's default pool does.
    """

    def __init__(self, max_workers: int, per_requester: int = THREADS_PER_REQUESTER, *, thread_name_prefix: str = "") -> None:
        if max_workers < 1 or per_requester < 1:
            raise ValueError("max_workers and per_requester must be at least 1")
        self._max_workers = max_workers
        self._per_requester = per_requester
        self._threads = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._state = threading.Condition()  # guards what follows; notified when the last loop ends
        self._waiting: dict[Hashable, deque[_Task]] = {}
        self._running: Counter[Hashable] = Counter()
        # The requesters whose next task may start now (one waits, their share has room), in the order
        # they get a thread. A requester who just got one goes to the back.
        self._turns: deque[Hashable] = deque()
        self._loops = 0  # started and not yet ended; never more than max_workers
        self._shut_down = False

    @property
    def max_workers(self) -> int:
        return self._max_workers

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        requester = _requester.get()
        task = _Task(fn, args, kwargs)
        with self._state:
            if self._shut_down:
                raise RuntimeError("cannot schedule new futures after shutdown")
            waiting = self._waiting.setdefault(requester, deque())
            waiting.append(task)
            if len(waiting) == 1 and self._running[requester] < self._per_requester:
                self._turns.append(requester)
            # Every task that may start has a loop coming for it: one started here while a thread is
            # free, or else the next loop to finish a task, which takes the next one before it ends.
            if self._turns and self._loops < self._max_workers:
                self._start_loop()
        return task.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Accept no more tasks; the waiting ones still run unless `cancel_futures`. With `wait`,
        return once every task has finished and the threads have ended."""
        with self._state:
            self._shut_down = True
            if cancel_futures:
                for waiting in self._waiting.values():
                    for task in waiting:
                        task.future.cancel()
                self._waiting.clear()
                self._turns.clear()
            while wait and self._loops:
                self._state.wait()
        # Without `wait`, the loops already running still take the waiting tasks; no new ones start.
        self._threads.shutdown(wait=wait)

    def _start_loop(self) -> None:
        try:
            self._threads.submit(self._serve)
        except RuntimeError:
            # Only once the interpreter is exiting (shutdown() stops submit() before the pool): the
            # loops still running take the task in turn, and with none left it goes with the process.
            return
        self._loops += 1

    def _serve(self) -> None:
        while True:
            with self._state:
                if not self._turns:
                    self._loops -= 1
                    if not self._loops:
                        self._state.notify_all()
                    return
                requester = self._turns.popleft()
                waiting = self._waiting[requester]
                task = waiting.popleft()
                self._running[requester] += 1
                if not waiting:
                    del self._waiting[requester]
                elif self._running[requester] < self._per_requester:
                    self._turns.append(requester)
            try:
                task.run()
            finally:
                with self._state:
                    self._finished(requester)

    def _finished(self, requester: Hashable) -> None:
        self._running[requester] -= 1
        if requester in self._waiting and self._running[requester] == self._per_requester - 1:
            self._turns.append(requester)  # their share was full: a thread of it is free again
        if not self._running[requester]:
            del self._running[requester]
