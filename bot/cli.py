"""The `oppbot` command: run, db upgrade."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from dotenv import load_dotenv
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, load_config
from bot.settings import Settings, SettingsError, configure_logging, load_database_url, load_settings
from bot.slack_gateway import slack_error

log = logging.getLogger("oppbot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oppbot", description="A Slack-native sales opportunity pipeline.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the schema migrations")
    sub.add_parser("check-config", help="validate OPPBOT_CONFIG and print the stage model")
    return parser


def _fail(message: str) -> int:
    print(f"oppbot: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    load_dotenv()
    try:
        if args.command == "db":
            return db_upgrade()
        settings = load_settings()
        configure_logging(settings.log_level)
        if args.command == "check-config":
            config = load_config(settings.config_path)
            for number, stage in enumerate(config.stages, start=1):
                print(f"{number}. {stage.name}: {stage.probability}%, stalled after {stage.max_days} days"
                      + (f", alerts {stage.alert_channel}" if stage.alert_channel else ""))
            return 0
        return run(settings)
    except (SettingsError, ConfigError) as exc:
        return _fail(f"configuration error: {exc}")


def db_upgrade() -> int:
    from storage.db import make_engine, upgrade

    url = load_database_url()
    try:
        upgrade(make_engine(url))
    except SQLAlchemyError as exc:
        return _fail(f"DATABASE_URL: cannot upgrade the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    print("database is up to date")
    return 0


def run(settings: Settings) -> int:
    from bot.app import create_app
    from bot.scheduler import build_scheduler
    from bot.server import run_http, run_socket_mode
    from storage.db import pending_migrations, upgrade

    oppbot = create_app(settings)
    try:
        if settings.is_sqlite:
            upgrade(oppbot.engine)
        elif pending_migrations(oppbot.engine):
            return _fail("DATABASE_URL: the database schema is not up to date; run `oppbot db upgrade` first")
    except SQLAlchemyError as exc:
        return _fail(f"DATABASE_URL: cannot use the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    try:
        identity = oppbot.client.auth_test()
    except SlackApiError as exc:
        return _fail(f"SLACK_BOT_TOKEN: Slack refused the token ({slack_error(exc)})")
    except OSError as exc:
        return _fail(f"SLACK_API_URL: cannot reach {settings.slack_api_url} ({exc})")
    oppbot.pipeline.ensure_workspace(identity["team_id"])
    oppbot.pipeline.sync_known_workspaces()
    log.info("signed in to %s as %s", identity.get("team"), identity.get("user"))
    scheduler = build_scheduler(oppbot.dispatcher, settings.tick_seconds)
    scheduler.start()
    try:
        if settings.socket_mode:
            run_socket_mode(oppbot)
        else:
            run_http(oppbot)
    finally:
        scheduler.shutdown(wait=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
