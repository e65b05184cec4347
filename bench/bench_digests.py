"""All digests for every team of a seeded workspace, against one raw GROUP BY over the same data.

    python bench/seed.py --opportunities 1000000 --reps 5000 --teams 1000 --database-url postgresql://postgres@127.0.0.1/oppbot_bench_1e6
    python bench/bench_digests.py --database-url postgresql://postgres@127.0.0.1/oppbot_bench_1e6 [--per-team 20] [--repeat 1]

Builds every team's digest exactly as the scheduled job does when they all fall due at the same
minute: one batch (Digests.build_many: every figure one statement grouped by team over the
workspace), then each team's Block Kit message and chart data, without sending or writing anything
(read-only). Prints the total, the time per digest and the ratio to the baseline query, and the
time of each statement of the batch. `--per-team N` also times N digests built one team at a time
(a batch of one each, as `/opp funnel`-style single scopes and the preview do) and extrapolates
that path to all teams, for comparison.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import traceback
from datetime import timedelta

from common import TEAM_ID, database_url  # also puts the project on sys.path
from slack_sdk import WebClient
from sqlalchemy import event, text

from bot.digests.views import digest_message
from bot.domain.clock import SystemClock
from bot.i18n import ENGLISH, translator
from bot.reports.charts import funnel_chart_data
from bot.services import build_services
from bot.slack.gateway import SlackGateway
from bot.workspace.config import WorkspaceConfig
from storage.db import make_engine

EN = translator(ENGLISH)

BASELINE = text("""
    SELECT owner_id, stage_id, status, count(*), sum(amount)
    FROM opportunity WHERE team_id = :team GROUP BY owner_id, stage_id, status
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url")
    parser.add_argument("--limit", type=int, default=0, help="build only the first N teams' digests (as one batch; 0: all)")
    parser.add_argument("--repeat", type=int, default=1, help="time the batch this many times (median)")
    parser.add_argument("--per-team", type=int, default=0, help="also time N digests built one team at a time and extrapolate")
    args = parser.parse_args()

    url = database_url(args.database_url)
    engine = make_engine(url, pool_size=2)
    clock = SystemClock()
    gateway = SlackGateway(WebClient(token="xoxb-bench", base_url="http://127.0.0.1:9/api/"))  # never called: nothing is sent
    services = build_services(engine, clock, WorkspaceConfig(), gateway, gateway)
    teams = services.teams.all(TEAM_ID)
    if not teams:
        raise SystemExit("no teams: seed with --teams")
    workspace_teams = len(teams)
    teams = teams[: args.limit] if args.limit else teams
    with engine.connect() as connection:
        opportunities = connection.execute(text("SELECT count(*) FROM opportunity WHERE team_id = :t"), {"t": TEAM_ID}).scalar_one()

    baseline = []
    for _ in range(3):
        started = time.perf_counter()
        with engine.connect() as connection:
            connection.execute(BASELINE, {"team": TEAM_ID}).all()
        baseline.append(time.perf_counter() - started)
    baseline_s = statistics.median(baseline)

    pipelines = services.workspaces.pipelines(TEAM_ID)
    since = clock.now() - timedelta(days=1)
    statements: list[tuple[float, str]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        context._bench_started = time.perf_counter()
        context._bench_figure = next((f.name for f in reversed(traceback.extract_stack()) if os.path.basename(os.path.dirname(f.filename)) == "analytics"
                                      and f.name.endswith("_each")), "other")

    def after(conn, cursor, statement, parameters, context, executemany):
        statements.append((time.perf_counter() - context._bench_started, context._bench_figure))

    def batch() -> float:
        started = time.perf_counter()
        for data in services.digests.build_many(TEAM_ID, [(team, since) for team in teams]):
            digest_message(data, pipelines, t=EN)
            funnel_chart_data(data.own.funnel, pipelines.of_team(data.own.pipeline_id))
        return time.perf_counter() - started

    runs = []
    for _ in range(args.repeat):
        statements.clear()
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        try:
            runs.append(batch())
        finally:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
    total = statistics.median(runs)
    print(f"database: {engine.dialect.name}; {opportunities:,} opportunities; {workspace_teams} teams"
          + (f", the first {len(teams)} built" if len(teams) < workspace_teams else ""))
    print(f"baseline: one raw GROUP BY over the workspace: {baseline_s * 1000:.1f} ms (median of 3)")
    print(f"all digests, one batch: {total:.2f} s for {len(teams)} (median of {args.repeat}); per digest {total / len(teams) * 1000:.1f} ms")
    print(f"ratio: all digests / raw GROUP BY = {total / baseline_s:.1f}x (target 2x)")
    by_figure: dict[str, list[float]] = {}
    for seconds, figure in statements:
        by_figure.setdefault(figure, []).append(seconds)
    print("statements of the last batch (ms, × baseline):")
    for figure, times in sorted(by_figure.items(), key=lambda item: -sum(item[1])):
        print(f"  {figure:28s} {len(times):3d} statement(s) {sum(times) * 1000:9.1f} ms  {sum(times) / baseline_s:5.1f}x")

    if args.per_team:
        chosen = teams[:: max(1, len(teams) // args.per_team)][: args.per_team]

        def one(team) -> float:
            started = time.perf_counter()
            data = services.digests.build(TEAM_ID, team, since)
            digest_message(data, pipelines, t=EN)
            funnel_chart_data(data.own.funnel, pipelines.of_team(data.own.pipeline_id))
            return time.perf_counter() - started

        durations = sorted(one(team) for team in chosen)
        p99 = durations[min(len(durations) - 1, int(len(durations) * 0.99))]
        print(f"team by team ({len(chosen)} timed): p50 {statistics.median(durations) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms per digest "
              f"-> {statistics.mean(durations) * len(teams):.1f} s for all {len(teams)} (extrapolated), "
              f"{statistics.mean(durations) * len(teams) / baseline_s:.0f}x")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
