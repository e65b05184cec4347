"""The `/opp` subcommands: one registry entry each (its grammar, help line and permission). Pure: no Slack, no database.

An entry is declared with `@subcommand(...)` on the function that reads its words into a
`Command`; its listener is bound in handlers/ with `handlers.commands.handles(name)`, and
`/opp help` and the manifest's usage hint are generated from this registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.deals.forms import LOST_REASON_MAX, NAME_MAX
from bot.domain.stages import ADMINS_ONLY
from bot.domain.values import Actor, Forbidden
from bot.reports.export import EXPORT_FILTERS
from storage.analytics import REPORT_BY

# a user id no longer than the columns that hold one: a longer "mention" names nobody
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{1,31})(?:\|[^>]*)?>$")
_REF = re.compile(r"^(?:OPP-?|#)?(\d{1,9})$", re.IGNORECASE)

# Who may run a subcommand at all (finer rules, such as whose deal, are the services').
ANYONE, ADMINS = "anyone", "admins"


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


Grammar = Callable[[list[str], str], Command]  # (the words after the subcommand, the same as text) -> Command


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    help: str
    grammar: Grammar
    aliases: tuple[str, ...] = ()
    permission: str = ANYONE
    # answered in the ack itself (no database, no Slack call): help
    in_ack: bool = False


REGISTRY: dict[str, Subcommand] = {}
_BY_WORD: dict[str, Subcommand] = {}


def subcommand(name: str, usage: str, help: str, *, aliases: tuple[str, ...] = (), permission: str = ANYONE,
               in_ack: bool = False) -> Callable[[Grammar], Grammar]:
    def register(grammar: Grammar) -> Grammar:
        entry = Subcommand(name, usage, help, grammar, aliases, permission, in_ack)
        for word in (name, *aliases):
            if word in _BY_WORD:
                raise ValueError(f"/opp {word} is registered twice")
            _BY_WORD[word] = entry
        REGISTRY[name] = entry
        return grammar

    return register


def parse_ref(token: str) -> int:
    match = _REF.match(token.strip())
    if not match or int(match.group(1)) == 0:
        raise CommandError(f"“{token}” is not an opportunity id; write it like OPP-12.")
    return int(match.group(1))


def parse_mention(token: str) -> str | None:
    match = _MENTION.match(token)
    return match.group(1) if match else None


def permit(name: str, actor: Actor) -> None:
    """Refuse the actor a subcommand its permission leaves them out of (finer rules are the services')."""
    if REGISTRY[name].permission == ADMINS and not actor.is_admin:
        raise Forbidden(ADMINS_ONLY)


def parse(text: str) -> Command:
    words = text.split()
    if not words:
        return Command("help")
    entry = _BY_WORD.get(words[0].lower())
    if entry is None:
        raise CommandError(f"I don't know the subcommand “{words[0][:40]}”.")
    return entry.grammar(words[1:], text.strip()[len(words[0]):].strip())


def help_lines() -> list[tuple[str, str]]:
    return [(entry.usage, entry.help) for entry in REGISTRY.values()]


def usage_hint() -> str:
    """The manifest's usage hint: every subcommand's name, in registry order (`/opp help` has the grammar)."""
    return " | ".join(REGISTRY)


def _rest_after(rest: str, first: str) -> str:
    return rest[len(first):].strip()


# ----- the subcommands, in the order /opp help lists them ------------------------------------------

@subcommand("new", "/opp new [name]", "open the New opportunity form")
def _new(args: list[str], rest: str) -> Command:
    if len(rest) > NAME_MAX:
        raise CommandError(f"The name is too long: {len(rest)} characters, at most {NAME_MAX}.")
    return Command("new", text=rest or None)


@subcommand("list", "/opp list [stage] [@user]", "open opportunities by stage, oldest in stage first")
def _list(args: list[str], rest: str) -> Command:
    user_id = None
    stage_words = []
    for word in args:
        if word.startswith(("<@", "@")):
            if user_id is not None:
                raise CommandError("Name at most one person: /opp list [stage] [@user].")
            user_id = parse_mention(word)
            if user_id is None:
                raise CommandError(f"“{word}” is not a person Slack recognises; pick them from the @ menu.")
        else:
            stage_words.append(word)
    return Command("list", stage=" ".join(stage_words) or None, user_id=user_id)


def _one_deal(name: str) -> Grammar:
    """`/opp <name> OPP-12`: a subcommand about one deal and nothing else."""

    def grammar(args: list[str], rest: str) -> Command:
        if len(args) != 1:
            raise CommandError(f"Usage: /opp {name} OPP-12.")
        return Command(name, ref=parse_ref(args[0]))

    return grammar


subcommand("show", "/opp show OPP-12", "one opportunity's card and stage history")(_one_deal("show"))


@subcommand("stage", "/opp stage OPP-12 <stage>", "move to a stage: by name, its start, or its number")
def _stage(args: list[str], rest: str) -> Command:
    if len(args) < 2:
        raise CommandError("Usage: /opp stage OPP-12 <stage>.")
    return Command("stage", ref=parse_ref(args[0]), stage=" ".join(args[1:]))


@subcommand("followup", "/opp followup OPP-12 <when> <what>",
            "plan a follow-up: “in 3 days call back”, “tomorrow 9am send quote”, “friday demo”, “2026-12-03 14:00 review”",
            aliases=("follow-up", "fu"))
def _followup(args: list[str], rest: str) -> Command:
    if len(args) < 2:
        raise CommandError("Usage: /opp followup OPP-12 <when> <what>, e.g. /opp followup OPP-12 in 3 days call the buyer back.")
    return Command("followup", ref=parse_ref(args[0]), text=_rest_after(rest, args[0]))


subcommand("won", "/opp won OPP-12", "mark as won")(_one_deal("won"))


@subcommand("lost", "/opp lost OPP-12 <reason>", "mark as lost, with the reason")
def _lost(args: list[str], rest: str) -> Command:
    if not args:
        raise CommandError("Usage: /opp lost OPP-12 <reason>.")
    ref = parse_ref(args[0])
    reason = _rest_after(rest, args[0])
    if not reason:
        raise CommandError("Say why it was lost: /opp lost OPP-12 <reason>.")
    if len(reason) > LOST_REASON_MAX:
        raise CommandError(f"The reason is too long: {len(reason)} characters, at most {LOST_REASON_MAX}.")
    return Command("lost", ref=ref, text=reason)


@subcommand("team", "/opp team [name] · /opp team add|remove @rep [name]", "a sales team; managers and admins change it")
def _team(args: list[str], rest: str) -> Command:
    if args and args[0].lower() in ("add", "remove"):
        if len(args) < 2 or (user_id := parse_mention(args[1])) is None:
            raise CommandError(f"Usage: /opp team {args[0].lower()} @rep [team name] — pick the rep from the @ menu.")
        return Command("team", action=args[0].lower(), user_id=user_id, team=" ".join(args[2:]) or None)
    return Command("team", action="show", team=rest or None)


@subcommand("funnel", "/opp funnel [@user|team|<team name>]", "funnel chart, conversion and win rate")
def _funnel(args: list[str], rest: str) -> Command:
    if len(args) > 1 and not args[0].startswith("<@"):
        return Command("funnel", team=rest)
    if args and args[0].startswith(("<@", "@")):
        user_id = parse_mention(args[0])
        if user_id is None or len(args) > 1:
            raise CommandError("Usage: /opp funnel [@user|team|<team name>] — pick the person from the @ menu.")
        return Command("funnel", user_id=user_id)
    return Command("funnel", team=rest or None)


_DIMENSION_CHOICES = f"{', '.join(REPORT_BY[:-1])} or {REPORT_BY[-1]}"


@subcommand("report", f"/opp report by {'|'.join(REPORT_BY)} [period]",
            "per group, the deals created and the deals won or lost in the period; by reason: why deals were lost. "
            "Period: this month, last quarter, last 90 days, 2026, 2026-11, 2026-Q3…")
def _report(args: list[str], rest: str) -> Command:
    if len(args) < 2 or args[0].lower() != "by":
        raise CommandError(f"Usage: /opp report by {'|'.join(REPORT_BY)} [period].")
    dimension = args[1].lower()
    if dimension not in REPORT_BY:
        raise CommandError(f"I can't report by “{args[1][:30]}”; choose {_DIMENSION_CHOICES}.")
    return Command("report", action=dimension, text=" ".join(args[2:]) or None)


@subcommand("export", "/opp export [status:open|won|lost] [stage:<name>] [owner:@user] [industry:<x>] [region:<x>] [since:2026-01-01]",
            "a CSV of opportunities and their stage history, by DM")
def _export(args: list[str], rest: str) -> Command:
    filters = []
    for word in args:
        key, sep, value = word.partition(":")
        key = key.lower()
        if not sep or not value or key not in EXPORT_FILTERS:
            raise CommandError(f"“{word[:40]}” is not a filter; use {', '.join(f + ':' for f in EXPORT_FILTERS[:-1])} or {EXPORT_FILTERS[-1]}:.")
        if key == "owner":
            mentioned = parse_mention(value)
            if mentioned is None:
                raise CommandError("owner: needs a person picked from the @ menu, e.g. owner:@maria.")
            value = mentioned
        filters.append((key, value))
    return Command("export", filters=tuple(filters))


subcommand("suggest", "/opp suggest OPP-12", "managers: the best reps for a deal, with reasons")(_one_deal("suggest"))


@subcommand("assign", "/opp assign OPP-12 @rep", "managers: give a deal to a rep (they are told)")
def _assign(args: list[str], rest: str) -> Command:
    if len(args) != 2 or (user_id := parse_mention(args[1])) is None:
        raise CommandError("Usage: /opp assign OPP-12 @rep — pick the rep from the @ menu.")
    return Command("assign", ref=parse_ref(args[0]), user_id=user_id)


@subcommand("away", "/opp away [@rep] until 2026-12-24 · /opp away [@rep] off", "away reps get no new deals suggested or assigned")
def _away(args: list[str], rest: str) -> Command:
    user_id = parse_mention(args[0]) if args else None
    words = args[1:] if user_id else args
    if words == ["off"] or words == ["back"]:
        return Command("away", user_id=user_id, text=None)
    if len(words) == 2 and words[0].lower() == "until":
        return Command("away", user_id=user_id, text=words[1])
    raise CommandError("Usage: /opp away [@rep] until 2026-12-24, or /opp away [@rep] off.")


@subcommand("config", "/opp config", "pipeline settings: stage alerts, probabilities, stalled days (admins)", permission=ADMINS)
def _config(args: list[str], rest: str) -> Command:
    if args:
        raise CommandError("Usage: /opp config (it takes no arguments).")
    return Command("config")


@subcommand("help", "/opp help", "this help", in_ack=True)
def _help(args: list[str], rest: str) -> Command:
    return Command("help")


HELP_LINES = tuple(help_lines())
