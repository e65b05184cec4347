"""An opportunity's cards in Slack, through the outbox: the new card, its refreshes, the note that says where it went.

- `card_post`: written with the new deal. Posts the card where it was asked for (else DMs it to
  the owner), remembers where it went, and records the `card_note` in the same transaction.
- `card_note`: tells the submitter where the card went (an ephemeral beside it, or a DM), with
  the "what is the next step?" offer.
- `card_refresh`: one per posted copy, written in the transaction of any change the card shows.
  Refreshes coalesce: a copy with a refresh still waiting gets no second one, and a refresh
  renders the deal as it is when it is sent, so the newest content wins.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from slack_sdk.errors import SlackApiError

from bot.deals.views import card_message, next_step_offer
from bot.domain.languages import ENGLISH
from bot.domain.values import OpportunityView
from bot.i18n import translator
from bot.outbox.dispatcher import Dispatcher, Sent, Skip
from bot.slack.gateway import CANNOT_POST_HERE, SlackGateway, slack_error
from storage.db import UnitOfWork, UnitOfWorkFactory
from storage.models import Delivery

log = logging.getLogger(__name__)

CARD_POST, CARD_NOTE, CARD_REFRESH = "card_post", "card_note", "card_refresh"
CARD_KINDS = (CARD_POST, CARD_NOTE, CARD_REFRESH)
# A posted copy that Slack says is gone: it is forgotten rather than retried.
GONE = {"message_not_found", "channel_not_found", "is_archived"}


def schedule_card_post(uow: UnitOfWork, *, team_id: str, opportunity_id: int, channel_id: str | None, submitter_id: str, now: datetime) -> None:
    uow.outbox.schedule(team_id=team_id, kind=CARD_POST, subject_id=opportunity_id, dedupe_key=f"card:{opportunity_id}", due_at=now, now=now,
                        payload={"channel": channel_id, "submitter": submitter_id})


def schedule_card_refreshes(uow: UnitOfWork, team_id: str, opportunity_id: int, now: datetime) -> int:
    """A refresh for every posted copy of the deal's card that has none waiting; returns how many were written."""
    cards = uow.deals.posted_card_ids(team_id, opportunity_id)
    waiting = uow.outbox.unclaimed_pending_subjects(team_id, CARD_REFRESH, cards, now)
    rows = [dict(team_id=team_id, kind=CARD_REFRESH, subject_id=card_id, dedupe_key=f"refresh:{card_id}:{uuid.uuid4().hex}", due_at=now,
                 payload={"opportunity": opportunity_id}) for card_id in cards if card_id not in waiting]
    uow.outbox.schedule_many(rows, now=now)
    return len(rows)


class Cards:
    def __init__(self, uow: UnitOfWorkFactory, slack: SlackGateway) -> None:
        self.uow = uow
        self.slack = slack

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(CARD_POST, self.send_post)
        dispatcher.register(CARD_NOTE, self.send_note)
        dispatcher.register(CARD_REFRESH, self.send_refresh)

    def _render(self, team_id: str, opportunity_id: int, now: datetime, *, channel: str | None) -> tuple[OpportunityView, str, list[dict]] | None:
        """The deal as it is now, and its card, one read: in the workspace's language in a channel, in the owner's in a DM
        (`channel` None: the card is going to the owner by DM; a D… id is a DM)."""
        with self.uow() as uow:
            opp = uow.deals.view(team_id, opportunity_id)
            if opp is None:
                return None
            if channel is None or channel.startswith("D"):
                language = uow.workspaces.reader_language(team_id, opp.owner_id)
            else:
                workspace = uow.workspaces.view(team_id)
                language = workspace.language if workspace is not None else ENGLISH
            return opp, *card_message(uow.deals.card(opp), uow.workspaces.pipelines(team_id), now, t=translator(language))

    def send_post(self, delivery: Delivery, now: datetime) -> Sent | Skip:
        requested = delivery.payload.get("channel")
        rendered = self._render(delivery.team_id, delivery.subject_id, now, channel=requested or None)
        if rendered is None:
            return Skip("opportunity is gone")
        opp, text, blocks = rendered
        refused = None
        if requested:
            try:
                channel, ts = self.slack.post(requested, text, blocks)
                return self._posted(delivery, channel, ts, in_requested_channel=True, refused=None, now=now)
            except SlackApiError as exc:
                refused = slack_error(exc)
                if refused not in CANNOT_POST_HERE:
                    raise  # a 429 or an outage: the outbox tries the channel again
                log.info("can't post the card of deal %s in %s (%s); sending it by DM", delivery.subject_id, requested, refused)
                dm = self._render(delivery.team_id, delivery.subject_id, now, channel=None)  # in the owner's language
                if dm is None:
                    return Skip("opportunity is gone")
                opp, text, blocks = dm
        channel, ts = self.slack.dm(opp.owner_id, text, blocks)
        return self._posted(delivery, channel, ts, in_requested_channel=False, refused=refused, now=now)

    @staticmethod
    def _posted(delivery: Delivery, channel: str, ts: str, *, in_requested_channel: bool, refused: str | None, now: datetime) -> Sent:
        def remember(uow: UnitOfWork) -> None:
            uow.deals.remember_card(delivery.team_id, delivery.subject_id, channel, ts, now)
            uow.outbox.schedule(team_id=delivery.team_id, kind=CARD_NOTE, subject_id=delivery.subject_id,
                                dedupe_key=f"card-note:{delivery.subject_id}", due_at=now, now=now,
                                payload={**delivery.payload, "posted_in": channel, "in_requested_channel": in_requested_channel,
                                         "refused": refused})

        return Sent(channel, ts, then=remember)

    def send_note(self, delivery: Delivery, now: datetime) -> Sent | Skip:
        payload = delivery.payload
        submitter, requested = payload["submitter"], payload.get("channel")
        with self.uow() as uow:
            opp = uow.deals.view(delivery.team_id, delivery.subject_id)
            t = translator(uow.workspaces.reader_language(delivery.team_id, submitter))
        if opp is None:
            return Skip("opportunity is gone")
        owner = f"<@{opp.owner_id}>"
        if payload["in_requested_channel"]:
            note = t("{ref} is created in <#{channel}>.", ref=opp.ref, channel=payload["posted_in"])
        elif requested and opp.owner_id == submitter:
            note = t("{ref} is created, but I can't post in <#{channel}> (invite me with `/invite @oppbot`), so I sent its card to you by DM.",
                     ref=opp.ref, channel=requested)
        elif requested:
            note = t("{ref} is created, but I can't post in <#{channel}> (invite me with `/invite @oppbot`), so I sent its card to {owner} by DM.",
                     ref=opp.ref, channel=requested, owner=owner)
        else:
            note = t("{ref} is created, and I sent its card to {owner} by DM.", ref=opp.ref, owner=owner)
        blocks = next_step_offer(opp, note, t=t)
        if payload["in_requested_channel"]:
            self.slack.ephemeral(payload["posted_in"], submitter, note, blocks)
            return Sent(payload["posted_in"])
        if requested or opp.owner_id != submitter:
            return Sent(*self.slack.dm(submitter, note, blocks))
        return Skip("the submitter owns the deal and has its card by DM")

    def send_refresh(self, delivery: Delivery, now: datetime) -> Sent | Skip:
        with self.uow() as uow:
            card = uow.deals.posted_card(delivery.team_id, delivery.subject_id)
        if card is None:
            return Skip("the card was forgotten")
        rendered = self._render(delivery.team_id, card.opportunity_id, now, channel=card.channel_id)
        if rendered is None:
            return Skip("opportunity is gone")
        try:
            self.slack.update(card.channel_id, card.ts, *rendered[1:])
        except SlackApiError as exc:
            if slack_error(exc) not in GONE:
                raise
            with self.uow(write=True) as uow:
                uow.deals.forget_posted_card(delivery.team_id, delivery.subject_id)
                uow.commit()
            return Skip(f"the card is gone from Slack ({slack_error(exc)})")
        return Sent(card.channel_id, card.ts)
