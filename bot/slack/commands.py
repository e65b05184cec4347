"""The `/opp` subcommands: one registry entry each (its grammar, help line and permission). Pure: no Slack, no database.

An entry is declared with `@subcommand(...)` on the function that reads its words into a
`Command`; its listener is bound in handlers/ with `handlers.commands.handles(name)`, and
`/opp help` and the manifest's usage hint are generated from this registry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.deals.forms import LOST_REASON_MAX, NAME_MAX
from bot.domain.normalize import for_parsing
from bot.domain.stages import ADMINS_ONLY
from bot.domain.values import N_, Actor, Forbidden, OppError
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


class CommandError(OppError, ValueError):
    """Malformed `/opp` text; the message (a catalogue entry: `text(t)`) says what was wrong. An unknown
    subcommand carries the closest one (`suggestion`, e.g. "list" or "列表"), for a did-you-mean."""

    def __init__(self, message: str, /, *, suggestion: str | None = None, **values: object) -> None:
        super().__init__(message, **values)
        self.suggestion = suggestion


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
    match = _REF.match(for_parsing(token).strip())  # ＯＰＰ－１２ as a Chinese input method types it
    if not match or int(match.group(1)) == 0:
        raise CommandError(N_("“{token}” is not an opportunity id; write it like OPP-12."), token=token)
    return int(match.group(1))


def parse_mention(token: str) -> str | None:
    match = _MENTION.match(token)
    return match.group(1) if match else None


def permit(name: str, actor: Actor) -> None:
    """Refuse the actor a subcommand its permission leaves them out of (finer rules are the services')."""
    if REGISTRY[name].permission == ADMINS and not actor.is_admin:
        raise Forbidden(ADMINS_ONLY)


def parse(text: str) -> Command:
    """The words are given to the grammar as typed: each parser they call (parse_ref, resolve_stage, parse_when)
    reads its own words after NFKC, so free text (a name, a reason, a task) is kept as typed (bot/domain/normalize.py)."""
    words = text.split()
    if not words:
        return Command("help")
    entry = _BY_WORD.get(for_parsing(words[0]).lower())
    if entry is None:  # Chinese has no spaces: `/opp 赢单OPP-1` is `/opp 赢单 OPP-1`
        alias = next((w for w in _BY_WORD if not w.isascii() and text.strip().startswith(w) and len(words[0]) > len(w)), None)
        if alias is not None:
            return parse(f"{alias} {text.strip()[len(alias):]}")
        raise CommandError(N_("I don't know the subcommand “{word}”."), word=words[0][:40], suggestion=closest(words[0]))
    return entry.grammar(words[1:], text.strip()[len(words[0]):].strip())


def closest(word: str) -> str | None:
    """The subcommand or alias nearest to a mistyped word (difflib), written as it would be typed; None when none is near."""
    typed = for_parsing(word).lower()
    words = [w for w in _BY_WORD if w.isascii() == typed.isascii()] or list(_BY_WORD)
    swapped = [w for w in words if sorted(w) == sorted(typed)]  # `lsit`: the letters of list, two of them swapped
    found = swapped or difflib.get_close_matches(typed, words, n=1, cutoff=0.5)
    return found[0] if found else None


def help_lines() -> list[tuple[str, str]]:
    return [(entry.usage, entry.help) for entry in REGISTRY.values()]


def usage_hint() -> str:
    """The manifest's usage hint: every subcommand's name, in registry order (`/opp help` has the grammar)."""
    return " | ".join(REGISTRY)


def _rest_after(rest: str, first: str) -> str:
    return rest[len(first):].strip()


# ----- the subcommands, in the order /opp help lists them ------------------------------------------

@subcommand("new", N_("/opp new [name]"), N_("open the New opportunity form"), aliases=("新建",))
def _new(args: list[str], rest: str) -> Command:
    if len(rest) > NAME_MAX:
        raise CommandError(N_("The name is too long: {length} characters, at most {max}."), length=len(rest), max=NAME_MAX)
    return Command("new", text=rest or None)


@subcommand("list", N_("/opp list [stage] [@user]"),
            N_("open opportunities by stage, oldest in stage first; another pipeline's stage as pipeline:stage, e.g. renewals:negotiation"),
            aliases=("列表",))
def _list(args: list[str], rest: str) -> Command:
    user_id = None
    stage_words = []
    for word in args:
        if word.startswith(("<@", "@")):
            if user_id is not None:
                raise CommandError(N_("Name at most one person: /opp list [stage] [@user]."))
            user_id = parse_mention(word)
            if user_id is None:
                raise CommandError(N_("“{word}” is not a person Slack recognises; pick them from the @ menu."), word=word)
        else:
            stage_words.append(word)
    return Command("list", stage=" ".join(stage_words) or None, user_id=user_id)


ONE_DEAL_USAGE = {"show": N_("Usage: /opp show OPP-12."), "won": N_("Usage: /opp won OPP-12."), "suggest": N_("Usage: /opp suggest OPP-12.")}


def _one_deal(name: str) -> Grammar:
    """`/opp <name> OPP-12`: a subcommand about one deal and nothing else."""

    def grammar(args: list[str], rest: str) -> Command:
        if len(args) != 1:
            raise CommandError(ONE_DEAL_USAGE[name]) if name in ONE_DEAL_USAGE else CommandError(N_("Usage: /opp {name} OPP-12."), name=name)
        return Command(name, ref=parse_ref(args[0]))

    return grammar


subcommand("show", N_("/opp show OPP-12"), N_("one opportunity's card and stage history"), aliases=("查看",))(_one_deal("show"))


@subcommand("stage", N_("/opp stage OPP-12 <stage>"), N_("move to a stage: by name, its start, or its number"), aliases=("阶段",))
def _stage(args: list[str], rest: str) -> Command:
    if len(args) < 2:
        raise CommandError(N_("Usage: /opp stage OPP-12 <stage>."))
    return Command("stage", ref=parse_ref(args[0]), stage=" ".join(args[1:]))


@subcommand("move", N_("/opp move OPP-12 <pipeline> [stage]"),
            N_("managers and admins: move a deal to another pipeline, into the stage named, else the one of the same name or place"),
            aliases=("转移",))
def _move(args: list[str], rest: str) -> Command:
    if len(args) < 2:
        raise CommandError(N_("Usage: /opp move OPP-12 <pipeline> [stage]."))
    return Command("move", ref=parse_ref(args[0]), text=_rest_after(rest, args[0]))


@subcommand("followup", N_("/opp followup OPP-12 <when> <what>"),
            N_("plan a follow-up: “in 3 days call back”, “tomorrow 9am send quote”, “friday demo”, “2026-12-03 14:00 review”"),
            aliases=("follow-up", "fu", "跟进"))
def _followup(args: list[str], rest: str) -> Command:
    if len(args) < 2:
        raise CommandError(N_("Usage: /opp followup OPP-12 <when> <what>, e.g. /opp followup OPP-12 in 3 days call the buyer back."))
    return Command("followup", ref=parse_ref(args[0]), text=_rest_after(rest, args[0]))


subcommand("won", N_("/opp won OPP-12"), N_("mark as won"), aliases=("赢单",))(_one_deal("won"))


@subcommand("lost", N_("/opp lost OPP-12 <reason>"), N_("mark as lost, with the reason"), aliases=("输单",))
def _lost(args: list[str], rest: str) -> Command:
    if not args:
        raise CommandError(N_("Usage: /opp lost OPP-12 <reason>."))
    ref = parse_ref(args[0])
    reason = _rest_after(rest, args[0])
    if not reason:
        raise CommandError(N_("Say why it was lost: /opp lost OPP-12 <reason>."))
    if len(reason) > LOST_REASON_MAX:
        raise CommandError(N_("The reason is too long: {length} characters, at most {max}."), length=len(reason), max=LOST_REASON_MAX)
    return Command("lost", ref=ref, text=reason)


@subcommand("team", N_("/opp team [name] · /opp team add|remove @rep [name]"), N_("a sales team; managers and admins change it"))
def _team(args: list[str], rest: str) -> Command:
    if args and args[0].lower() in ("add", "remove"):
        if len(args) < 2 or (user_id := parse_mention(args[1])) is None:
            raise CommandError(N_("Usage: /opp team {action} @rep [team name] — pick the rep from the @ menu."), action=args[0].lower())
        return Command("team", action=args[0].lower(), user_id=user_id, team=" ".join(args[2:]) or None)
    return Command("team", action="show", team=rest or None)


_PIPELINE_KEYS = ("pipeline", "管道")  # `pipeline:renewals`, `管道：续约`


def _pipeline_words(args: list[str]) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """The words other than `pipeline:<name>`, and that filter (("pipeline", name),) when given: "_" stands for a space
    (`pipeline:new_business`); the name is resolved against the workspace's pipelines by the service."""
    kept, found = [], []
    for word in args:
        key, sep, value = re.split("([:：])", word, maxsplit=1) if re.search("[:：]", word) else (word, "", "")
        if sep and for_parsing(key).lower() in _PIPELINE_KEYS:
            if not value.strip():
                raise CommandError(N_("pipeline: needs a pipeline's name, e.g. pipeline:renewals."))
            found.append(("pipeline", value.replace("_", " ")))
        else:
            kept.append(word)
    if len(found) > 1:
        raise CommandError(N_("Name one pipeline: pipeline:<name>."))
    return kept, tuple(found)


@subcommand("funnel", N_("/opp funnel [@user|team|<team name>] [pipeline:<name>]"),
            N_("funnel chart, conversion and win rate (of your team's pipeline unless you name one)"), aliases=("漏斗",))
def _funnel(args: list[str], rest: str) -> Command:
    args, pipeline = _pipeline_words(args)
    if pipeline:
        rest = " ".join(args)
    if len(args) > 1 and not args[0].startswith("<@"):
        return Command("funnel", team=rest, filters=pipeline)
    if args and args[0].startswith(("<@", "@")):
        user_id = parse_mention(args[0])
        if user_id is None or len(args) > 1:
            raise CommandError(N_("Usage: /opp funnel [@user|team|<team name>] [pipeline:<name>] — pick the person from the @ menu."))
        return Command("funnel", user_id=user_id, filters=pipeline)
    return Command("funnel", team=rest or None, filters=pipeline)


_DIMENSION_CHOICES = f"{', '.join(REPORT_BY[:-1])} or {REPORT_BY[-1]}"
# `/opp 报表 按行业`: the dimensions' Chinese names
_ZH_DIMENSIONS = {"行业": "industry", "地区": "region", "区域": "region", "规模": "size", "公司规模": "size", "标签": "tag",
                  "月份": "month", "月": "month", "销售": "rep", "负责人": "rep", "原因": "reason", "输单原因": "reason"}


@subcommand("report", N_("/opp report by industry|region|size|tag|month|rep|reason [period] [pipeline:<name>]"),
            N_("per group, the deals created and the deals won or lost in the period, in your team's pipeline unless you name one; "
               "by reason: why deals were lost. Period: this month, last quarter, last 90 days, 2026, 2026-11, 2026-Q3…"), aliases=("报表",))
def _report(args: list[str], rest: str) -> Command:
    args, pipeline = _pipeline_words(args)
    if args and for_parsing(args[0]).startswith("按"):  # 按行业 / 按 行业: "by industry"
        args = ["by", *([args[0][1:]] if len(args[0]) > 1 else []), *args[1:]]
    if len(args) < 2 or for_parsing(args[0]).lower() != "by":
        raise CommandError(N_("Usage: /opp report by {dimensions} [period]."), dimensions="|".join(REPORT_BY))
    dimension = _ZH_DIMENSIONS.get(for_parsing(args[1]), for_parsing(args[1]).lower())
    if dimension not in REPORT_BY:
        raise CommandError(N_("I can't report by “{word}”; choose {choices}."), word=args[1][:30], choices=_DIMENSION_CHOICES)
    return Command("report", action=dimension, text=" ".join(args[2:]) or None, filters=pipeline)


@subcommand("export", N_("/opp export [pipeline:<name>|all] [status:open|won|lost] [stage:<name>] [owner:@user] [industry:<x>] [region:<x>] "
                          "[since:2026-01-01]"),
            N_("a CSV of opportunities and their stage history, by DM: your team's pipeline unless you name one (all: every pipeline)"),
            aliases=("导出",))
def _export(args: list[str], rest: str) -> Command:
    args, pipeline = _pipeline_words(args)
    filters = list(pipeline)
    for word in args:
        key, sep, value = re.split("([:：])", word, maxsplit=1) if re.search("[:：]", word) else (word, "", "")
        key = for_parsing(key).lower()  # stage：方案 as typed with a Chinese colon; the value is read by its own parser
        value = for_parsing(value) if key in ("status", "since") else value
        if not sep or not value or key not in EXPORT_FILTERS:
            raise CommandError(N_("“{word}” is not a filter; use {filters} or {last}:."), word=word[:40],
                               filters=", ".join(f + ":" for f in EXPORT_FILTERS[:-1]), last=EXPORT_FILTERS[-1])
        if key == "owner":
            mentioned = parse_mention(value)
            if mentioned is None:
                raise CommandError(N_("owner: needs a person picked from the @ menu, e.g. owner:@maria."))
            value = mentioned
        filters.append((key, value))
    return Command("export", filters=tuple(filters))


subcommand("suggest", N_("/opp suggest OPP-12"), N_("managers: the best reps for a deal, with reasons"))(_one_deal("suggest"))


@subcommand("assign", N_("/opp assign OPP-12 @rep"), N_("managers: give a deal to a rep (they are told)"))
def _assign(args: list[str], rest: str) -> Command:
    if len(args) != 2 or (user_id := parse_mention(args[1])) is None:
        raise CommandError(N_("Usage: /opp assign OPP-12 @rep — pick the rep from the @ menu."))
    return Command("assign", ref=parse_ref(args[0]), user_id=user_id)


@subcommand("away", N_("/opp away [@rep] until 2026-12-24 · /opp away [@rep] off"), N_("away reps get no new deals suggested or assigned"))
def _away(args: list[str], rest: str) -> Command:
    user_id = parse_mention(args[0]) if args else None
    words = args[1:] if user_id else args
    if words == ["off"] or words == ["back"]:
        return Command("away", user_id=user_id, text=None)
    if len(words) == 2 and words[0].lower() == "until":
        return Command("away", user_id=user_id, text=words[1])
    raise CommandError(N_("Usage: /opp away [@rep] until 2026-12-24, or /opp away [@rep] off."))


@subcommand("config", N_("/opp config [pipeline]"),
            N_("a pipeline's settings: its stages' alerts, probabilities and stalled days; add or retire a pipeline (admins)"), permission=ADMINS)
def _config(args: list[str], rest: str) -> Command:
    return Command("config", text=rest.strip() or None)  # the pipeline to edit (`/opp config Renewals`); none: the admin's own


@subcommand("help", N_("/opp help"), N_("this help"), aliases=("帮助",), in_ack=True)
def _help(args: list[str], rest: str) -> Command:
    return Command("help")


HELP_LINES = tuple(help_lines())
