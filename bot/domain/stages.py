"""Stage rules: resolving what a user typed, and who may move a deal where."""

from __future__ import annotations

import re

from bot.domain.values import (
    LOST,
    OPEN,
    WON,
    Actor,
    Forbidden,
    Invalid,
    OpportunityView,
    StageInfo,
    StageModel,
)


def valid_stages_text(model: StageModel) -> str:
    return ", ".join(f"{i}. {s.name}" for i, s in enumerate(model.stages, start=1))


def resolve_stage(query: str, model: StageModel) -> StageInfo:
    """A stage by number (1-based), exact name, or unique case-insensitive prefix."""
    wanted = " ".join(query.split()).strip().lower()
    if not wanted:
        raise Invalid(f"Which stage? Valid stages: {valid_stages_text(model)}.")
    if re.fullmatch(r"[0-9]{1,6}", wanted):
        index = int(wanted)
        if 1 <= index <= len(model.stages):
            return model.stages[index - 1]
        raise Invalid(f"There is no stage {index}. Valid stages: {valid_stages_text(model)}.")
    for stage in model.stages:
        if stage.name.lower() == wanted:
            return stage
    matches = [s for s in model.stages if s.name.lower().startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise Invalid(f"“{query.strip()}” matches several stages ({', '.join(s.name for s in matches)}); type more of the name.")
    raise Invalid(f"Unknown stage “{query.strip()}”. Valid stages: {valid_stages_text(model)}.")


ADMINS_ONLY = "Only oppbot admins can change the pipeline settings (ask one to add you to [workspace] admins)."


def can_view(actor: Actor, opp: OpportunityView) -> bool:
    return actor.is_admin or actor.user_id in (opp.owner_id, opp.created_by) or opp.owner_id in actor.managed_user_ids


def can_change(actor: Actor, opp: OpportunityView) -> bool:
    return actor.is_admin or actor.user_id == opp.owner_id or opp.owner_id in actor.managed_user_ids


def check_change(actor: Actor, opp: OpportunityView) -> None:
    if not can_change(actor, opp):
        raise Forbidden(
            f"You can't change {opp.ref}: it belongs to <@{opp.owner_id}>. "
            "Only its owner, the owner's team manager or an admin can."
        )
    if opp.status != OPEN and not (actor.is_admin or opp.owner_id in actor.managed_user_ids):
        raise Forbidden(f"{opp.ref} is already {opp.status}. Only a manager or an admin can reopen it.")


def describe_move(model: StageModel, from_stage_id: int | None, from_status: str | None, to_stage_id: int, to_status: str) -> str:
    if from_status is None:
        return f"created in {model.name_of(to_stage_id)}"
    if to_status == WON:
        return "marked Won"
    if to_status == LOST:
        return "marked Lost"
    if from_status in (WON, LOST):
        return f"reopened in {model.name_of(to_stage_id)}"
    return f"{model.name_of(from_stage_id)} → {model.name_of(to_stage_id)}"
