"""Parsing `/opp` text into a command. Pure: no Slack, no database."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.deals.forms import LOST_REASON_MAX, NAME_MAX

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_REF = re.compile(r"^(?:OPP-?|#)?(\d{1,9})$", re.IGNORECASE)

REPORT_DIMENSIONS = ("industry", "region", "size", "tag", "month", "rep")
EXPORT_FILTERS = ("status", "stage", "owner", "industry", "region", "since")

HELP_LINES = (
    ("/opp new [name]", "open the New opportunity form"),
    ("/opp list [stage] [@user]", "open opportunities by stage, oldest in stage first"),
    ("/opp show OPP-12", "one opportunity's card and stage history"),
    ("/opp stage OPP-12 <stage>", "move to a stage: by name, its start, or its number"),
    ("/opp followup OPP-12 <when> <what>", "plan a follow-up: “in 3 days call back”, “tomorrow 9am send quote”, “friday demo”, “2026-12-03 14:00 review”"),
    ("/opp won OPP-12", "mark as won"),
    ("/opp lost OPP-12 <reason>", "mark as lost, with the reason"),
    ("/opp team [name] · /opp team add|remove @rep [name]", "a sales team; managers and admins change it"),
    ("/opp funnel [@user|team|<team name>]", "funnel chart, conversion and win rate"),
    ("/opp report by industry|region|size|tag|month|rep [period]", "count, amount, weighted amount, win rate, cycle per group; period: this month, last quarter, last 90 days, 2026, 2026-11, 2026-Q3…"),
    ("/opp export [status:open|won|lost] [stage:<name>] [owner:@user] [industry:<x>] [region:<x>] [since:2026-01-01]", "a CSV of opportunities and their stage history, by DM"),
    ("/opp suggest OPP-12 · /opp assign OPP-12 @rep", "managers: the best reps for a deal, with reasons; assign it"),
    ("/opp away [@rep] until 2026-12-24 · /opp away [@rep] off", "away reps get no new deals suggested or assigned"),
    ("/opp config", "pipeline settings: stage alerts, probabilities, stalled days (admins)"),
    ("/opp help", "this help"),
)


@dataclass(frozen=True)
class Command:
    name: str
    ref: int | None = None
    stage: str | None = None
    user_id: str | None = None
    text: str | None = None
    action: str | None = None
    team: str | None = None
    filters: tuple[tuple[str, str], ...] = ()


class CommandError(ValueError):
    """Malformed `/opp` text; the message says what was wrong and help follows it."""


def parse_ref(token: str) -> int:
    match = _REF.match(token.strip())
    if not match or int(match.group(1)) == 0:
        raise CommandError(f"“{token}” is not an opportunity id; write it like OPP-12.")
    return int(match.group(1))


def parse_mention(token: str) -> str | None:
    match = _MENTION.match(token)
    return match.group(1) if match else None


def parse(text: str) -> Command:
    words = text.split()
    if not words:
        return Command("help")
    sub, args = words[0].lower(), words[1:]
    rest = text.strip()[len(words[0]):].strip()

    if sub == "help":
        return Command("help")
    if sub == "config":
        if args:
            raise CommandError("Usage: /opp config (it takes no arguments).")
        return Command("config")
    if sub == "new":
        if len(rest) > NAME_MAX:
            raise CommandError(f"The name is too long: {len(rest)} characters, at most {NAME_MAX}.")
        return Command("new", text=rest or None)
    if sub == "list":
        user_id = None
        stage_words = []
        for word in args:
            if word.startswith("<@") or word.startswith("@"):
                if user_id is not None:
                    raise CommandError("Name at most one person: /opp list [stage] [@user].")
                user_id = parse_mention(word)
                if user_id is None:
                    raise CommandError(f"“{word}” is not a person Slack recognises; pick them from the @ menu.")
            else:
                stage_words.append(word)
        return Command("list", stage=" ".join(stage_words) or None, user_id=user_id)
    if sub in ("show", "won"):
        if len(args) != 1:
            raise CommandError(f"Usage: /opp {sub} OPP-12.")
        return Command(sub, ref=parse_ref(args[0]))
    if sub == "stage":
        if len(args) < 2:
            raise CommandError("Usage: /opp stage OPP-12 <stage>.")
        return Command("stage", ref=parse_ref(args[0]), stage=" ".join(args[1:]))
    if sub == "team":
        if args and args[0].lower() in ("add", "remove"):
            if len(args) < 2 or (user_id := parse_mention(args[1])) is None:
                raise CommandError(f"Usage: /opp team {args[0].lower()} @rep [team name] — pick the rep from the @ menu.")
            return Command("team", action=args[0].lower(), user_id=user_id, team=" ".join(args[2:]) or None)
        return Command("team", action="show", team=rest or None)
    if sub == "funnel":
        if len(args) > 1 and not args[0].startswith("<@"):
            return Command("funnel", team=rest)
        if args and args[0].startswith(("<@", "@")):
            user_id = parse_mention(args[0])
            if user_id is None or len(args) > 1:
                raise CommandError("Usage: /opp funnel [@user|team|<team name>] — pick the person from the @ menu.")
            return Command("funnel", user_id=user_id)
        return Command("funnel", team=rest or None)
    if sub == "report":
        if len(args) < 2 or args[0].lower() != "by":
            raise CommandError("Usage: /opp report by industry|region|size|tag|month|rep [period].")
        dimension = args[1].lower()
        if dimension not in REPORT_DIMENSIONS:
            raise CommandError(f"I can't report by “{args[1][:30]}”; choose industry, region, size, tag, month or rep.")
        return Command("report", action=dimension, text=" ".join(args[2:]) or None)
    if sub == "export":
        filters = []
        for word in args:
            key, sep, value = word.partition(":")
            key = key.lower()
            if not sep or not value or key not in EXPORT_FILTERS:
                raise CommandError(f"“{word[:40]}” is not a filter; use status:, stage:, owner:, industry:, region: or since:.")
            if key == "owner":
                mentioned = parse_mention(value)
                if mentioned is None:
                    raise CommandError("owner: needs a person picked from the @ menu, e.g. owner:@maria.")
                value = mentioned
            filters.append((key, value))
        return Command("export", filters=tuple(filters))
    if sub == "suggest":
        if len(args) != 1:
            raise CommandError("Usage: /opp suggest OPP-12.")
        return Command("suggest", ref=parse_ref(args[0]))
    if sub == "assign":
        if len(args) != 2 or (user_id := parse_mention(args[1])) is None:
            raise CommandError("Usage: /opp assign OPP-12 @rep — pick the rep from the @ menu.")
        return Command("assign", ref=parse_ref(args[0]), user_id=user_id)
    if sub == "away":
        user_id = parse_mention(args[0]) if args else None
        words = args[1:] if user_id else args
        if words == ["off"] or words == ["back"]:
            return Command("away", user_id=user_id, text=None)
        if len(words) == 2 and words[0].lower() == "until":
            return Command("away", user_id=user_id, text=words[1])
        raise CommandError("Usage: /opp away [@rep] until 2026-12-24, or /opp away [@rep] off.")
    if sub in ("followup", "follow-up", "fu"):
        if len(args) < 2:
            raise CommandError("Usage: /opp followup OPP-12 <when> <what>, e.g. /opp followup OPP-12 in 3 days call the buyer back.")
        return Command("followup", ref=parse_ref(args[0]), text=rest[len(args[0]):].strip())
    if sub == "lost":
        if not args:
            raise CommandError("Usage: /opp lost OPP-12 <reason>.")
        ref = parse_ref(args[0])
        reason = rest[len(args[0]):].strip()
        if not reason:
            raise CommandError("Say why it was lost: /opp lost OPP-12 <reason>.")
        if len(reason) > LOST_REASON_MAX:
            raise CommandError(f"The reason is too long: {len(reason)} characters, at most {LOST_REASON_MAX}.")
        return Command("lost", ref=ref, text=reason)
    raise CommandError(f"I don't know the subcommand “{words[0][:40]}”.")
