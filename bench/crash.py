"""kill -9 in the middle of sending reminders, and a database outage: is any reminder lost, or sent twice?

    .venv/bin/python bench/crash.py --reminders 300 --database sqlite
    .venv/bin/python bench/crash.py --reminders 2000 --database postgres
    .venv/bin/python bench/crash.py --reminders 300 --database postgres --scenario outage --outage 5

Per scenario: a fresh database; N reminders due now, two per rep (N/2 DM channels), inserted as
bench_reminders.py does; `oppbot run` in its own process (the production entry point) sends them to
a fake Slack in this process whose chat.postMessage waits --post-latency s before it is handled
(Slack takes 50-200 ms), so that many posts are in flight at any moment.

  kill:   once half of them are in Slack, `oppbot run` gets SIGKILL: posts in flight are made, their
          outcomes never recorded, its leases held. Then the app built in this process
          (bot.app.create_app: its Dispatcher) on a clock LEASE ahead of real time, so those
          leases have run out, sends the rest.
  outage: PostgreSQL only (an SQLite database is a file the process opens: there is no server to
          lose). `oppbot run` reaches PostgreSQL through a TCP proxy in this script; once half are in
          Slack the proxy drops every connection and refuses new ones for --outage s. The same
          process carries on, and is waited for until every reminder is recorded (its lease, 2 min,
          runs out for the rows whose outcome it could not record).

Printed per scenario: tried (reminders due), in Slack and recorded sent when the trouble came (the
difference: sent but unrecorded), then sent (follow-ups with a DM), lost (none), twice (more than
one), the conversations.history calls made to check, and the rows' final status.

The code under test is the tree this file sits in: run a copy's bench/crash.py to measure another
version (e.g. `git archive <commit>` into /tmp).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ack import (  # bench_ack puts the repository on sys.path
    ROOT,
    bench_config,
    create_pg_database,
    drop_pg_database,
    free_port,
    make_settings,
    reps,
    start_fake,
    start_oppbot,
    stop_process,
)
from bench_reminders import TEXT, db_status, insert_reminders, seed_deals
from sqlalchemy.engine import Engine

from tests.outage import TcpProxy

DATABASE = "oppbot_bench_crash"
PG_HOST, PG_PORT = "127.0.0.1", 5432


class ShiftedClock:
    """Real time moved ahead: a process that starts after another's leases have run out."""

    def __init__(self, ahead: timedelta) -> None:
        self.ahead = ahead

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def prepare(args, fake, workdir: Path) -> tuple[str, Path, Engine]:
    """A fresh database with the workspace, 10 deals and N reminders due now; returns (url, config file, engine)."""
    workdir.mkdir(parents=True)
    database_url = create_pg_database(DATABASE) if args.database == "postgres" else f"sqlite:///{workdir / 'oppbot.db'}"
    assignees = reps(args.reminders // 2)
    owners = assignees[:10]
    config_path = workdir / "oppbot.toml"
    config_path.write_text(bench_config(owners))
    engine, opp_ids = seed_deals(database_url, fake, config_path, owners)
    now = datetime.now(UTC)
    insert_reminders(engine, opp_ids, assignees, args.reminders, now, 0.0, now)
    return database_url, config_path, engine


def reminders_in_slack(fake) -> Counter:
    """Messages per reminder (by the number in its text) that Slack has."""
    return Counter(int(match.group(1)) for m in fake.messages() if (match := TEXT.search(m["text"])))


def wait_until_half_posted(fake, n: int, process) -> None:
    deadline = time.monotonic() + 120
    while len(reminders_in_slack(fake)) < n // 2:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"oppbot run stopped or stalled with {len(reminders_in_slack(fake))} of {n} posted")
        time.sleep(0.005)


def settle_fake(fake) -> None:
    """Posts in flight when the trouble came still reach Slack: wait for them."""
    deadline = time.monotonic() + 10
    while fake.hanging and time.monotonic() < deadline:
        time.sleep(0.01)


def report(name: str, args, fake, engine, *, in_slack_then: int, recorded_then: int, elapsed: float) -> bool:
    per_reminder = reminders_in_slack(fake)
    sent = sum(1 for i in range(args.reminders) if per_reminder[i] >= 1)
    lost = args.reminders - sent
    twice = sum(1 for count in per_reminder.values() if count > 1)
    extra = sum(count - 1 for count in per_reminder.values() if count > 1)
    histories = len(fake.calls("conversations.history"))
    print(f"[{name}] tried {args.reminders} / sent {sent} / lost {lost} / twice {twice} ({extra} extra messages)")
    print(f"[{name}] when it happened: {in_slack_then} in Slack, {recorded_then} recorded sent "
          f"({in_slack_then - recorded_then} sent but unrecorded); conversations.history calls: {histories}; "
          f"database: {dict(db_status(engine))}; {elapsed:.1f} s from start to all recorded")
    return lost == 0 and twice == 0


def kill_scenario(args, workdir: Path) -> bool:
    from bot.app import create_app
    from bot.followups.service import REMINDER
    from bot.outbox.dispatcher import LEASE
    from bot.workspace.config import load_config

    print(f"\n=== kill -9: {args.reminders} reminders to {args.reminders // 2} reps on {args.database}, "
          f"chat.postMessage handled after {args.post_latency * 1000:.0f} ms")
    fake = start_fake()
    engine = process = None
    try:
        database_url, config_path, engine = prepare(args, fake, workdir)
        fake.stamp_messages_with(time.time)  # Slack stamps messages with its (real) time
        fake.hang_next("chat.postMessage", seconds=args.post_latency, times=10 * args.reminders)
        started = time.monotonic()
        process = start_oppbot(database_url, fake, config_path, free_port(), workdir / "oppbot.log", OPPBOT_TICK_SECONDS="0.2")
        wait_until_half_posted(fake, args.reminders, process)
        process.kill()
        process.wait(timeout=10)
        stop_process(process)
        process = None
        settle_fake(fake)
        in_slack_then = len(reminders_in_slack(fake))
        recorded_then = db_status(engine).get("sent", 0)

        # the next process: its clock is past the dead one's leases
        dispatcher = create_app(make_settings(database_url, fake, config_path), clock=ShiftedClock(LEASE + timedelta(seconds=1)),
                                engine=engine, config=load_config(config_path)).dispatcher
        deadline = time.monotonic() + 300
        while db_status(engine).get("pending", 0) and time.monotonic() < deadline:
            dispatcher.run_once(kinds=(REMINDER,), plan=False)
        return report("kill", args, fake, engine, in_slack_then=in_slack_then, recorded_then=recorded_then,
                      elapsed=time.monotonic() - started)
    finally:
        if process is not None:
            stop_process(process)
        if engine is not None:
            engine.dispose()
        fake.stop()
        if args.database == "postgres":
            drop_pg_database(DATABASE)


def outage_scenario(args, workdir: Path) -> bool:
    print(f"\n=== database outage: {args.reminders} reminders to {args.reminders // 2} reps on postgres, "
          f"every connection dropped for {args.outage:g} s")
    fake = start_fake()
    engine = process = None
    proxy = TcpProxy(PG_HOST, PG_PORT)
    try:
        database_url, config_path, engine = prepare(args, fake, workdir)
        fake.stamp_messages_with(time.time)
        fake.hang_next("chat.postMessage", seconds=args.post_latency, times=10 * args.reminders)
        proxied = database_url.replace(f"{PG_HOST}:{PG_PORT}", f"127.0.0.1:{proxy.port}")
        started = time.monotonic()
        process = start_oppbot(proxied, fake, config_path, free_port(), workdir / "oppbot.log", OPPBOT_TICK_SECONDS="0.2")
        wait_until_half_posted(fake, args.reminders, process)
        proxy.cut()
        settle_fake(fake)
        in_slack_then = len(reminders_in_slack(fake))
        recorded_then = db_status(engine).get("sent", 0)
        time.sleep(args.outage)
        proxy.restore()
        deadline = time.monotonic() + 300
        while db_status(engine).get("pending", 0) and time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"oppbot run died in the outage:\n{(workdir / 'oppbot.log').read_text()[-3000:]}")
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        lines = (workdir / "oppbot.log").read_text().splitlines()
        errors = Counter(re.sub(r"\d+", "N", line.split(" ", 3)[-1])[:140] for line in lines if " ERROR " in line or " WARNING " in line)
        print(f"[outage] oppbot run's log: {len(lines)} lines, {sum('Traceback' in line for line in lines)} tracebacks; most frequent:")
        for line, count in errors.most_common(4):
            print(f"    {count:5d} x {line}")
        return report("outage", args, fake, engine, in_slack_then=in_slack_then, recorded_then=recorded_then, elapsed=elapsed)
    finally:
        if process is not None:
            stop_process(process)
        if engine is not None:
            engine.dispose()
        fake.stop()
        drop_pg_database(DATABASE)


def main() -> int:
    import logging

    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reminders", type=int, default=300)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--scenario", choices=("kill", "outage", "both"), default="both")
    parser.add_argument("--post-latency", type=float, default=0.05, help="seconds the fake Slack holds each chat.postMessage")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds the database is unreachable (scenario outage)")
    args = parser.parse_args()
    print(f"code under test: {ROOT}")
    verdicts = []
    workdir = Path(tempfile.mkdtemp(prefix="oppbot-bench-crash-"))
    try:
        if args.scenario in ("kill", "both"):
            verdicts.append(kill_scenario(args, workdir / "kill"))
        if args.scenario in ("outage", "both"):
            if args.database == "sqlite":
                print("\n=== database outage: skipped on SQLite (a file the process opens: there is no server to lose)")
            else:
                verdicts.append(outage_scenario(args, workdir / "outage"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nverdict: {'PASS: nothing lost, nothing twice' if all(verdicts) else 'FAIL'}")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
