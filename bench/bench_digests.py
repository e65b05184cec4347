"""All digests for every team of a seeded workspace, against one raw GROUP BY over the same data.

    python bench/seed.py --opportunities 1000000 --reps 5000 --teams 1000 --database-url postgresql://postgres@127.0.0.1/oppbot_bench_digest
    python bench/bench_digests.py --database-url postgresql://postgres@127.0.0.1/oppbot_bench_digest [--limit 100] [--workers 2]

Builds each team's digest exactly as the scheduled job does (every figure, then the Block Kit
message and the chart data) without sending it, and prints the total, the time per digest and the
ratio to the baseline query. `--limit` times only the first N teams and extrapolates the total.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from common import TEAM_ID, database_url  # noqa: F401  (also puts the project on sys.path)
from slack_sdk import WebClient
from sqlalchemy import text

from bot.blocks import digest_message
from bot.clock import SystemClock
from bot.config import WorkspaceConfig
from bot.core import Pipeline
from bot.delivery import Dispatcher
from bot.digest import funnel_steps
from bot.services import build_services
from bot.slack_gateway import SlackGateway
from storage.db import UnitOfWork, make_engine

BASELINE = text("""
    SELECT owner_id, stage_id, status, count(*), sum(amount)
    FROM opportunity WHERE team_id = :team GROUP BY owner_id, stage_id, status
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url")
    parser.add_argument("--limit", type=int, default=0, help="time only the first N teams and extrapolate (0: all)")
    parser.add_argument("--workers", type=int, default=1, help="digests built in parallel (each on its own connection)")
    args = parser.parse_args()

    url = database_url(args.database_url)
    engine = make_engine(url, pool_size=max(2, args.workers))
    clock = SystemClock()
    uow = lambda write=False: UnitOfWork(engine, write=write)  # noqa: E731
    gateway = SlackGateway(WebClient(token="xoxb-bench", base_url="http://127.0.0.1:9/api/"))  # never called: nothing is sent
    pipeline = Pipeline(uow, clock, WorkspaceConfig(), gateway)
    services = build_services(pipeline, gateway, Dispatcher(uow, clock))
    teams = services.teams.all(TEAM_ID)
    if not teams:
        raise SystemExit("no teams: seed with --teams")
    with engine.connect() as connection:
        opportunities = connection.execute(text("SELECT count(*) FROM opportunity WHERE team_id = :t"), {"t": TEAM_ID}).scalar_one()

    baseline = []
    for _ in range(3):
        started = time.perf_counter()
        with engine.connect() as connection:
            connection.execute(BASELINE, {"team": TEAM_ID}).all()
        baseline.append(time.perf_counter() - started)
    baseline_s = statistics.median(baseline)

    chosen = teams[: args.limit] if args.limit else teams
    stages = pipeline.stage_model(TEAM_ID)
    since = clock.now() - timedelta(days=1)

    def one(team) -> float:
        started = time.perf_counter()
        data = services.digests.build(TEAM_ID, team, since)
        digest_message(data, stages)
        funnel_steps(data.conversion, stages)
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        durations = list(pool.map(one, chosen))
    elapsed = time.perf_counter() - started
    total = elapsed * len(teams) / len(chosen)
    durations.sort()
    p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))]
    print(f"database: {engine.dialect.name}; {opportunities:,} opportunities; {len(teams)} teams; timed {len(chosen)} digests with {args.workers} worker(s)")
    print(f"baseline: one raw GROUP BY over the workspace: {baseline_s * 1000:.1f} ms (median of 3)")
    print(f"digests: {elapsed:.2f} s for {len(chosen)} -> {total:.1f} s for all {len(teams)}{' (extrapolated)' if args.limit else ''}")
    print(f"per digest: mean {statistics.mean(durations) * 1000:.1f} ms, p50 {statistics.median(durations) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"ratio: all digests / raw GROUP BY = {total / baseline_s:.1f}x (target 2x)")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
