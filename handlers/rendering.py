"""Messages built from core results, shared by several surfaces."""

from __future__ import annotations

from bot.deals.service import ChangeResult, Pipeline
from bot.deals.views import details_blocks
from bot.domain.values import OpportunityView
from bot.followups.service import FollowUps
from bot.followups.views import add_follow_up_offer
from bot.slack.blocks import MESSAGE_BLOCKS


def card_message(pipeline: Pipeline, opp: OpportunityView, *, with_history: bool = False) -> dict:
    stages = pipeline.stage_model(opp.team_id)
    text, blocks = pipeline.card(opp, stages)
    if with_history:
        actions = blocks[-1]
        entries = pipeline.history(opp)
        history = details_blocks(blocks, opp, stages, entries, pipeline.clock.now(), limit=MESSAGE_BLOCKS - 1,
                                 omitted=pipeline.history_omitted(opp, len(entries)))
        blocks = history + [actions]
    return {"text": text, "blocks": blocks}


def change_reply(follow_ups: FollowUps, result: ChangeResult) -> dict:
    """The ephemeral answer to a stage change; it offers a follow-up when the open deal has none pending."""
    reply = {"response_type": "ephemeral", "replace_original": False, "text": result.message}
    opp = result.opportunity
    if result.changed and opp.is_open and not follow_ups.has_pending(opp.team_id, opp.id):
        reply["blocks"] = add_follow_up_offer(opp, result.message)
    return reply
