"""Validating the New opportunity and Lost modals. Pure: values in, a draft or errors per field out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from bot.domain.values import TAG_CHOICES, OpportunityDraft, StageModel, parse_id

NAME_MAX = 150


CUSTOMER_MAX = 150


SOURCE_MAX = 100


NEXT_STEP_MAX = 500


NOTES_MAX = 3000


def notes_from_message(text: str, link: str | None) -> str | None:
    """The notes a deal made from a Slack message starts with: the message (clipped to fit) and where it came from."""
    suffix = f"\n\nFrom {link}" if link else ""
    text = text.strip()
    room = NOTES_MAX - len(suffix)
    notes = (text if len(text) <= room else text[: room - 1] + "…") + suffix
    return notes.strip() or None


LOST_REASON_MAX = 500


AMOUNT_MAX = Decimal(10) ** 12


CURRENCIES = ("USD", "EUR", "GBP", "CNY", "JPY", "HKD", "SGD", "AUD", "CAD", "CHF", "INR", "KRW", "BRL", "MXN", "SEK", "NOK", "DKK", "PLN", "ZAR", "AED")


# a Slack user id, as long as the columns that hold one allow at most
_USER = re.compile(r"^[UW][A-Z0-9]{2,31}$")


@dataclass(frozen=True)
class FormChoices:
    """What the workspace allows in the select fields."""

    stages: StageModel
    currencies: tuple[str, ...]
    industries: tuple[str, ...]
    regions: tuple[str, ...]
    company_sizes: tuple[str, ...]


def currencies_for(default: str) -> tuple[str, ...]:
    return (default,) + tuple(c for c in CURRENCIES if c != default)


def parse_amount(raw: str) -> Decimal:
    """`12500`, `12,500.50`, `12 500` -> Decimal. Raises ValueError with a message for the user."""
    text = raw.strip().replace(",", "").replace(" ", "").replace("_", "")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        raise ValueError("Amount must be a number, like 12500 or 12,500.00.")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("Amount must be a number, like 12500 or 12,500.00.") from None
    if value < 0:
        raise ValueError("Amount can't be negative.")
    if value > AMOUNT_MAX:
        raise ValueError("Amount is too large: at most 1,000,000,000,000.")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and value != value.quantize(Decimal("0.01")):
        raise ValueError("Amount can have at most 2 decimals.")
    return abs(value).quantize(Decimal("0.01")) if value == 0 else value.quantize(Decimal("0.01"))


def parse_close_date(raw: str) -> date:
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError("Expected close date must be a date like 2026-12-31.") from None
    if not 2000 <= value.year <= 2100:
        raise ValueError("Expected close date must be between the years 2000 and 2100.")
    return value


def _text(values: Mapping[str, object], key: str) -> str:
    value = values.get(key)
    return value.strip() if isinstance(value, str) else ""


def validate_new_opportunity(values: Mapping[str, object], choices: FormChoices, default_owner: str) -> tuple[OpportunityDraft | None, dict[str, str]]:
    """Check every field of the "New opportunity" modal; errors are keyed by the modal's block ids."""
    errors: dict[str, str] = {}

    name = _text(values, "name")
    if not name:
        errors["name"] = "Give the opportunity a name."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Name is too long: {len(name)} characters, at most {NAME_MAX}."

    customer = _text(values, "customer")
    if not customer:
        errors["customer"] = "Name the customer or account."
    elif len(customer) > CUSTOMER_MAX:
        errors["customer"] = f"Customer is too long: {len(customer)} characters, at most {CUSTOMER_MAX}."

    amount = None
    if raw_amount := _text(values, "amount"):
        try:
            amount = parse_amount(raw_amount)
        except ValueError as exc:
            errors["amount"] = str(exc)

    currency = _text(values, "currency") or choices.currencies[0]
    if currency not in choices.currencies:
        errors["currency"] = f"Unknown currency {currency[:10]!r}; pick one from the list."

    close_date = None
    if raw_date := _text(values, "close_date"):
        try:
            close_date = parse_close_date(raw_date)
        except ValueError as exc:
            errors["close_date"] = str(exc)

    stage_id = choices.stages.first.id
    if raw_stage := _text(values, "stage"):
        picked_stage = parse_id(raw_stage)
        if picked_stage is None or choices.stages.index_of(picked_stage) is None:
            errors["stage"] = "Pick one of the workspace's stages."
        else:
            stage_id = picked_stage

    # No owner picked: the submitter holds the deal while the team's manager assigns it.
    needs_owner = not _text(values, "owner") and "owner" in values
    owner = _text(values, "owner") or default_owner
    if not _USER.match(owner):
        errors["owner"] = "Pick the owner from the list of people."

    picked: dict[str, str | None] = {}
    for key, allowed in (("industry", choices.industries), ("region", choices.regions), ("company_size", choices.company_sizes)):
        value = _text(values, key) or None
        if value is not None and value not in allowed:
            errors[key] = "Pick one of the values in the list."
        picked[key] = value
    for key, allowed_tags in TAG_CHOICES.items():
        value = _text(values, key) or None
        if value is not None and value not in allowed_tags:
            errors[key] = "Pick one of the values in the list."
        picked[key] = value

    source = _text(values, "source") or None
    if source and len(source) > SOURCE_MAX:
        errors["source"] = f"Source is too long: at most {SOURCE_MAX} characters."
    next_step = _text(values, "next_step") or None
    if next_step and len(next_step) > NEXT_STEP_MAX:
        errors["next_step"] = f"Next step is too long: {len(next_step)} characters, at most {NEXT_STEP_MAX}."
    notes = _text(values, "notes") or None
    if notes and len(notes) > NOTES_MAX:
        errors["notes"] = f"Notes are too long: {len(notes)} characters, at most {NOTES_MAX} (Slack's limit)."

    if errors:
        return None, errors
    return OpportunityDraft(
        name=name, customer=customer, owner_id=owner, stage_id=stage_id, currency=currency, amount=amount,
        close_date=close_date, source=source, next_step=next_step, notes=notes, needs_owner=needs_owner, **picked,
    ), {}


def validate_lost_reason(raw: object) -> tuple[str | None, str | None]:
    reason = raw.strip() if isinstance(raw, str) else ""
    if not reason:
        return None, "Say why the deal was lost: it feeds the win/loss analysis."
    if len(reason) > LOST_REASON_MAX:
        return None, f"Reason is too long: {len(reason)} characters, at most {LOST_REASON_MAX}."
    return reason, None
