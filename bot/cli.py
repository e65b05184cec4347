"""The `oppbot` command: run, db upgrade, check-config, config --export, digest, export, reminders."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from dotenv import load_dotenv
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.domain.values import OppError
from bot.domain.words import count
from bot.settings import (
    Settings,
    SettingsError,
    configure_logging,
    load_database_url,
    load_settings,
)
from bot.slack.gateway import slack_error
from bot.workspace.config import ConfigError, load_config
from storage.db import UnsupportedDatabase

log = logging.getLogger("oppbot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oppbot", description="A Slack-native sales opportunity pipeline.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the schema migrations")
    sub.add_parser("check-config", help="validate OPPBOT_CONFIG and print the stage model")
    config = sub.add_parser("config", help="workspace settings")
    config.add_argument("--export", action="store_true", required=True,
                        help="print the live settings (after /opp config edits) as an OPPBOT_CONFIG TOML file")
    config.add_argument("--team", help="the workspace's team id (default: every workspace oppbot knows)")
    digest = sub.add_parser("digest", help="manager digests")
    mode = digest.add_mutually_exclusive_group(required=True)
    mode.add_argument("--now", action="store_true", help="send every team's digest now (or one team's with --team)")
    mode.add_argument("--preview", action="store_true", help="print the digest in the terminal; nothing is sent")
    digest.add_argument("--team", help="the sales team's name")
    export = sub.add_parser("export", help="export opportunities")
    export.add_argument("--csv", action="store_true", required=True, help="write every opportunity with its stage history as CSV to standard output")
    reminders = sub.add_parser("reminders", help="operators' view of reminders, nudges and other pending deliveries")
    reminders.add_argument("--due", action="store_true", help="list what is pending (overdue first) and what failed")
    reminders.add_argument("--limit", type=int, default=200, help="at most this many rows per workspace (default 200)")
    return parser


def _fail(message: str, status: int = 2) -> int:
    print(f"oppbot: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    load_dotenv()
    try:
        if args.command == "db":
            return db_upgrade()
        if args.command == "reminders":
            return list_reminders(args.limit)
        if args.command == "config":
            return export_config(args.team)
        if args.command == "digest":
            return digest_command(now=args.now, team=args.team)
        if args.command == "export":
            return export_csv()
        settings = load_settings()
        configure_logging(settings.log_level)
        if args.command == "check-config":
            config = load_config(settings.config_path)
            for number, stage in enumerate(config.stages, start=1):
                print(f"{number}. {stage.name}: {stage.probability}%, stalled after {count(stage.max_days, 'day', 'days')}"
                      + (f", alerts {stage.alert_channel}" if stage.alert_channel else ""))
            return 0
        return run(settings)
    except (SettingsError, ConfigError) as exc:
        return _fail(f"configuration error: {exc}")
    except UnsupportedDatabase as exc:
        return _fail(f"DATABASE_URL: {exc}")


def db_upgrade() -> int:
    from storage.db import make_engine, upgrade

    url = load_database_url()
    try:
        upgrade(make_engine(url))
    except SQLAlchemyError as exc:
        return _fail(f"DATABASE_URL: cannot upgrade the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    print("database is up to date")
    return 0


def _offline_app():
    """The app for one-off commands: same settings and database as `oppbot run`, no server."""
    from bot.app import create_app

    return create_app(load_settings())


def digest_command(*, now: bool, team: str | None, out=None) -> int:

    out = out or sys.stdout
    oppbot = _offline_app()
    services = oppbot.services
    team_ids = services.workspaces.team_ids()
    teams = [(team_id, t) for team_id in team_ids for t in services.teams.all(team_id) if team is None or t.name.lower() == team.lower()]
    if not teams:
        return _fail(f"no sales team named {team!r}" if team else "no sales teams: define [[teams]] in OPPBOT_CONFIG")
    if not now:
        for team_id, sales_team in teams:
            print(services.digests.preview(team_id, sales_team), file=out)
        return 0
    planned = services.digests.plan_now(team)
    stats = services.dispatcher.run_once()
    print(f"{planned} digest(s) planned; {stats.sent} delivery(ies) sent, {stats.retried} to retry, {stats.failed} failed", file=out)
    return 0 if not stats.failed else 1


def export_csv(out=None) -> int:
    out = out or sys.stdout
    oppbot = _offline_app()
    for index, team_id in enumerate(oppbot.services.workspaces.team_ids()):
        exported = oppbot.services.reports.export_all(team_id)
        try:
            text = exported.file.read().decode("utf-8")
        finally:
            exported.close()
        if index:
            text = text.split("\n", 1)[1]  # one header for the whole file
        out.write(text)
    return 0


def export_config(team: str | None, out=None) -> int:
    from bot.workspace.config import to_toml

    out = out or sys.stdout
    settings = load_settings()
    from bot.app import create_app

    oppbot = create_app(settings)
    try:
        team_ids = [team] if team else oppbot.services.workspaces.team_ids()
    except SQLAlchemyError as exc:
        return _fail(f"DATABASE_URL: cannot read the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    if not team_ids:
        return _fail("no workspace yet: oppbot has not run against this database")
    for index, team_id in enumerate(team_ids):
        try:
            config = oppbot.services.workspaces.current_config(team_id)
        except OppError as exc:
            return _fail(str(exc))
        if len(team_ids) > 1:
            print(f"{'' if index == 0 else chr(10)}# ----- workspace {team_id} -----", file=out)
        print(to_toml(config), end="", file=out)
    return 0


def list_reminders(limit: int, out=None) -> int:
    from bot.domain.clock import SystemClock
    from bot.followups.service import NUDGE, REMINDER
    from storage.db import UnitOfWork, make_engine
    from storage.models import FAILED, PENDING

    out = out or sys.stdout
    engine = make_engine(load_database_url())
    now = SystemClock().now()
    try:
        with UnitOfWork(engine) as uow:
            team_ids = uow.workspaces.all_team_ids()
            rows = [(team_id, *row) for team_id in team_ids for row in uow.outbox.open_deliveries(team_id, limit=limit, follow_up_kinds=(REMINDER, NUDGE))]
    except SQLAlchemyError as exc:
        return _fail(f"DATABASE_URL: cannot read the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    if not rows:
        print("Nothing pending.", file=out)
        return 0
    print(f"{'workspace':<12} {'due (UTC)':<17} {'state':<8} {'kind':<9} {'deal':<9} {'for':<12} {'tries':>5}  detail", file=out)
    for team_id, delivery, follow_up, opp in rows:
        state = FAILED if delivery.status == FAILED else "overdue" if delivery.due_at <= now else PENDING
        who = follow_up.assignee_id if follow_up else (opp.owner_id if opp else "")
        detail = delivery.last_error or (follow_up.text if follow_up else "")
        if delivery.scheduled_for != delivery.due_at and delivery.status != FAILED:
            detail = f"retrying; first due {delivery.scheduled_for:%Y-%m-%d %H:%M}; {detail}"
        print(f"{team_id:<12} {delivery.due_at:%Y-%m-%d %H:%M} {state:<8} {delivery.kind:<9} {f'OPP-{opp.number}' if opp else '':<9} "
              f"{who:<12} {delivery.attempts:>5}  {detail[:80]}", file=out)
    return 0


@contextmanager
def _slack_sdk_quiet() -> Iterator[None]:
    """For the start-up checks: slack_sdk logs every failed try and retry, where `run` says it in one line."""
    sdk = logging.getLogger("slack_sdk")
    level = sdk.level
    sdk.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        sdk.setLevel(level)


def run(settings: Settings) -> int:
    from bot.app import create_app
    from bot.outbox.scheduler import build_scheduler
    from bot.server import SHUTDOWN_GRACE, StopSignals, run_http, run_socket_mode
    from storage.db import pending_migrations, refresh_statistics, upgrade

    oppbot = create_app(settings)
    try:
        if settings.is_sqlite:
            upgrade(oppbot.engine)  # also gives the planner statistics when they are missing or stale
        elif pending_migrations(oppbot.engine):
            return _fail("DATABASE_URL: the database schema is not up to date; run `oppbot db upgrade` first")
    except SQLAlchemyError as exc:
        return _fail(f"DATABASE_URL: cannot use the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    try:
        with _slack_sdk_quiet():
            identity = oppbot.client.auth_test()
    except SlackApiError as exc:
        return _fail(f"SLACK_BOT_TOKEN: Slack refused the token ({slack_error(exc)})")
    except OSError as exc:
        return _fail(f"SLACK_API_URL: cannot reach {settings.slack_api_url} ({exc})")
    if settings.slack_app_token is not None:
        # Asked here, a refused app token is one line naming it; asked by the Socket Mode client, a traceback.
        try:
            with _slack_sdk_quiet():
                oppbot.client.apps_connections_open(app_token=settings.slack_app_token)
        except SlackApiError as exc:
            return _fail(f"SLACK_APP_TOKEN: Slack refused the app-level token ({slack_error(exc)})")
        except OSError as exc:
            return _fail(f"SLACK_API_URL: cannot reach {settings.slack_api_url} ({exc})")
    oppbot.sign_in(identity)
    try:
        unresolved = oppbot.services.alert_senders.resolve_channels(identity["team_id"])
    except SlackApiError as exc:
        log.warning("could not list channels to resolve #names in alert rules (%s); alerts will retry", slack_error(exc))
        unresolved = []
    if unresolved:
        names = ", ".join(unresolved)
        if settings.config_path is not None:
            return _fail(f"OPPBOT_CONFIG: {settings.config_path}: no channel named {names} in this workspace (or the bot can't see it); "
                         "use the channel id, or invite the bot to a private channel")
        log.warning("the default stage model alerts %s, which this workspace doesn't have; set alert channels with /opp config", names)
    log.info("signed in to %s as %s", identity.get("team"), identity.get("user"))
    # What start-up built (modules, the app, mappers) lives as long as the process. Frozen, it is left
    # out of the collector's full passes, which otherwise walk ~190k objects and stop every thread,
    # request threads included, for 100-200 ms (bench/bench_ack.py: p99 ack 358 -> 33 ms).
    gc.collect()
    gc.freeze()
    daily = (lambda: refresh_statistics(oppbot.engine, full=True)) if settings.is_sqlite else None
    scheduler = build_scheduler(oppbot.dispatcher, settings.tick_seconds, daily=daily)
    serve = run_socket_mode if settings.socket_mode else run_http
    with StopSignals() as stop:
        scheduler.start()
        oppbot.services.wake.target = scheduler.wake
        try:
            # On SIGTERM the lanes stop claiming at once, so their sends in flight and the server's requests
            # share one grace; then what the lanes still hold is handed back to the next process.
            server_stopped = serve(oppbot, stop, on_stop=scheduler.stop_claiming)
        finally:
            lanes_ended = scheduler.shutdown(grace=SHUTDOWN_GRACE)
    if stop.received is None:
        log.error("the server stopped by itself")  # uvicorn has logged why (the port is taken, say)
        status = 1
    else:
        log.info("stopped on %s", signal.Signals(stop.received).name)
        status = 0
    if not (server_stopped and lanes_ended):
        # What is still in flight (its rows handed back) waits on Slack in worker threads that the
        # interpreter would join at exit, for as long as the Slack client's timeout: leave without them.
        oppbot.engine.dispose()
        logging.shutdown()
        sys.stdout.flush()
        os._exit(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
