"""Stage rules: resolving what a user typed, and who may move a deal where."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.domain.normalize import for_parsing
from bot.domain.values import (
    LOST,
    N_,
    OPEN,
    WON,
    Actor,
    Forbidden,
    Invalid,
    OpportunityView,
    Pipeline,
    Pipelines,
    StageInfo,
)


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
