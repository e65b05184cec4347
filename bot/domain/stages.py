"""Stage rules: resolving what a user typed, and who may move a deal where."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from bot.domain.normalize import for_parsing
from bot.domain.values import (
    LOST,
    N_,
    OPEN,
    STAGE_NAME_MAX,
    WON,
    Actor,
    Forbidden,
    Invalid,
    OpportunityView,
    Pipeline,
    Pipelines,
    StageInfo,
)

# What a stage's name may not be, wherever one is named (the configuration file, Add a pipeline): each surface words it.
TOO_LONG, AN_OUTCOME, ONLY_DIGITS, GIVEN_TWICE = "too_long", "an_outcome", "only_digits", "given_twice"


def stage_name_problem(name: str, seen: set[str]) -> str | None:
    """Why `name` can't be a stage of a pipeline whose other stages' names are `seen` (lower case), or None."""
    if len(name) > STAGE_NAME_MAX:
        return TOO_LONG
    if name.lower() in ("won", "lost"):
        return AN_OUTCOME  # Won and Lost are outcomes, not stages
    if re.fullmatch(r"[0-9]+", name):
        return ONLY_DIGITS  # digits select stages by number
    if name.lower() in seen:
        return GIVEN_TWICE
    return None


def valid_stages_text(model: Pipeline) -> str:
    return ", ".join(f"{i}. {s.name}" for i, s in enumerate(model.stages, start=1))


def resolve_stage(query: str, model: Pipeline) -> StageInfo:
    """A stage by number (1-based), exact name, unique prefix, or unique part of its name (`设计` → 方案设计,
    `eval` → Technical evaluation): case-insensitive, after NFKC; exact beats prefix beats a part."""
    typed = " ".join(query.split()).strip()
    wanted = for_parsing(typed).casefold()
    if not wanted:
        raise Invalid(N_("Which stage? Valid stages: {stages}."), stages=valid_stages_text(model))
    # a number as a keyboard or an input method types it (`3`, `３`), not a superscript or a circled digit
    if re.fullmatch(r"[0-9０-９]{1,6}", typed):
        index = int(wanted)
        if 1 <= index <= len(model.stages):
            return model.stages[index - 1]
        raise Invalid(N_("There is no stage {index}. Valid stages: {stages}."), index=index, stages=valid_stages_text(model))
    names = [(stage, " ".join(for_parsing(stage.name).casefold().split())) for stage in model.stages]
    for stage, name in names:
        if name == wanted:
            return stage
    matches = [stage for stage, name in names if name.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise Invalid(N_("“{query}” matches several stages ({stages}); type more of the name."), query=query.strip(),
                      stages=", ".join(s.name for s in matches))
    matches = [stage for stage, name in names if wanted in name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise Invalid(N_("“{query}” matches {stages} and {last}; say which."), query=typed, stages=", ".join(s.name for s in matches[:-1]),
                      last=matches[-1].name)
    raise Invalid(N_("Unknown stage “{query}”. Valid stages: {stages}."), query=query.strip(), stages=valid_stages_text(model))


T = TypeVar("T")


def _folded(text: str) -> str:
    return " ".join(for_parsing(" ".join(text.split())).casefold().split())


def name_matches(query: str, named: Sequence[tuple[T, str]]) -> list[T]:
    """What a typed name picks among (item, name) pairs, as resolve_stage reads names: the exact names (after NFKC,
    case-insensitive), else the names it starts, else the names it is part of; [] when none."""
    wanted = _folded(query)
    if not wanted:
        return []
    folded = [(item, _folded(name)) for item, name in named]
    for tier in (lambda name: name == wanted, lambda name: name.startswith(wanted), lambda name: wanted in name):
        found = [item for item, name in folded if tier(name)]
        if found:
            return found
    return []


def pipelines_text(pipelines: Sequence[Pipeline]) -> str:
    return ", ".join(p.name for p in pipelines)


def resolve_pipeline(query: str, pipelines: Sequence[Pipeline]) -> Pipeline:
    """An active pipeline by exact name, unique prefix or unique part of its name (`renew` → Renewals), as stages are."""
    typed = " ".join(query.split())
    if not _folded(typed):
        raise Invalid(N_("Which pipeline? Pipelines: {pipelines}."), pipelines=pipelines_text(pipelines))
    found = name_matches(typed, [(p, p.name) for p in pipelines])
    if len(found) == 1:
        return found[0]
    if found:
        raise Invalid(N_("“{query}” matches several pipelines ({pipelines}); type more of the name."), query=typed,
                      pipelines=pipelines_text(found))
    raise Invalid(N_("Unknown pipeline “{query}”. Pipelines: {pipelines}."), query=typed, pipelines=pipelines_text(pipelines))


# `Renewals › Negotiation`, `renewals:negotiation` (or a Chinese colon): a stage named with its pipeline
_PIPELINE_SEPARATOR = re.compile(r"\s*(?:›|:|：)\s*")


def split_pipeline(text: str) -> tuple[str, str] | None:
    """(pipeline, stage) when the text names a stage with its pipeline (`renewals:negotiation`), else None."""
    parts = _PIPELINE_SEPARATOR.split(text.strip(), maxsplit=1)
    return (parts[0], parts[1]) if len(parts) == 2 and parts[0].strip() and parts[1].strip() else None


def staged_name(pipeline: Pipeline, stage: StageInfo) -> str:
    return f"{pipeline.name} › {stage.name}"


def resolve_listed_stage(query: str, pipelines: Pipelines, home: Pipeline) -> StageInfo:
    """The stage `/opp list <stage>` means: in the reader's home pipeline first, else in the other active pipelines
    (an exact name beats a prefix beats a part); `pipeline:stage` names both. A name several pipelines have is asked about."""
    if (named := split_pipeline(query)) is not None:
        # `Step 1: Demo` may be a stage's own name: read as pipeline:stage only when it names a pipeline or no stage
        names_a_pipeline = bool(name_matches(named[0], [(p, p.name) for p in pipelines.active]))
        if names_a_pipeline or not name_matches(query, [(s, s.name) for p in pipelines.active for s in p.stages]):
            return resolve_stage(named[1], resolve_pipeline(named[0], pipelines.active))
    home = home if home.active else pipelines.default
    others = [p for p in pipelines.active if p.id != home.id]
    if not others or re.fullmatch(r"\s*[0-9０-９]{1,6}\s*", query) or name_matches(query, [(s, s.name) for s in home.stages]):
        return resolve_stage(query, home)  # a number is a place in the home pipeline
    found = name_matches(query, [((p, s), s.name) for p in others for s in p.stages])
    if len(found) == 1:
        return found[0][1]
    if found:
        example = f"{found[0][0].name.split()[0].lower()}:{found[0][1].name.lower()}"
        raise Invalid(N_("“{query}” is a stage of several pipelines: {candidates}. Say which, e.g. `/opp list {example}`."),
                      query=" ".join(query.split()), candidates=", ".join(staged_name(p, s) for p, s in found), example=example)
    raise Invalid(N_("Unknown stage “{query}”. Valid stages: {stages}."), query=query.strip(),
                  stages=", ".join(staged_name(p, s) for p in [home, *others] for s in p.stages))


def map_stage(stage_id: int, source: Pipeline, target: Pipeline) -> StageInfo:
    """Where a deal lands when it moves to another pipeline without a stage named: the stage of the same name
    (case-insensitive), else the stage at the same place in the order, clipped to the target's last."""
    stage = source.by_id(stage_id)
    if stage is not None:
        same = [s for s in target.stages if _folded(s.name) == _folded(stage.name)]
        if same:
            return same[0]
    index = source.index_of(stage_id)
    if index is None:  # a retired stage: its place among the active ones
        index = sum(1 for s in source.stages if stage is not None and s.position < stage.position)
    return target.stages[min(index, len(target.stages) - 1)]


def split_move(text: str, pipelines: Sequence[Pipeline]) -> tuple[Pipeline, str | None]:
    """`/opp move OPP-12 <pipeline> [stage]`: the pipeline is the longest run of leading words that names one
    (`new business proposal` → New business, `proposal`); `renewals:quote` names both."""
    if (named := split_pipeline(text)) is not None:
        return resolve_pipeline(named[0], pipelines), named[1].strip()
    words = text.split()
    first_error: Invalid | None = None
    for count in range(len(words), 0, -1):
        try:
            pipeline = resolve_pipeline(" ".join(words[:count]), pipelines)
        except Invalid as exc:
            if count < len(words) and name_matches(" ".join(words[:count]), [(p, p.name) for p in pipelines]):
                first_error = first_error or exc  # several pipelines fit these words: maybe fewer words name one
            continue
        return pipeline, " ".join(words[count:]) or None
    if first_error is not None:
        raise first_error
    return resolve_pipeline(text, pipelines), None


def can_change_pipeline(actor: Actor, opp: OpportunityView) -> bool:
    """Moving a deal to another pipeline changes whose figures and alerts it is: the owner's manager's or an admin's call."""
    return actor.is_admin or opp.owner_id in actor.managed_user_ids


ADMINS_ONLY = N_("Only oppbot admins can change the pipeline settings (ask one to add you to [workspace] admins).")


def can_view(actor: Actor, opp: OpportunityView) -> bool:
    return actor.is_admin or actor.user_id in (opp.owner_id, opp.created_by) or opp.owner_id in actor.managed_user_ids


def can_change(actor: Actor, opp: OpportunityView) -> bool:
    return actor.is_admin or actor.user_id == opp.owner_id or opp.owner_id in actor.managed_user_ids


def check_change(actor: Actor, opp: OpportunityView) -> None:
    if not can_change(actor, opp):
        raise Forbidden(N_("You can't change {ref}: it belongs to {owner}; only they, their manager or an admin can."),
                        ref=opp.ref, owner=f"<@{opp.owner_id}>")
    if opp.status != OPEN and not (actor.is_admin or opp.owner_id in actor.managed_user_ids):
        won = N_("You can't reopen {ref}: it is already won; only a manager or an admin can.")
        lost = N_("You can't reopen {ref}: it is already lost; only a manager or an admin can.")
        raise Forbidden(won if opp.status == WON else lost, ref=opp.ref)


def describe_move(model: Pipelines, from_stage_id: int | None, from_status: str | None, to_stage_id: int, to_status: str, *,
                  t: Callable[..., str]) -> str:
    if from_status is None:
        return t("created in {stage}", stage=model.name_of(to_stage_id))
    if to_status == WON:
        return t("marked Won")
    if to_status == LOST:
        return t("marked Lost")
    if from_status in (WON, LOST):
        return t("reopened in {stage}", stage=model.name_of(to_stage_id))
    if from_stage_id is not None and (to := model.of_stage(to_stage_id)) is not model.of_stage(from_stage_id):
        return t("moved from the {before} pipeline ({stage_before}) to {after} ({stage_after})", before=model.of_stage(from_stage_id).name,
                 stage_before=model.name_of(from_stage_id), after=to.name, stage_after=model.name_of(to_stage_id))
    return f"{model.name_of(from_stage_id)} → {model.name_of(to_stage_id)}"
