"""Two `oppbot run` processes on one PostgreSQL database under a mixed load, then exactly-once checks.

    .venv/bin/python bench/bench_instances.py
    .venv/bin/python bench/bench_instances.py --requests 4000      # a shorter run

One command: creates the database oppbot_bench_multi, runs `oppbot db upgrade`
(`python -m bot.cli db upgrade`), seeds deals through the services, starts a FakeSlack in this
process and two `python -m bot.cli run` processes in HTTP mode (own PORT each, same database,
same fake, OPPBOT_TICK_SECONDS=0.5, the team's digest every minute). A pool of client threads
(bounded concurrency) sends 20,000 signed requests round robin to the two processes: /opp list,
/opp show, /opp help, /opp new + the New opportunity modal submission, card stage-select clicks
(stage alerts when a deal enters Solution design or Technical evaluation) and
/opp followup ... in 1 minute (reminders due during the run). Halfway, `oppbot digest --now` runs
twice at the same moment. After the load it waits until everything due has been sent, then checks:
no HTTP error; every reminder DM and every stage alert posted exactly once (counted in the fake by
follow-up and by stage change); one scheduled digest per period; and prints p50/p99 per process
and kind, the deliveries each process sent, and each process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ack import (  # bench_ack puts the repository on sys.path
    ROOT,
    SALES_CHANNEL,
    RssSampler,
    bench_config,
    create_pg_database,
    drop_pg_database,
    free_port,
    ms,
    next_stage_click,
    oppbot_env,
    pct,
    reps,
    run_load,
    seed,
    slash,
    start_fake,
    start_oppbot,
    stop_process,
    view_submission,
)
from bench_reminders import RateLimitedFakeSlack

from bot.outbox.dispatcher import PACED

DB_NAME = "oppbot_bench_multi"
TEAM_CHANNEL = "C0TEAMCHAN"
MARK = re.compile(r"\bbfu(\d+)\b")


def new_opportunity_values(name: str, owner: str, stage_id: int) -> dict:
    """view.state.values of the New opportunity modal as Slack's client submits it (block ids of bot.deals.views.new_opportunity_modal)."""
    def text(value):
        return {"value": {"type": "plain_text_input", "value": value}}

    def select(value):
        return {"value": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}}

    return {"name": text(name), "customer": text("Bench Customer"), "amount": text("12500"), "currency": select("USD"),
            "stage": select(str(stage_id)), "owner": {"value": {"type": "users_select", "selected_user": owner}},
            "industry": select("Retail"), "region": select("North")}


def build_mix(n: int, seeded, fake_base: str, stage_state: dict[int, int]) -> tuple[list, int]:
    """The mixed request stream; returns it and how many follow-ups it plans."""
    owners = sorted(seeded.by_owner)
    # 21 entries, an odd number: with requests sent round robin, every kind goes to both processes.
    pattern = ["list", "show", "stage", "followup", "stage", "list", "show", "new", "submit", "stage",
               "show", "help", "stage", "list", "followup", "show", "stage", "list", "show", "stage", "list"]
    requests = []
    follow_ups = 0
    for i in range(n):
        kind = pattern[i % len(pattern)]
        owner = owners[(i // len(pattern)) % len(owners)]
        mine = seeded.by_owner[owner]
        deal = mine[(i // len(pattern) // len(owners)) % len(mine)]
        if kind == "list":
            requests.append(slash(kind, "list", owner, fake_base))
        elif kind == "show":
            requests.append(slash(kind, f"show OPP-{deal.number}", owner, fake_base))
        elif kind == "help":
            requests.append(slash(kind, "help", owner, fake_base))
        elif kind == "new":
            requests.append(slash(kind, f"new Bench deal {i}", owner, fake_base))
        elif kind == "submit":
            requests.append(view_submission(kind, "new_opportunity", new_opportunity_values(f"Bench deal {i}", owner, seeded.stage_ids[0]),
                                            owner, json.dumps({"channel": SALES_CHANNEL})))
        elif kind == "followup":
            follow_ups += 1
            requests.append(slash(kind, f"followup OPP-{deal.number} in 1 minute bfu{i} call the buyer back", owner, fake_base))
        else:
            requests.append(next_stage_click(seeded, stage_state, kind, fake_base))
    return requests, follow_ups


def pending_due(engine) -> Counter:
    from sqlalchemy import func, select

    from storage.db import UnitOfWork
    from storage.models import Delivery

    now = datetime.now(UTC)
    with UnitOfWork(engine) as uow:
        rows = uow.session.execute(select(Delivery.kind, func.count()).where(Delivery.status == "pending", Delivery.due_at <= now)
                                   .group_by(Delivery.kind)).all()
    return Counter(dict(rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=12, help="client threads: requests in flight across both processes")
    parser.add_argument("--deals", type=int, default=200)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--tick", default="0.5", help="OPPBOT_TICK_SECONDS")
    parser.add_argument("--rate-limit", action="store_true", help="the fake allows ~1 chat.postMessage/s per channel (burst 3)")
    parser.add_argument("--drain-seconds", type=float, default=150.0, help="after the load, wait at most this long for due work")
    args = parser.parse_args()

    from sqlalchemy import func, select

    from storage.db import UnitOfWork, make_engine
    from storage.models import Delivery, FollowUp, StageChange

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="oppbot-bench-multi-"))
    owners = reps(args.reps)
    fake = start_fake(RateLimitedFakeSlack, users=owners)
    fake.limit_enabled = args.rate_limit
    fake.add_channel(TEAM_CHANNEL, "team-bench")
    processes: dict[str, subprocess.Popen] = {}
    engine = None
    try:
        database_url = create_pg_database(DB_NAME)
        upgrade = subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], env=oppbot_env(database_url, fake, None, 1),
                                 cwd=str(ROOT), capture_output=True, text=True, timeout=120)
        print(f"code under test: {ROOT}")
        print(f"oppbot db upgrade: {(upgrade.stdout + upgrade.stderr).strip().splitlines()[-1]} (exit {upgrade.returncode})")
        if upgrade.returncode:
            return 1
        config_path = workdir / "oppbot.toml"
        config_path.write_text(bench_config(owners, digest="* * * * *", channel=TEAM_CHANNEL))
        t = time.monotonic()
        seeded = seed(database_url, fake, config_path, owners, args.deals)
        print(f"seeded {len(seeded.deals)} deals for {len(owners)} reps in {time.monotonic() - t:.1f}s")
        engine = make_engine(database_url)
        seeded_calls = len(fake.posted)

        ports = {"one": free_port(), "two": free_port()}
        for name, port in ports.items():
            processes[name] = start_oppbot(database_url, fake, config_path, port, workdir / f"{name}.log", OPPBOT_TICK_SECONDS=args.tick)
        print(f"two `oppbot run` processes: {', '.join(f'{n} pid {p.pid} port {ports[n]}' for n, p in processes.items())}; "
              f"OPPBOT_TICK_SECONDS={args.tick}; digests every minute")

        stage_state: dict[int, int] = {}
        requests, planned_follow_ups = build_mix(args.requests, seeded, fake.base_url, stage_state)
        digest_now: list[subprocess.CompletedProcess] = []

        def digest_twice() -> None:
            time.sleep(max(5.0, args.requests / 100 / 2))
            env = oppbot_env(database_url, fake, config_path, 1)
            procs = [subprocess.Popen([sys.executable, "-m", "bot.cli", "digest", "--now"], env=env, cwd=str(ROOT),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
            for proc in procs:
                out, _ = proc.communicate(timeout=120)
                digest_now.append(subprocess.CompletedProcess(proc.args, proc.returncode, out))

        digest_thread = threading.Thread(target=digest_twice, daemon=True)
        with RssSampler({name: p.pid for name, p in processes.items()}, interval=0.1) as rss:
            load_started = time.time()
            digest_thread.start()
            t = time.monotonic()
            results = run_load(requests, [ports["one"], ports["two"]], rate=None, concurrency=args.concurrency)
            load_seconds = time.monotonic() - t
            print(f"load: {len(results)} requests in {load_seconds:.1f}s ({len(results) / load_seconds:.1f}/s) with {args.concurrency} clients")
            digest_thread.join(timeout=180)
            # drain: everything due (reminders are due a minute after they were planned) is sent
            deadline = time.monotonic() + args.drain_seconds
            last_follow_up_due = load_started + load_seconds + 61
            while time.monotonic() < deadline:
                pending = pending_due(engine)
                if time.time() > last_follow_up_due and not pending:
                    break
                time.sleep(1)
            drained = time.monotonic() - t - load_seconds
            pending = pending_due(engine)
            print(f"drain: waited {drained:.0f}s after the load; still pending and due: {dict(pending) or 'none'}")

        # ----- checks ---------------------------------------------------------------------------
        errors = [r for r in results if r.error or r.status != 200]
        by_error = Counter((r.kind, r.status, (r.error or "")[:80]) for r in errors)
        print(f"\nHTTP errors: {len(errors)}" + "".join(f"\n    {count} x {kind} {status} {error}" for (kind, status, error), count in by_error.most_common(8)))
        print(f"{'process':<8}{'kind':<10}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}")
        port_name = {port: name for name, port in ports.items()}
        for name in ports:
            mine = [r for r in results if port_name[r.port] == name]
            for kind in ("list", "show", "help", "new", "submit", "stage", "followup", "all"):
                values = [r.latency for r in mine if kind == "all" or r.kind == kind]
                print(f"{name:<8}{kind:<10}{len(values):>7}{ms(pct(values, 50)):>9}{ms(pct(values, 99)):>9}")

        with UnitOfWork(engine) as uow:
            session = uow.session
            now = datetime.now(UTC)
            follow_ups = list(session.execute(select(FollowUp.id, FollowUp.text, FollowUp.due_at, FollowUp.status).where(FollowUp.text.like("bfu%"))))
            stages = dict(zip(seeded.stage_ids, ("Prospect", "Solution design", "Technical evaluation", "Negotiation"), strict=False))
            alert_stage_ids = [sid for sid, name in stages.items() if name in ("Solution design", "Technical evaluation")]
            changes = list(session.execute(select(StageChange.id, StageChange.from_stage_id, StageChange.from_status, StageChange.to_stage_id)
                                           .where(StageChange.to_stage_id.in_(alert_stage_ids), StageChange.to_status == "open")))
            digests = list(session.execute(select(Delivery.dedupe_key, Delivery.status).where(Delivery.kind == "digest").order_by(Delivery.id)))
            digest_parts = Counter(status for (status,) in session.execute(select(Delivery.status).where(Delivery.kind.in_(("digest_post", "digest_chart")))))
            # alerts still to go: mostly held back by the pacer (a channel takes about one message a
            # second, so a burst waits its turn), a few claimed and on their way at this moment
            queued_alerts = list(session.execute(select(Delivery.subject_id, Delivery.due_at, Delivery.last_error).where(
                Delivery.kind == "stage_alert", Delivery.status == "pending")))
            alert_rows = {subject: (status, error) for subject, status, error in session.execute(
                select(Delivery.subject_id, Delivery.status, Delivery.last_error).where(Delivery.kind == "stage_alert"))}
            delivery_status = Counter(dict(session.execute(select(Delivery.kind + ":" + Delivery.status, func.count()).group_by(Delivery.kind, Delivery.status)).all()))

        # Slack's side is read after the database's: the processes are still sending paced alerts, and
        # a delivery the snapshot saw sent was posted before it, so it is among these posts.
        posted = fake.posted[seeded_calls:]
        reminder_marks = Counter()
        alert_changes = Counter()
        digest_posts = Counter()
        for _at, channel, text, _block_ids, values in posted:
            if text.startswith("Follow-up due"):
                match = MARK.search(text)
                if match:
                    reminder_marks[int(match.group(1))] += 1
            for value in values:
                alert_changes[int(value)] += 1
            if "pipeline digest" in text:
                digest_posts[channel] += 1

        due_follow_ups = [f for f in follow_ups if f.due_at <= now]
        expected_marks = {int(MARK.search(f.text).group(1)) for f in due_follow_ups}
        reminder_dupes = sum(1 for m in expected_marks if reminder_marks[m] > 1)
        reminder_lost = sum(1 for m in expected_marks if reminder_marks[m] == 0)
        expected_alerts = {c.id for c in changes if c.from_stage_id != c.to_stage_id or c.from_status != "open"}
        alert_dupes = sum(1 for c in expected_alerts if alert_changes[c] > 1)
        queued = {subject_id for subject_id, _, _ in queued_alerts}
        paced = sum(1 for _, _, error in queued_alerts if error == PACED)
        lost_alerts = [c for c in expected_alerts if alert_changes[c] == 0 and c not in queued]
        alert_lost = len(lost_alerts)
        alert_unexpected = sum(1 for c in alert_changes if c not in expected_alerts)
        print(f"\nfollow-ups: {planned_follow_ups} /opp followup requests, {len(follow_ups)} follow-ups stored, {len(due_follow_ups)} due by now; "
              f"reminder DMs: {sum(reminder_marks.values())} for {len(reminder_marks)} follow-ups; duplicates {reminder_dupes}, losses {reminder_lost}")
        print(f"stage alerts: {len(expected_alerts)} stage changes into an alert stage; alert messages {sum(alert_changes.values())}; "
              f"duplicates {alert_dupes}, losses {alert_lost}, unexpected {alert_unexpected}; "
              f"{len(queued)} still to go: {paced} queued by the pacer (Slack takes ~1 message/s per alert channel), "
              f"{len(queued) - paced} on their way; the last due in "
              f"{max(((d if d.tzinfo else d.replace(tzinfo=UTC)) - now).total_seconds() for _, d, _ in queued_alerts) if queued_alerts else 0:.0f}s"
              + "".join(f"\n    lost: change {c}, delivery {alert_rows.get(c, 'none')}" for c in lost_alerts[:10]))
        periods = Counter(key.rsplit(":", 1)[1] for key, _ in digests if ":scheduled:" in key)
        sent_periods = sorted(key.rsplit(":", 1)[1] for key, status in digests if ":scheduled:" in key and status == "sent")
        manual = [(key, status) for key, status in digests if ":manual:" in key]
        print(f"digests: {len(periods)} scheduled periods planned ({sum(1 for c in periods.values() if c > 1)} planned twice), "
              f"{len(sent_periods)} sent, statuses {Counter(s for k, s in digests if ':scheduled:' in k)}; manual (--now) {manual}; "
              f"digest posts/charts rows {dict(digest_parts)}")
        print(f"digest messages in the fake by channel: {dict(digest_posts)} (expected per channel: {len(sent_periods)} scheduled + {len([m for m in manual if m[1] == 'sent'])} manual)")
        for proc in digest_now:
            print(f"oppbot digest --now (exit {proc.returncode}): {proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ''}")
        print(f"deliveries by kind:status: {dict(sorted(delivery_status.items()))}")
        sent_by = {}
        for name in ports:
            log_text = (workdir / f"{name}.log").read_text(errors="replace")
            sent_by[name] = sum(int(m) for m in re.findall(r"deliveries: (\d+) sent", log_text))
            tracebacks = log_text.count("Traceback")
            skipped = log_text.count("maximum number of running instances reached")
            print(f"process {name}: sent {sent_by[name]} deliveries (from its log), {tracebacks} tracebacks and {skipped} "
                  f"'skipped: maximum number of running instances' warnings in its log, peak RSS {rss.peak[name] / 2**20:.0f} MB")
        print(f"fake Slack calls: {sum(fake.counts.values())} ({', '.join(f'{m} {s}: {c}' for (m, s), c in sorted(fake.counts.items(), key=lambda x: -x[1])[:8])})")
        digests_ok = all(c == 1 for c in periods.values()) and all(count == len(sent_periods) + len([m for m in manual if m[1] == "sent"])
                                                                    for count in digest_posts.values())
        ok = not errors and not reminder_dupes and not reminder_lost and not alert_dupes and not alert_lost and digests_ok and not pending
        print(f"\nverdict: {'PASS' if ok else 'FAIL'} (HTTP errors {len(errors)}, reminder dup/lost {reminder_dupes}/{reminder_lost}, "
              f"alert dup/lost {alert_dupes}/{alert_lost}, one digest per period {'yes' if digests_ok else 'NO'}); total {time.monotonic() - started:.0f}s")
        return 0 if ok else 1
    finally:
        for process in processes.values():
            stop_process(process)
        if engine is not None:
            engine.dispose()
        fake.stop()
        drop_pg_database(DB_NAME)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
