"""10,000 reminders due in the same minute, sent by the real Dispatcher to a rate-limited fake Slack.

    .venv/bin/python bench/bench_reminders.py                      # both scenarios, PostgreSQL oppbot_bench_reminders
    .venv/bin/python bench/bench_reminders.py --scenario many      # one of them
    .venv/bin/python bench/bench_reminders.py --db sqlite

Per scenario: a fresh database; FollowUp + Delivery rows inserted directly (as
tests/test_followups.py does), due over one minute starting a few seconds after the insert;
then `oppbot run` (the production entry point, in its own process, OPPBOT_TICK_SECONDS=0.2)
sends them to a FakeSlack in this process that allows about one chat.postMessage per second
per channel with a small burst (429 + Retry-After beyond that). Slack is outside the app's
process, as in production: in one process the fake's accept loop (a thread per connection)
competed with the dispatcher for the GIL and became the bottleneck.

  many: 10,000 reminders to 2,000 reps (5 each, 12 s apart): the rate limit does not bind.
  few:  10 reps, where the limit binds. At 1 message/s per channel 10,000 reminders to 10 reps
        take at least 1,000 s, so the default is 1,200 (120 per rep, twice what the limit allows
        in the minute: ideally the last goes out ~120 s after the first is due); --few-reminders
        changes it (and --cap-seconds how long to wait).

Printed per scenario: throughput (messages/s), lateness (sent - due) p50/p99/max, the lateness
beyond what the rate limit forces (against an ideal sender that sends each message the moment
its channel's token bucket allows), duplicates and losses counted per follow-up in the fake,
what the database says (sent/failed/pending), the 429s and other calls; and the ceiling: the same
number of chat.postMessage calls made directly with slack_sdk to the same fake in one loop.
Target: p99 lateness under 2 s when the rate limit allows it (scenario many; for few, the
lateness beyond the ideal).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ack import (  # bench_ack puts the repository on sys.path
    BOT_TOKEN,
    ROOT,
    TEAM,
    RssSampler,
    bench_config,
    create_pg_database,
    drop_pg_database,
    free_port,
    make_settings,
    pct,
    reps,
    start_fake,
    start_oppbot,
    stop_process,
)

from tests.fakeslack import FakeSlack, _err, _Reply

TEXT = re.compile(r"bench reminder (\d+)\b")


class RateLimitedFakeSlack(FakeSlack):
    """FakeSlack that rate-limits chat.postMessage per channel (token bucket) and records lightly.

    Every call is counted by (method, HTTP status); a successful chat.postMessage is kept as
    (wall time, channel, text, block ids, button values) instead of the full Call, so 100k calls
    stay small.
    """

    def __init__(self, *args, rate: float = 1.0, burst: int = 3, latency: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rate = rate
        self.burst = burst
        self.latency = latency  # seconds every Web API call takes (Slack answers in ~50-200 ms, not in 1 ms)
        self.limit_enabled = True

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._buckets: dict[str, tuple[float, float]] = {}
            self.counts: Counter = Counter()
            self.posted: list[tuple[float, str, str, tuple[str, ...], tuple[str, ...]]] = []
            self.other: list[tuple[float, str, dict]] = []  # uploads and response_url posts, summarized

    def _take(self, channel: str) -> float:
        """0 if a message may go now (a token is taken), else the seconds until the next token."""
        now = time.monotonic()
        tokens, last = self._buckets.get(channel, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[channel] = (tokens - 1.0, now)
            return 0.0
        self._buckets[channel] = (tokens, now)
        return (1.0 - tokens) / self.rate

    @staticmethod
    def _channel_of(query: str, body: bytes, headers) -> str:
        text = body.decode("utf-8", "replace")
        if "json" in (headers.get("Content-Type") or "").lower() and text.strip():
            try:
                return str(json.loads(text).get("channel") or "")
            except ValueError:
                return ""
        return dict(parse_qsl(query + "&" + text)).get("channel", "")

    def _handle_api(self, method: str, query: str, body: bytes, headers) -> _Reply:
        if self.latency:
            time.sleep(self.latency)  # each request has its own server thread: calls overlap as they do at Slack
        if method == "chat.postMessage" and self.limit_enabled:
            channel = self._channel_of(query, body, headers)
            with self._lock:
                wait = self._take(channel)
                if wait > 0:
                    self.counts[(method, 429)] += 1
                    return _Reply(_err("ratelimited"), 429, {"Retry-After": str(max(1, math.ceil(wait)))})
        return super()._handle_api(method, query, body, headers)

    def _record(self, method: str, params: dict, headers, reply: _Reply) -> None:
        self.counts[(method, reply.status)] += 1
        ok = isinstance(reply.body, dict) and reply.body.get("ok")
        if method == "chat.postMessage" and ok:
            blocks = params.get("blocks") or []
            block_ids = tuple(str(b.get("block_id")) for b in blocks if isinstance(b, dict) and b.get("block_id"))
            values = tuple(str(e.get("value")) for b in blocks if isinstance(b, dict) and b.get("type") == "actions"
                           for e in b.get("elements", []) if isinstance(e, dict) and e.get("action_id") in ("alert_take",))
            self.posted.append((time.time(), str(params.get("channel")), str(params.get("text") or ""), block_ids, values))
        elif not ok and method not in ("chat.postMessage",):
            self.other.append((time.time(), method, {"status": reply.status, "error": reply.body.get("error") if isinstance(reply.body, dict) else None}))
        with self._cond:
            self._cond.notify_all()


def ideal_send_times(dues: list[float], rate: float, burst: int) -> list[float]:
    """When a sender that never wastes a token would send each of one channel's messages (sorted dues)."""
    out: list[float] = []
    tokens, last = float(burst), dues[0] if dues else 0.0
    for due in dues:
        at = max(due, last)
        tokens = min(float(burst), tokens + (at - last) * rate)
        if tokens < 1.0:
            at += (1.0 - tokens) / rate
            tokens = 1.0
        tokens -= 1.0
        last = at
        out.append(at)
    return out


def seed_deals(database_url: str, fake, config_path: Path, owners: list[str]):
    """Migrate the database, seed the workspace from `config_path` and give each owner a deal, whose card
    rows are cancelled (the benches send reminders alone); returns the engine and the deals' ids."""
    from bot.app import create_app
    from bot.deals.cards import CARD_KINDS
    from bot.domain.values import OpportunityDraft
    from bot.workspace.config import load_config
    from storage.db import UnitOfWork, make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    services = create_app(make_settings(database_url, fake, config_path), engine=engine, config=load_config(config_path)).services
    services.workspaces.ensure_workspace(TEAM)
    first_stage = services.workspaces.pipelines(TEAM).default.first.id
    opp_ids = []
    for i, owner in enumerate(owners):
        draft = OpportunityDraft(name=f"Deal {i}", customer=f"Customer {i}", owner_id=owner, stage_id=first_stage, currency="USD")
        opp_ids.append(services.deals.create(services.workspaces.context(TEAM, owner), draft, channel_id=None)[0].id)
    with UnitOfWork(engine, write=True) as uow:
        for opp_id in opp_ids:
            uow.outbox.cancel_pending(team_id=TEAM, kinds=CARD_KINDS, subject_id=opp_id)
        uow.commit()
    return engine, opp_ids


def insert_reminders(engine, opp_ids: list[int], assignees: list[str], n: int, first_due: datetime, spread: float, now: datetime) -> dict[int, datetime]:
    """FollowUp + Delivery rows as the app writes them (kind, dedupe key and payload of bot.followups.service); returns i -> due."""
    from bot.followups.service import REMINDER, reminder_key
    from storage.db import UnitOfWork
    from storage.models import Delivery, FollowUp

    dues = {i: first_due + timedelta(seconds=spread * i / n) for i in range(n)}
    with UnitOfWork(engine, write=True) as uow:
        for start in range(0, n, 2000):
            rows = [FollowUp(team_id=TEAM, opportunity_id=opp_ids[i % len(opp_ids)], text=f"bench reminder {i} call the buyer",
                             due_at=dues[i], assignee_id=assignees[i % len(assignees)], status="pending", created_by=assignees[i % len(assignees)],
                             created_at=now) for i in range(start, min(n, start + 2000))]
            uow.session.add_all(rows)
            uow.session.flush()
            uow.session.add_all([Delivery(team_id=TEAM, kind=REMINDER, subject_id=r.id, dedupe_key=reminder_key(r.id, r.due_at),
                                          payload={"due": int(r.due_at.timestamp())}, due_at=r.due_at, scheduled_for=r.due_at, created_at=now)
                                 for r in rows])
            uow.session.flush()
        uow.commit()
    return dues


def db_status(engine) -> Counter:
    from sqlalchemy import func, select

    from storage.db import UnitOfWork
    from storage.models import Delivery

    with UnitOfWork(engine) as uow:
        rows = uow.session.execute(select(Delivery.status, func.count()).where(Delivery.kind == "reminder").group_by(Delivery.status)).all()
    return Counter(dict(rows))


def attempts_histogram(engine) -> dict[int, int]:
    from sqlalchemy import func, select

    from storage.db import UnitOfWork
    from storage.models import Delivery

    with UnitOfWork(engine) as uow:
        rows = uow.session.execute(select(Delivery.attempts, func.count()).where(Delivery.kind == "reminder").group_by(Delivery.attempts)).all()
    return dict(sorted(rows))


def pg_transactions(engine) -> tuple[int, int]:
    """(commits, rollbacks) PostgreSQL counted for this database so far; (0, 0) on SQLite."""
    from sqlalchemy import text

    if engine.dialect.name != "postgresql":
        return 0, 0
    with engine.connect() as connection:
        row = connection.execute(text("SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()")).one()
    return int(row[0]), int(row[1])


def baseline(fake: RateLimitedFakeSlack, channels: list[str]) -> tuple[float, int]:
    """The ceiling: the same number of chat.postMessage calls straight from slack_sdk, one loop, limiter off."""
    from slack_sdk import WebClient

    client = WebClient(token=BOT_TOKEN, base_url=fake.api_url, timeout=10)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": ":bell: *Follow-up due*: bench baseline\n*OPP-1 · Deal* — Customer"}}]
    fake.limit_enabled = False
    try:
        before = len(fake.posted)
        t = time.perf_counter()
        for i, channel in enumerate(channels):
            client.chat_postMessage(channel=channel, text=f"baseline {i}", blocks=blocks, unfurl_links=False)
        elapsed = time.perf_counter() - t
        return elapsed, len(fake.posted) - before
    finally:
        fake.limit_enabled = True


def run_scenario(name: str, args, n: int, n_reps: int) -> dict:

    print(f"\n=== scenario {name}: {n} reminders to {n_reps} reps, due over {args.spread:g} s; "
          f"chat.postMessage limited to {args.limit_rate:g}/s per channel, burst {args.burst}"
          + (f"; every Web API call takes {args.slack_latency * 1000:.0f} ms" if args.slack_latency else ""))
    workdir = Path(tempfile.mkdtemp(prefix=f"oppbot-bench-rem-{name}-"))
    db_name = "oppbot_bench_reminders"
    assignees = reps(n_reps)
    owners = assignees[:10]
    fake = start_fake(RateLimitedFakeSlack, users=owners, rate=args.limit_rate, burst=args.burst, latency=args.slack_latency)
    process = None
    engine = None
    try:
        database_url = create_pg_database(db_name) if args.db == "pg" else f"sqlite:///{workdir / 'oppbot.db'}"
        config_path = workdir / "oppbot.toml"
        config_path.write_text(bench_config(owners))
        engine, opp_ids = seed_deals(database_url, fake, config_path, owners)

        t = time.perf_counter()
        now = datetime.now(UTC)
        first_due = now + timedelta(seconds=args.lead)
        dues = insert_reminders(engine, opp_ids, assignees, n, first_due, args.spread, now)
        inserted = time.perf_counter() - t
        headroom = (first_due - datetime.now(UTC)).total_seconds()
        print(f"inserted {n} follow-ups + deliveries in {inserted:.1f}s; the first falls due in {headroom:.1f}s")
        fake.reset()
        for user in owners:
            fake.add_user(user, tz="UTC")

        # `oppbot run` as deployed, in a process of its own: Slack (the fake, here) is not in the app's process.
        process = start_oppbot(database_url, fake, config_path, free_port(), workdir / "oppbot.log", OPPBOT_TICK_SECONDS=str(args.tick))
        rss = RssSampler({"oppbot": process.pid}).__enter__()
        transactions_before = pg_transactions(engine)
        deadline = first_due.timestamp() + args.spread + args.cap_seconds
        last_report = time.time()
        while time.time() < deadline:
            time.sleep(0.5)
            status = db_status(engine)
            if time.time() > first_due.timestamp() + args.spread and status.get("pending", 0) == 0:
                break
            if time.time() - last_report >= 15:
                last_report = time.time()
                print(f"  t+{time.time() - first_due.timestamp():5.0f}s  db: {dict(status)}  fake: {len(fake.posted)} posted, "
                      f"{fake.counts[('chat.postMessage', 429)]} x 429")
        finished = time.time()
        rss.__exit__(None, None, None)
        stop_process(process)
        process = None
        time.sleep(1.0)  # PostgreSQL publishes its transaction counters within a second
        transactions_after = pg_transactions(engine)
        status = db_status(engine)
        attempts = attempts_histogram(engine)

        per_follow_up: Counter = Counter()
        first_sent: dict[int, float] = {}
        sent_times = []
        by_channel: dict[str, list[int]] = defaultdict(list)
        for at, _channel, text, _, _ in fake.posted:
            match = TEXT.search(text)
            if not match:
                continue
            i = int(match.group(1))
            per_follow_up[i] += 1
            sent_times.append(at)
            if i not in first_sent:
                first_sent[i] = at
        for i in range(n):
            by_channel[f"D{assignees[i % len(assignees)]}"].append(i)
        duplicates = sum(1 for count in per_follow_up.values() if count > 1)
        extra_messages = sum(count - 1 for count in per_follow_up.values() if count > 1)
        missing = [i for i in range(n) if per_follow_up[i] == 0]
        lateness = [first_sent[i] - dues[i].timestamp() for i in first_sent]
        ideal: dict[int, float] = {}
        for indexes in by_channel.values():
            indexes.sort(key=lambda i: dues[i])
            for i, at in zip(indexes, ideal_send_times([dues[i].timestamp() for i in indexes], args.limit_rate, args.burst), strict=True):
                ideal[i] = at
        excess = [first_sent[i] - ideal[i] for i in first_sent]
        ideal_lateness = [ideal[i] - dues[i].timestamp() for i in range(n)]
        span = (max(sent_times) - min(sent_times)) if len(sent_times) > 1 else float("nan")
        throughput = len(sent_times) / span if span and span == span else float("nan")
        ideal_span = max(ideal.values()) - min(ideal.values())
        rate_429 = fake.counts[("chat.postMessage", 429)]
        opens = sum(v for (m, _), v in fake.counts.items() if m == "conversations.open")
        posted_ok = sum(v for (m, s), v in fake.counts.items() if m == "chat.postMessage" and s == 200)

        # with --slack-latency one loop is latency bound (1/latency calls per second): time 200 calls, not all
        ceiling_calls = [f"D{assignees[i % len(assignees)]}" for i in sorted(dues, key=dues.get)][:200 if args.slack_latency else None]
        base_elapsed, base_sent = baseline(fake, ceiling_calls)
        base_rate = base_sent / base_elapsed

        print(f"sent {len(sent_times)} reminder DMs ({len(first_sent)} follow-ups) in {span:.1f}s from first to last: {throughput:.1f} messages/s")
        print(f"lateness (sent - due):   p50 {pct(lateness, 50):6.2f}s  p99 {pct(lateness, 99):6.2f}s  max {max(lateness, default=float('nan')):6.2f}s")
        print(f"forced by the rate limit: p50 {pct(ideal_lateness, 50):6.2f}s  p99 {pct(ideal_lateness, 99):6.2f}s  max {max(ideal_lateness):6.2f}s "
              f"(an ideal sender would need {ideal_span:.1f}s: {n / max(ideal_span, 1e-9):.1f} messages/s)")
        print(f"beyond the rate limit:    p50 {pct(excess, 50):6.2f}s  p99 {pct(excess, 99):6.2f}s  max {max(excess, default=float('nan')):6.2f}s")
        print(f"duplicates: {duplicates} follow-ups got more than one DM ({extra_messages} extra messages); "
              f"losses: {len(missing)} follow-ups got no DM")
        print(f"database: {dict(status)}; attempts per reminder row: {attempts}")
        print(f"fake Slack: {posted_ok} chat.postMessage ok, "
              f"{rate_429} x 429, {opens} conversations.open; "
              f"wall time from the first due to the end: {finished - first_due.timestamp():.1f}s")
        if engine.dialect.name == "postgresql":
            commits = transactions_after[0] - transactions_before[0]
            rollbacks = transactions_after[1] - transactions_before[1]
            print(f"database transactions while sending (incl. the 0.2 s ticks and this script's polling): {commits} commits, "
                  f"{rollbacks} rollbacks = {commits / max(1, len(sent_times)):.2f} + {rollbacks / max(1, len(sent_times)):.2f} per message")
        print(f"peak RSS of oppbot run: {rss.peak['oppbot'] / 2**20:.0f} MB (target < 200 MB)")
        print(f"ceiling: {base_sent} chat.postMessage calls straight from slack_sdk in one loop took {base_elapsed:.1f}s = {base_rate:.1f}/s; "
              f"dispatcher/ceiling = {throughput / base_rate:.2f}")
        ok = not duplicates and not missing
        late_ok = (pct(lateness, 99) if name == "many" else pct(excess, 99)) < 2.0
        print(f"verdict: {'no duplicates, no losses' if ok else 'DUPLICATES OR LOSSES'}; "
              f"p99 lateness{' beyond the rate limit' if name != 'many' else ''} {'<' if late_ok else '>='} 2 s: {'PASS' if late_ok and ok else 'FAIL'}")
        return {"ok": ok, "late_ok": late_ok}
    finally:
        if process is not None:
            stop_process(process)
        if engine is not None:
            engine.dispose()
        fake.stop()
        if args.db == "pg":
            drop_pg_database(db_name)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    import logging

    # APScheduler warns at every 0.2 s tick that falls while a long run_once is still going; count, don't print.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("pg", "sqlite"), default="pg")
    parser.add_argument("--scenario", choices=("many", "few", "both"), default="both")
    parser.add_argument("--reminders", type=int, default=10_000, help="scenario many: reminders")
    parser.add_argument("--many-reps", type=int, default=2_000)
    parser.add_argument("--few-reminders", type=int, default=1_200)
    parser.add_argument("--few-reps", type=int, default=10)
    parser.add_argument("--spread", type=float, default=60.0, help="the reminders fall due over this many seconds")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds from the insert to the first due time")
    parser.add_argument("--tick", type=float, default=0.2, help="scheduler tick (OPPBOT_TICK_SECONDS)")
    parser.add_argument("--limit-rate", type=float, default=1.0, help="chat.postMessage per second per channel")
    parser.add_argument("--burst", type=int, default=3)
    parser.add_argument("--slack-latency", type=float, default=0.0,
                        help="seconds each fake Web API call takes (e.g. 0.1 for Slack's real latency; the ceiling loop pays it too)")
    parser.add_argument("--cap-seconds", type=float, default=240.0, help="stop waiting this long after the last due time")
    args = parser.parse_args()
    print(f"code under test: {ROOT}")
    verdicts = []
    if args.scenario in ("many", "both"):
        verdicts.append(run_scenario("many", args, args.reminders, args.many_reps))
    if args.scenario in ("few", "both"):
        verdicts.append(run_scenario("few", args, args.few_reminders, args.few_reps))
    return 0 if all(v["ok"] for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
