"""Messages built from core results, shared by several surfaces."""

from __future__ import annotations

from bot.blocks import MESSAGE_BLOCKS, card_text, details_blocks, opportunity_card
from bot.core import Pipeline
from bot.domain import OpportunityView


def card_message(pipeline: Pipeline, opp: OpportunityView, *, with_history: bool = False) -> dict:
    stages = pipeline.stage_model(opp.team_id)
    now = pipeline.clock.now()
    blocks = opportunity_card(opp, stages, now)
    if with_history:
        actions = blocks[-1]
        entries = pipeline.history(opp)
        blocks = details_blocks(opp, stages, entries, now, limit=MESSAGE_BLOCKS - 1) + [actions]
    return {"text": card_text(opp, stages), "blocks": blocks}
