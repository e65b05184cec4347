"""The `oppbot` command.

    oppbot run                         serve Slack (Socket Mode with SLACK_APP_TOKEN, else HTTP on $PORT)
    oppbot db upgrade                  apply the schema migrations to DATABASE_URL
    oppbot db backup PATH [--force]    SQLite: a consistent copy of the live database; PostgreSQL: the pg_dump command
    oppbot check-config [FILE]         validate the workspace configuration (FILE or OPPBOT_CONFIG) and print it
    oppbot config export [--workspace T0…]   the live settings as a configuration file
    oppbot digest --now|--preview [--team NAME]   send or show the sales teams' digests
    oppbot export csv                  every opportunity with its stage history, as CSV
    oppbot reminders [--limit N]       pending and failed reminders, nudges and other deliveries, overdue first

Settings come from the environment (ENVIRONMENT below). A `.env` file in the current working
directory is read first, if there is one; variables already set in the environment win over it.
The `.env` of the source checkout is not read unless oppbot runs from there.

Every command but `run` and `db upgrade` needs a database that has the schema: on one without it
they say "the database has no oppbot schema yet: run `oppbot db upgrade`", exit 1, and create
nothing (no empty SQLite file). `check-config` needs no database and no Slack credentials.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

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
from bot.workspace.config import ConfigError, WorkspaceConfig, load_config
from storage.db import UnsupportedDatabase

log = logging.getLogger("oppbot")

ENVIRONMENT = """\
Every command but run, db upgrade and check-config needs a database with the schema (`oppbot db upgrade`).

environment (also read from a .env file in the current working directory, not from the source
checkout's unless oppbot runs there; what the environment sets wins over the .env):
  SLACK_BOT_TOKEN       bot token xoxb-… (run, digest, export, config export)
  SLACK_SIGNING_SECRET  signing secret (same commands)
  SLACK_APP_TOKEN       app-level token xapp-…: set = Socket Mode, empty = HTTP mode
  SLACK_API_URL         Web API base URL (default https://slack.com/api/)
  DATABASE_URL          sqlite:///path.db or postgresql://user:pass@host/db (default sqlite:///oppbot.db)
  OPPBOT_CONFIG         workspace configuration file (TOML; see oppbot.example.toml)
  OPPBOT_TICK_SECONDS   how often due work is looked for (default 30)
  PORT                  HTTP port in HTTP mode (default 3000)
  LOG_LEVEL             DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)
"""

NO_SCHEMA = "the database has no oppbot schema yet: run `oppbot db upgrade`"
SCHEMA_BEHIND = "the database schema is not up to date: run `oppbot db upgrade`"


def env_file() -> Path | None:
    """The `.env` oppbot reads: the one in the current working directory, if any (tests point this away)."""
    path = Path.cwd() / ".env"
    return path if path.is_file() else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oppbot", description="A Slack-native sales opportunity pipeline.",
                                     epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT")
    db = sub.add_parser("db", help="database maintenance: upgrade, backup")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_sub.add_parser("upgrade", help="apply the schema migrations (they only go forward; back up first)")
    backup = db_sub.add_parser("backup", help="SQLite: copy the live database to PATH; PostgreSQL: print the pg_dump command")
    backup.add_argument("path", metavar="PATH", type=Path, help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    check = sub.add_parser("check-config", help="validate the workspace configuration and print it (no Slack credentials, no database)")
    check.add_argument("file", metavar="FILE", nargs="?", type=Path, help="the TOML file (default: $OPPBOT_CONFIG, else the built-in defaults)")
    config = sub.add_parser("config", help="workspace settings: `config export`")
    config.add_argument("action", nargs="?", choices=["export"],
                        help="export: print the live settings (after /opp config edits) as an OPPBOT_CONFIG TOML file")
    config.add_argument("--export", dest="old_export", action="store_true", help=argparse.SUPPRESS)  # the old spelling
    config.add_argument("--workspace", metavar="T0…", help="the workspace's Slack team id (default: every workspace oppbot knows)")
    digest = sub.add_parser("digest", help="manager digests")
    mode = digest.add_mutually_exclusive_group(required=True)
    mode.add_argument("--now", action="store_true", help="send every team's digest now (or one team's with --team)")
    mode.add_argument("--preview", action="store_true", help="print the digest in the terminal; nothing is sent")
    digest.add_argument("--team", metavar="NAME", help="the sales team's name ([[teams]] name)")
    export = sub.add_parser("export", help="export opportunities: `export csv`")
    export.add_argument("format", nargs="?", choices=["csv"], help="csv: every opportunity with its stage history, to standard output")
    export.add_argument("--csv", dest="old_csv", action="store_true", help=argparse.SUPPRESS)  # the old spelling
    reminders = sub.add_parser("reminders", help="operators' view of reminders, nudges and other pending deliveries")
    reminders.add_argument("--due", action="store_true",
                           help="what is pending or failed, overdue first: the listing `reminders` gives (the flag is kept for scripts)")
    reminders.add_argument("--limit", type=int, default=200, help="at most this many rows per workspace (default 200)")
    return parser


def _fail(message: str, status: int = 2) -> int:
    print(f"oppbot: {message}", file=sys.stderr)
    return status


def _schema_problem(database_url: str) -> str | None:
    """Why the commands that read the database can't run on it, or None. Creates nothing."""
    from storage.db import BEHIND, MISSING, schema_state

    state = schema_state(database_url)
    return NO_SCHEMA if state == MISSING else SCHEMA_BEHIND if state == BEHIND else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "config" and not (args.action or args.old_export):
        parser.error("config: say what to do: `oppbot config export`")
    if args.command == "export" and not (args.format or args.old_csv):
        parser.error("export: say the format: `oppbot export csv`")
    dotenv = env_file()
    if dotenv is not None:
        load_dotenv(dotenv)
    try:
        if args.command == "check-config":
            return check_config(args.file)
        if args.command == "db" and args.db_command == "upgrade":
            return db_upgrade()
        if args.command == "run":
            settings = load_settings()
            configure_logging(settings.log_level, settings.log_format)
            return run(settings)
        try:
            problem = _schema_problem(load_database_url())
        except SQLAlchemyError as exc:
            return _fail(f"DATABASE_URL: cannot read the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}", 1)
        if problem:
            return _fail(problem, 1)
        if args.command == "db":
            return db_backup(args.path, force=args.force)
        if args.command == "reminders":
            return list_reminders(args.limit)
        if args.command == "config":
            return export_config(args.workspace)
        if args.command == "digest":
            return digest_command(now=args.now, team=args.team)
        return export_csv()
    except (SettingsError, ConfigError) as exc:
        return _fail(f"configuration error: {exc}")
    except UnsupportedDatabase as exc:
        return _fail(f"DATABASE_URL: {exc}")


def db_backup(path: Path, *, force: bool = False) -> int:
    from sqlalchemy.engine import make_url

    from storage.db import backup_sqlite

    url = load_database_url()
    if not url.startswith("sqlite"):
        dump_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=True)
        print("oppbot: on PostgreSQL, back up with pg_dump (the password is masked: give it with PGPASSWORD or ~/.pgpass):",
              file=sys.stderr)
        print(f"pg_dump --format=custom --file={_quote(str(path))} {_quote(dump_url)}")
        return 1
    try:
        backup_sqlite(url, path, force=force)
    except FileExistsError:
        return _fail(f"{path} exists; pass --force to overwrite it", 1)
    except OSError as exc:
        return _fail(f"cannot write {path}: {exc}", 1)
    print(f"backed up {url.removeprefix('sqlite:///')} to {path}")
    return 0


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# --------------------------------------------------------------------------- check-config

_DAY_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def schedule_in_words(expression: str) -> str:
    """A digest's cron schedule as a sentence: "08:30 Monday to Friday"."""
    from bot.domain.cron import _weekdays

    minute, hour, day, month, weekday = expression.split()
    if minute.isdigit() and hour.isdigit():
        when = f"{int(hour):02d}:{int(minute):02d}"
    else:
        when = f"minute {minute} of hour {hour}"
    days = _weekdays(weekday)
    if len(days) == 7:
        on = "every day"
    elif days == [1, 2, 3, 4, 5]:
        on = "Monday to Friday"
    elif days == [0, 6]:
        on = "Saturday and Sunday"
    else:
        names = [_DAY_WORDS[d] for d in (days[1:] + days[:1] if days[0] == 0 else days)]  # the week starts on Monday
        on = "on " + (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0])
    if day != "*":
        on += f", on day {day} of the month"
    if month != "*":
        on += f", in month {month}"
    return f"{when} {on}"


def describe_config(config: WorkspaceConfig, now: datetime | None = None) -> list[str]:
    """The whole workspace model, as `oppbot check-config` prints it."""
    from bot.domain.cron import trigger

    now = now or datetime.now(timezone.utc)
    lines = [f"Configuration: {config.source}", "",
             "Workspace",
             f"  currency: {config.currency}",
             f"  time zone: {config.timezone}",
             f"  language: {config.language}",
             f"  admins: {', '.join(config.admins) or 'none (Slack workspace admins and owners only)'}",
             f"  industries: {', '.join(config.industries)}",
             f"  regions: {', '.join(config.regions)}",
             f"  company sizes: {', '.join(config.company_sizes)}",
             ]
    for position, pipeline in enumerate(config.pipelines):
        used_by = [team.name + ("" if team.pipeline else " (by default)") for team in config.teams
                   if (team.pipeline or config.pipelines[0].name) == pipeline.name]
        lines += ["", f"Pipeline {pipeline.name}" + (f": {pipeline.description}" if pipeline.description else ""),
                  f"  teams using it: {', '.join(used_by) or 'none'}"]
        if position == 0 and len(config.pipelines) > 1:
            lines.append("  the first pipeline: teams that name none, and people in no team, use it")
        lines.append("  stages (Won and Lost are the outcomes):")
        for number, stage in enumerate(pipeline.stages, start=1):
            alerts = [f"alerts {stage.alert_channel}"] if stage.alert_channel else []
            alerts += [f"mentions {stage.alert_usergroup}"] if stage.alert_usergroup else []
            lines.append(f"    {number}. {stage.name}: {stage.probability}%, stalled after {count(stage.max_days, 'day', 'days')}"
                         + "".join(f", {a}" for a in alerts))
        lines += [f"  won announced in: {pipeline.won_channel or 'nowhere'}",
                  f"  lost announced in: {pipeline.lost_channel or 'nowhere'}"]
    lines += ["", "Teams"]
    if not config.teams:
        lines.append("  none (no digests, no automatic assignment)")
    for team in config.teams:
        tz = team.timezone or config.timezone
        next_run = trigger(team.digest, tz).get_next_fire_time(None, now)
        lines += [f"  {team.name}",
                  f"    manager: {team.manager}",
                  f"    members: {', '.join(team.members) or 'none'}",
                  f"    pipeline: {team.pipeline or config.pipelines[0].name}",
                  f"    digest: {schedule_in_words(team.digest)}, {tz} time ({team.digest!r})"
                  + (f", also posted in {team.channel}" if team.channel else ""),
                  f"    next digest: {next_run:%a %Y-%m-%d %H:%M %Z}" if next_run else "    next digest: never",
                  f"    automatic assignment: {'on' if team.auto_assign else 'off'}"
                  + (f", from {team.routing_channel}" if team.routing_channel else "")]
    a = config.assignment
    lines += ["", "Assignment suggestions",
              f"  history window: {count(a.window_days, 'day', 'days')}",
              f"  weights: win rate {a.win_rate:g}, speed {a.cycle:g}, load {a.load:g}",
              "", f"Exchange rates (one unit in {config.currency})"]
    if not config.exchange_rates:
        lines.append("  none (other currencies are shown as their own subtotals)")
    lines += [f"  {r.currency} = {r.rate.normalize():f}, set {r.set_on.isoformat()}" for r in config.exchange_rates]
    return lines


def check_config(file: Path | None, out=None) -> int:
    """Validate the workspace configuration and print it: reads the file only (no Slack credentials, no database)."""
    out = out or sys.stdout
    if file is None:
        value = os.environ.get("OPPBOT_CONFIG", "").strip()
        file = Path(value) if value else None
    try:
        if file is not None and not file.is_file():
            raise ConfigError(f"{file} is not a readable file")
        config = load_config(file)
        lines = describe_config(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=out)
        return 1
    if file is None:
        lines[0] = "Configuration: the built-in defaults (OPPBOT_CONFIG is not set)"
    print("\n".join(lines), file=out)
    print("\nOK", file=out)
    return 0


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
    # a #name the workspace doesn't have (yet) is logged and told to its admins; its alerts wait for it
    oppbot.services.alert_senders.check_channels(identity["team_id"], oppbot.services.clock.now(), from_file=settings.config_path is not None)
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
